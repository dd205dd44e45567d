//! The `Worker` API (create, start, poll, complete, checkpoint, stats, shutdown) and the state
//! its background tasks share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use tasker_domain::{load_templates, TemplateSet};
use tasker_orchestration::{Engine, HandlerLimits};

use crate::claiming::{claim_loop, InFlight};
use crate::diagnostics::{tell, Health};
use crate::events::{HandlerResult, WorkerEvent};
use crate::leases::{
    abort_steps, cancellation_loop, child_sweep_loop, lease_loop, lifecycle_sweep_loop,
    signal_sweep_loop,
};
use crate::scheduler::schedule_loop;
use crate::stats::{Counters, WorkerStats};
use crate::timeouts::human_ms;
use crate::writer::{write_results, Reported};
use crate::{LogLevel, LogLine, WorkerConfig, WorkerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Stopping,
    Stopped,
}

pub(crate) struct Inner {
    pub(crate) engine: Arc<Engine>,
    pub(crate) config: WorkerConfig,
    pub(crate) callables: Vec<String>,
    /// `config.limits`, shared with every claim.
    pub(crate) limits: Arc<HandlerLimits>,
    phase: Mutex<Phase>,
    pub(crate) inflight: Mutex<HashMap<String, InFlight>>,
    /// One permit per concurrency slot.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) counters: Mutex<Counters>,
    pub(crate) health: Health,
    pub(crate) slot_freed: Notify,
    /// Events go in groups (all the steps of one claim together), so that one poll hands
    /// the runtime a whole claim rather than the part of it sent so far.
    pub(crate) events_tx: Mutex<Option<mpsc::UnboundedSender<Vec<WorkerEvent>>>>,
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<WorkerEvent>>>,
    /// Results go in groups (one `complete()` call together), so that the writer records
    /// them in one transaction rather than the part of them sent so far.
    pub(crate) results_tx: mpsc::UnboundedSender<Vec<Reported>>,
    results_rx: Mutex<Option<mpsc::UnboundedReceiver<Vec<Reported>>>>,
    /// Slots of step executions (step uuid, claim id) whose handler was aborted (timeout,
    /// cancel, lost claim) but has not settled yet: a handler keeps its slot until it settles,
    /// so no more than `concurrency` handlers ever run at once, even when one ignores its
    /// signal. Keyed by execution, not step: a step can be claimed again while an aborted
    /// earlier attempt still runs, and both handlers hold a slot.
    pub(crate) aborted: Mutex<HashMap<(String, String), OwnedSemaphorePermit>>,
    pub(crate) stop_claiming: CancellationToken,
    pub(crate) stop_background: CancellationToken,
    pub(crate) stop_writer: CancellationToken,
    claim_task: Mutex<Option<JoinHandle<()>>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

impl Worker {
    /// Load and validate the templates, check that every handler they name is registered,
    /// and store the templates in the database, then the schedules (each must name a
    /// registered template).
    pub async fn create(engine: Arc<Engine>, config: WorkerConfig) -> Result<Worker, WorkerError> {
        if config.concurrency == 0 {
            return Err(WorkerError::InvalidArgument(
                "concurrency must be at least 1".to_string(),
            ));
        }
        if config.lease_ms < 100 {
            return Err(WorkerError::InvalidArgument(format!(
                "leaseMs must be at least 100, got {}",
                config.lease_ms
            )));
        }
        let templates = load_templates(&config.template_paths)
            .map_err(|e| WorkerError::TemplateInvalid(e.to_string()))?;
        let callables = check_handlers(&templates, &config.handler_names)?;
        check_limits(&config.limits, &callables)?;
        let limits = Arc::new(config.limits.clone());
        engine.register_templates(&templates).await?;
        engine.register_schedules(&config.schedules).await?;
        let slots = Arc::new(Semaphore::new(config.concurrency));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let worker = Worker {
            inner: Arc::new(Inner {
                engine,
                config,
                callables,
                limits,
                phase: Mutex::new(Phase::Created),
                inflight: Mutex::new(HashMap::new()),
                slots,
                counters: Mutex::new(Counters::default()),
                health: Health::default(),
                slot_freed: Notify::new(),
                events_tx: Mutex::new(Some(events_tx)),
                events_rx: tokio::sync::Mutex::new(events_rx),
                results_tx,
                aborted: Mutex::new(HashMap::new()),
                results_rx: Mutex::new(Some(results_rx)),
                stop_claiming: CancellationToken::new(),
                stop_background: CancellationToken::new(),
                stop_writer: CancellationToken::new(),
                claim_task: Mutex::new(None),
                background: Mutex::new(Vec::new()),
                writer: Mutex::new(None),
            }),
        };
        // What loading noticed in the templates (tasker-core keys): one warn line per file
        // and key, delivered with the first poll.
        for notice in templates.notices() {
            let line = LogLine::new(LogLevel::Warn, notice.message.clone())
                .field("file", notice.file.as_str())
                .field("field", notice.field.as_str());
            tell(&worker.inner, line);
        }
        Ok(worker)
    }

    pub fn worker_id(&self) -> &str {
        &self.inner.config.worker_id
    }

    /// Begin claiming. Must be called inside a tokio runtime.
    pub fn start(&self) -> Result<(), WorkerError> {
        let inner = &self.inner;
        {
            let mut phase = lock(&inner.phase);
            match *phase {
                Phase::Created => *phase = Phase::Running,
                Phase::Running => return Ok(()),
                Phase::Stopping | Phase::Stopped => {
                    return Err(WorkerError::Closed(format!(
                        "worker {} has been shut down; create a new one",
                        inner.config.worker_id
                    )))
                }
            }
        }
        let Some(results_rx) = lock(&inner.results_rx).take() else {
            return Ok(());
        };
        *lock(&inner.writer) = Some(tokio::spawn(write_results(inner.clone(), results_rx)));
        *lock(&inner.claim_task) = Some(tokio::spawn(claim_loop(inner.clone())));
        let mut bg = lock(&inner.background);
        bg.push(tokio::spawn(lease_loop(inner.clone())));
        bg.push(tokio::spawn(signal_sweep_loop(inner.clone())));
        bg.push(tokio::spawn(child_sweep_loop(inner.clone())));
        bg.push(tokio::spawn(lifecycle_sweep_loop(inner.clone())));
        bg.push(tokio::spawn(cancellation_loop(inner.clone())));
        if !inner.config.schedules.is_empty() {
            bg.push(tokio::spawn(schedule_loop(inner.clone())));
        }
        Ok(())
    }

    /// Wait for work: at least one event, or `None` once the worker has shut down.
    pub async fn poll(&self) -> Option<Vec<WorkerEvent>> {
        let mut rx = self.inner.events_rx.lock().await;
        let mut events = rx.recv().await?;
        while events.len() < 1024 {
            match rx.try_recv() {
                Ok(more) => events.extend(more),
                Err(_) => break,
            }
        }
        Some(events)
    }

    /// Report results. Never blocks; unknown or stale claims are ignored.
    pub fn complete(&self, results: Vec<HandlerResult>) {
        if results.is_empty() {
            return;
        }
        // The receiver is gone only after shutdown, when results no longer matter.
        let _ = self
            .inner
            .results_tx
            .send(results.into_iter().map(Reported::Runtime).collect());
    }

    /// Persist a checkpoint for a step this worker is running; `false` when the claim is no
    /// longer current (the handler should stop).
    pub async fn checkpoint(
        &self,
        step_uuid: &str,
        claim_id: &str,
        checkpoint: &str,
    ) -> Result<bool, WorkerError> {
        let current = lock(&self.inner.inflight)
            .get(step_uuid)
            .is_some_and(|f| f.claim_id == claim_id);
        if !current {
            return Ok(false);
        }
        Ok(self
            .inner
            .engine
            .save_checkpoint(step_uuid, claim_id, checkpoint, self.inner.config.lease_ms)
            .await?)
    }

    /// The steps this worker's handlers could run that are ready now but not claimed (by any
    /// worker), and how long the oldest has waited.
    pub async fn ready_backlog(&self) -> Result<tasker_orchestration::ReadyBacklog, WorkerError> {
        Ok(self
            .inner
            .engine
            .ready_backlog(&self.inner.callables)
            .await?)
    }

    /// Steps currently handed to the runtime.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.inflight).len()
    }

    pub fn stats(&self) -> WorkerStats {
        let in_flight = self.in_flight();
        let store = self.inner.engine.store_stats();
        let c = lock(&self.inner.counters);
        WorkerStats {
            claimed: c.claimed,
            recorded: c.recorded,
            stale: c.stale,
            completed: c.completed,
            retried: c.retried,
            failed: c.failed,
            reaped: c.reaped,
            in_flight,
            dispatch_p50_us: c.dispatch_us.quantile_us(0.5),
            dispatch_p95_us: c.dispatch_us.quantile_us(0.95),
            dispatch_samples: c.dispatch_us.samples(),
            store_statements: store.statements,
            store_transactions: store.transactions,
        }
    }

    /// Stop claiming; wait up to `grace` for in-flight steps; abort the rest (their runtime
    /// gets an `Abort` event) and release their claims so another worker runs them; stop.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), WorkerError> {
        let inner = &self.inner;
        {
            let mut phase = lock(&inner.phase);
            match *phase {
                Phase::Stopping | Phase::Stopped => return Ok(()),
                Phase::Created => {
                    *phase = Phase::Stopped;
                    lock(&inner.events_tx).take();
                    return Ok(());
                }
                Phase::Running => *phase = Phase::Stopping,
            }
        }
        inner.stop_claiming.cancel();
        let in_flight = lock(&inner.inflight).len();
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        tell(
            inner,
            LogLine::new(
                LogLevel::Info,
                if in_flight == 0 {
                    "shutting down: claiming stopped, no step in flight".to_string()
                } else {
                    format!(
                        "shutting down: claiming stopped; waiting up to {} for {in_flight} \
                         step{} in flight",
                        human_ms(grace_ms),
                        if in_flight == 1 { "" } else { "s" }
                    )
                },
            )
            .field("inFlight", in_flight)
            .field("graceMs", grace_ms),
        );
        let claim_task = lock(&inner.claim_task).take();
        if let Some(t) = claim_task {
            let _ = t.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if lock(&inner.inflight).is_empty() {
                break;
            }
            tokio::select! {
                _ = inner.slot_freed.notified() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let reason = format!(
            "worker {} is shutting down; the step was released for another worker",
            inner.config.worker_id
        );
        let remaining: Vec<String> = lock(&inner.inflight).keys().cloned().collect();
        let aborted = abort_steps(&self.inner, &remaining, &reason);
        if !aborted.is_empty() {
            let n = aborted.len();
            let steps: Vec<serde_json::Value> = aborted
                .iter()
                .take(20)
                .map(|a| {
                    serde_json::json!({
                        "taskUuid": a.task_uuid,
                        "stepUuid": a.step_uuid,
                        "step": a.step_name,
                        "attempt": a.attempt,
                    })
                })
                .collect();
            tell(
                inner,
                LogLine::new(
                    LogLevel::Warn,
                    format!(
                        "shutting down: {n} step{} still running after the {} grace period; \
                         {} aborted and released for another worker",
                        if n == 1 { "" } else { "s" },
                        human_ms(grace_ms),
                        if n == 1 {
                            "its handler was"
                        } else {
                            "their handlers were"
                        },
                    ),
                )
                .field("steps", serde_json::Value::Array(steps)),
            );
        }
        let claims: Vec<(String, String)> = aborted
            .into_iter()
            .map(|a| (a.step_uuid, a.claim_id))
            .collect();
        if !claims.is_empty() {
            if let Err(e) = inner
                .engine
                .release(&claims, &inner.config.worker_id, &reason)
                .await
            {
                tell(
                    inner,
                    LogLine::new(
                        LogLevel::Warn,
                        format!(
                            "could not release {} claims on shutdown ({e}); their steps will \
                             run again after their leases expire",
                            claims.len()
                        ),
                    )
                    .field("cause", e.to_string()),
                );
            }
        }
        inner.stop_writer.cancel();
        let writer = lock(&inner.writer).take();
        if let Some(w) = writer {
            let _ = w.await;
        }
        inner.stop_background.cancel();
        let background: Vec<JoinHandle<()>> = lock(&inner.background).drain(..).collect();
        for t in background {
            let _ = t.await;
        }
        lock(&inner.aborted).clear();
        tell(inner, LogLine::new(LogLevel::Info, "shut down"));
        lock(&inner.events_tx).take();
        *lock(&inner.phase) = Phase::Stopped;
        Ok(())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Each handler given limits must be one the templates use (a misspelt name would limit
/// nothing).
fn check_limits(limits: &HandlerLimits, callables: &[String]) -> Result<(), WorkerError> {
    for callable in limits.keys() {
        if !callables.contains(callable) {
            return Err(WorkerError::InvalidArgument(format!(
                "createWorker limits: handler '{callable}' is not used by any step of this \
                 worker's templates (handlers: {})",
                callables.join(", ")
            )));
        }
    }
    Ok(())
}

/// Every callable the templates use must be registered; returns the callables to claim.
fn check_handlers(
    templates: &TemplateSet,
    registered: &[String],
) -> Result<Vec<String>, WorkerError> {
    let mut missing = Vec::new();
    let mut callables: Vec<String> = Vec::new();
    for (callable, template, step) in templates.callables() {
        if registered.iter().any(|r| r == callable) {
            callables.push(callable.to_string());
        } else {
            missing.push(format!(
                "{}: template {} step '{}' uses handler '{callable}', which is not registered",
                template.source,
                template.key(),
                step.name
            ));
        }
    }
    if !missing.is_empty() {
        let known = if registered.is_empty() {
            "none".to_string()
        } else {
            registered.join(", ")
        };
        return Err(WorkerError::HandlerNotRegistered(format!(
            "{} (registered handlers: {known})",
            missing.join("; ")
        )));
    }
    callables.sort();
    callables.dedup();
    Ok(callables)
}
