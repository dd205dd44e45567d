//! The worker core. It claims ready steps (never more than `concurrency` in flight, and only
//! when a slot is free), hands them to a handler runtime through `poll()`, enforces each
//! step's timeout, keeps its leases alive, batches results into shared transactions, and
//! shuts down in two phases: drain within a grace period, then abort and release.

mod diagnostics;
mod dispatch_stats;
mod error;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use diagnostics::{Backoff, Health};
pub use diagnostics::{LogLevel, LogLine};
pub use error::WorkerError;
use tasker_domain::{load_templates, TemplateSet};
use tasker_orchestration::{
    ClaimRequest, ClaimedStep, Engine, RecordOutcome, StepError, StepOutcome,
};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    pub template_paths: Vec<PathBuf>,
    /// Names of the handlers the runtime can run.
    pub handler_names: Vec<String>,
    pub concurrency: usize,
    pub lease_ms: u64,
    pub poll_interval_ms: u64,
}

/// Work for the handler runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Step {
        step_uuid: String,
        task_uuid: String,
        claim_id: String,
        payload: String,
        /// The step's dependency results (JSON keyed by step name), `None` without any.
        dependencies: Option<String>,
    },
    Abort {
        step_uuid: String,
        task_uuid: String,
        claim_id: String,
        reason: String,
    },
    /// A line for the runtime's logger (database outages and recoveries, timeouts, lost
    /// claims, results that could not be recorded).
    Log(LogLine),
}

/// A result reported by the handler runtime.
#[derive(Debug, Clone)]
pub struct HandlerResult {
    pub step_uuid: String,
    pub claim_id: String,
    pub success: bool,
    pub result: Option<String>,
    pub error: Option<StepError>,
    pub metadata: Option<String>,
    pub duration_ms: Option<f64>,
}

struct InFlight {
    task_uuid: String,
    claim_id: String,
    step_name: String,
    attempt: i64,
    timer: JoinHandle<()>,
    dispatched_at: std::time::Instant,
    /// The concurrency slot this step holds: freed once its result has committed, or, when
    /// its handler is aborted, once the handler has settled.
    slot: OwnedSemaphorePermit,
}

/// Counters of one worker, for operators and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    /// Steps claimed since start.
    pub claimed: u64,
    /// Results written to the database.
    pub recorded: u64,
    /// Results ignored because their claim was no longer current.
    pub stale: u64,
    pub in_flight: usize,
    /// Dispatch overhead (Rust → runtime → Rust, handler time excluded) of every step this
    /// worker has recorded, in whole microseconds (within 0.1 %; see `dispatch_stats`).
    pub dispatch_p50_us: f64,
    pub dispatch_p95_us: f64,
    pub dispatch_samples: usize,
    /// Statements and transactions the worker's store ran since it was opened (everything
    /// that engine did, for this worker and for clients sharing it).
    pub store_statements: u64,
    pub store_transactions: u64,
}

/// The abort reason of a step execution whose claim this worker no longer holds.
const LOST_CLAIM: &str =
    "the step is no longer claimed by this worker (cancelled, failed or reclaimed)";

#[derive(Default)]
struct Counters {
    claimed: u64,
    recorded: u64,
    stale: u64,
    dispatch_us: dispatch_stats::DispatchStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Stopping,
    Stopped,
}

struct Inner {
    engine: Arc<Engine>,
    config: WorkerConfig,
    callables: Vec<String>,
    phase: Mutex<Phase>,
    inflight: Mutex<HashMap<String, InFlight>>,
    /// One permit per concurrency slot.
    slots: Arc<Semaphore>,
    counters: Mutex<Counters>,
    health: Health,
    slot_freed: Notify,
    /// Events go in groups (all the steps of one claim together), so that one poll hands
    /// the runtime a whole claim rather than the part of it sent so far.
    events_tx: Mutex<Option<mpsc::UnboundedSender<Vec<WorkerEvent>>>>,
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<WorkerEvent>>>,
    /// Results go in groups (one `complete()` call together), so that the writer records
    /// them in one transaction rather than the part of them sent so far.
    results_tx: mpsc::UnboundedSender<Vec<Reported>>,
    results_rx: Mutex<Option<mpsc::UnboundedReceiver<Vec<Reported>>>>,
    /// Slots of step executions (step uuid, claim id) whose handler was aborted (timeout,
    /// cancel, lost claim) but has not settled yet: a handler keeps its slot until it settles,
    /// so no more than `concurrency` handlers ever run at once, even when one ignores its
    /// signal. Keyed by execution, not step: a step can be claimed again while an aborted
    /// earlier attempt still runs, and both handlers hold a slot.
    aborted: Mutex<HashMap<(String, String), OwnedSemaphorePermit>>,
    stop_claiming: CancellationToken,
    stop_background: CancellationToken,
    stop_writer: CancellationToken,
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
    /// and store the templates in the database.
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
        engine.register_templates(&templates).await?;
        let slots = Arc::new(Semaphore::new(config.concurrency));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Ok(Worker {
            inner: Arc::new(Inner {
                engine,
                config,
                callables,
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
        })
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
        bg.push(tokio::spawn(cancellation_loop(inner.clone())));
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
        let claims: Vec<(String, String)> = abort_steps(&self.inner, &remaining, &reason)
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
        lock(&inner.events_tx).take();
        *lock(&inner.phase) = Phase::Stopped;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn send_event(inner: &Inner, event: WorkerEvent) {
    send_events(inner, vec![event]);
}

fn send_events(inner: &Inner, events: Vec<WorkerEvent>) {
    if events.is_empty() {
        return;
    }
    if let Some(tx) = lock(&inner.events_tx).as_ref() {
        let _ = tx.send(events);
    }
}

/// Log a line through `tracing` and hand it to the runtime's logger, naming this worker.
fn tell(inner: &Inner, mut line: LogLine) {
    let id = &inner.config.worker_id;
    line.message = format!("worker {id}: {}", line.message);
    line.fields
        .insert("workerId".to_string(), serde_json::Value::from(id.as_str()));
    match line.level {
        LogLevel::Debug => tracing::debug!("{}", line.message),
        LogLevel::Info => tracing::info!("{}", line.message),
        LogLevel::Warn => tracing::warn!("{}", line.message),
        LogLevel::Error => tracing::error!("{}", line.message),
    }
    send_event(inner, WorkerEvent::Log(line));
}

/// A database call failed while `doing` something: tell the operator (once per outage, not
/// once per failure).
fn db_failed(inner: &Inner, doing: &str, e: &tasker_orchestration::EngineError) {
    let cause = e.to_string();
    if let Some(line) =
        inner
            .health
            .failed(doing, &cause, e.is_unavailable(), std::time::Instant::now())
    {
        tell(inner, line);
    }
}

/// A database call succeeded: tell the operator if that ends an outage.
fn db_ok(inner: &Inner) {
    if let Some(line) = inner.health.succeeded(std::time::Instant::now()) {
        tell(inner, line);
    }
}

/// The steps of these results (with their names and attempts), for a log line's fields: at
/// most 20 are named.
fn steps_field(outcomes: &[StepOutcome], labels: &[(String, i64)]) -> serde_json::Value {
    serde_json::Value::Array(
        outcomes
            .iter()
            .zip(labels)
            .take(20)
            .map(|(o, (step, attempt))| {
                serde_json::json!({
                    "taskUuid": o.task_uuid,
                    "stepUuid": o.step_uuid,
                    "step": step,
                    "attempt": attempt,
                })
            })
            .collect(),
    )
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

/// Free slots right now, up to `max` (never waits).
fn take_slots(inner: &Inner, max: usize) -> Vec<OwnedSemaphorePermit> {
    let mut permits = Vec::new();
    while permits.len() < max {
        match inner.slots.clone().try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    permits
}

/// Hand claimed steps to the runtime, each holding one slot until its result has committed
/// (or, when it times out, is cancelled, loses its claim or is released, until its handler
/// settles). Unused slots are returned.
fn dispatch(inner: &Arc<Inner>, claimed: Vec<ClaimedStep>, mut permits: Vec<OwnedSemaphorePermit>) {
    lock(&inner.counters).claimed += claimed.len() as u64;
    let mut events = Vec::with_capacity(claimed.len());
    for c in claimed {
        let Some(permit) = permits.pop() else {
            // Cannot happen: we never claim more than the slots we hold.
            tracing::error!(
                "claimed more steps than free slots; step {} waits for its lease to expire",
                c.step_uuid
            );
            continue;
        };
        let timer = spawn_timeout(
            inner.clone(),
            c.step_uuid.clone(),
            c.claim_id.clone(),
            c.step_name.clone(),
            c.attempt,
            c.max_attempts,
            c.timeout_ms,
        );
        let replaced = lock(&inner.inflight).insert(
            c.step_uuid.clone(),
            InFlight {
                task_uuid: c.task_uuid.clone(),
                claim_id: c.claim_id.clone(),
                step_name: c.step_name.clone(),
                attempt: c.attempt,
                timer,
                dispatched_at: std::time::Instant::now(),
                slot: permit,
            },
        );
        if let Some(old) = replaced {
            // We claimed the step again while still tracking an earlier claim of it (that one
            // was reaped after a stall and retried): the earlier execution has lost its claim.
            // Abort exactly it; its handler keeps its own slot until it settles.
            old.timer.abort();
            send_event(
                inner,
                WorkerEvent::Abort {
                    step_uuid: c.step_uuid.clone(),
                    task_uuid: old.task_uuid.clone(),
                    claim_id: old.claim_id.clone(),
                    reason: LOST_CLAIM.to_string(),
                },
            );
            park_slot(inner, c.step_uuid.clone(), old);
        }
        events.push(WorkerEvent::Step {
            step_uuid: c.step_uuid,
            task_uuid: c.task_uuid,
            claim_id: c.claim_id,
            payload: c.payload,
            dependencies: c.dependencies,
        });
    }
    send_events(inner, events);
}

async fn claim_loop(inner: Arc<Inner>) {
    let cfg = &inner.config;
    let mut ready = inner.engine.subscribe_steps_ready();
    let retry_cap = Duration::from_millis(cfg.poll_interval_ms);
    let mut backoff = Backoff::new(retry_cap);
    loop {
        // Backpressure: claim only when a slot is free, and never more than the free slots.
        let first = tokio::select! {
            p = inner.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = inner.stop_claiming.cancelled() => return,
        };
        let mut permits = vec![first];
        permits.extend(take_slots(&inner, cfg.concurrency - 1));
        let free = permits.len();
        ready.borrow_and_update();
        let claimed = match inner
            .engine
            .claim(&inner.callables, free, &cfg.worker_id, cfg.lease_ms)
            .await
        {
            Ok(c) => {
                db_ok(&inner);
                backoff = Backoff::new(retry_cap);
                c
            }
            Err(e) => {
                drop(permits);
                db_failed(&inner, "claiming steps", &e);
                // Short waits while the database fails, so that work resumes soon after it
                // answers again.
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_wait()) => continue,
                    _ = inner.stop_claiming.cancelled() => return,
                }
            }
        };
        let got = claimed.len();
        dispatch(&inner, claimed, permits);
        if got == free {
            continue; // there may be more
        }
        // Nothing more to claim now: sleep until something changes, the next retry is due,
        // or the slow fallback poll.
        let mut wait = cfg.poll_interval_ms;
        if let Ok(Some(due_in)) = inner.engine.next_ready_in(&inner.callables).await {
            wait = wait.min(due_in);
        }
        if wait == 0 {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = ready.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = inner.stop_claiming.cancelled() => return,
        }
    }
}

/// The step's time limit, enforced here and only here: abort the handler's signal and fail the
/// attempt as retryable.
fn spawn_timeout(
    inner: Arc<Inner>,
    step_uuid: String,
    claim_id: String,
    step_name: String,
    attempt: i64,
    max_attempts: i64,
    timeout_ms: u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
        let task_uuid = match lock(&inner.inflight).get(&step_uuid) {
            Some(f) if f.claim_id == claim_id => f.task_uuid.clone(),
            _ => return,
        };
        let message = format!(
            "step '{step_name}' timed out after {} (attempt {attempt} of {max_attempts})",
            human_ms(timeout_ms)
        );
        tell(
            &inner,
            LogLine::new(
                LogLevel::Warn,
                format!("{message} in task {task_uuid}; its handler was aborted"),
            )
            .field("taskUuid", task_uuid.clone())
            .field("stepUuid", step_uuid.clone())
            .field("step", step_name.clone())
            .field("attempt", attempt),
        );
        send_event(
            &inner,
            WorkerEvent::Abort {
                step_uuid: step_uuid.clone(),
                task_uuid,
                claim_id: claim_id.clone(),
                reason: message.clone(),
            },
        );
        let _ = inner
            .results_tx
            .send(vec![Reported::TimedOut(HandlerResult {
                step_uuid,
                claim_id,
                success: false,
                result: None,
                metadata: None,
                duration_ms: None,
                error: Some(StepError {
                    message,
                    error_type: "timeout".to_string(),
                    retryable: true,
                    retry_after_ms: None,
                    status_code: None,
                }),
            })]);
    })
}

fn human_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// A result for the writer: from the handler runtime, or synthesised when a step timed out.
enum Reported {
    Runtime(HandlerResult),
    TimedOut(HandlerResult),
}

/// Keep the slot of an aborted step execution until its handler settles.
fn park_slot(inner: &Inner, step_uuid: String, f: InFlight) {
    lock(&inner.aborted).insert((step_uuid, f.claim_id), f.slot);
}

/// Batch results into shared transactions: take everything that is waiting, write it once.
async fn write_results(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Vec<Reported>>) {
    loop {
        let mut batch = tokio::select! {
            biased;
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = inner.stop_writer.cancelled() => match rx.try_recv() {
                Ok(r) => r,
                Err(_) => return,
            },
        };
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        // Each outcome's step name and attempt, for what is logged if it cannot be recorded.
        let mut labels = Vec::with_capacity(batch.len());
        // The slots of this batch's steps. A step stays `in_progress` in the database until its
        // result commits, so its slot is freed only then: the claim loop could otherwise claim
        // into it early, and this worker would hold more than `concurrency` steps.
        let mut freed: Vec<OwnedSemaphorePermit> = Vec::new();
        let mut stale = 0;
        let mut dispatch_us = Vec::new();
        {
            let mut inflight = lock(&inner.inflight);
            for reported in batch {
                let (r, timed_out) = match reported {
                    Reported::Runtime(r) => (r, false),
                    Reported::TimedOut(r) => (r, true),
                };
                match inflight.get(&r.step_uuid) {
                    Some(f) if f.claim_id == r.claim_id => {}
                    _ => {
                        // Timed out, cancelled or released already. If its handler was
                        // aborted, it has now settled: its slot can be used again (after this
                        // batch commits, which may hold the same step's timeout).
                        if !timed_out {
                            let execution = (r.step_uuid.clone(), r.claim_id.clone());
                            if let Some(slot) = lock(&inner.aborted).remove(&execution) {
                                freed.push(slot);
                            }
                        }
                        stale += 1;
                        continue;
                    }
                }
                let Some(f) = inflight.remove(&r.step_uuid) else {
                    continue;
                };
                f.timer.abort();
                if let Some(handler_ms) = r.duration_ms {
                    let total_us = f.dispatched_at.elapsed().as_secs_f64() * 1e6;
                    dispatch_us.push((total_us - handler_ms * 1000.0).max(0.0));
                }
                let task_uuid = f.task_uuid.clone();
                labels.push((f.step_name.clone(), f.attempt));
                if timed_out {
                    // The handler is still running: it keeps its slot until it settles.
                    park_slot(&inner, r.step_uuid.clone(), f);
                } else {
                    freed.push(f.slot);
                }
                outcomes.push(StepOutcome {
                    step_uuid: r.step_uuid,
                    task_uuid,
                    claim_id: r.claim_id,
                    success: r.success,
                    result: r.result,
                    error: r.error,
                    metadata: r.metadata,
                    duration_ms: r.duration_ms,
                });
            }
        }
        {
            let mut c = lock(&inner.counters);
            c.stale += stale;
            for us in dispatch_us {
                c.dispatch_us.record(us);
            }
        }
        if outcomes.is_empty() {
            // Only stale results: nothing to commit, the settled handlers' slots are free.
            drop(freed);
            continue;
        }
        // The batch's own slots (and any other free ones) serve a claim in the same
        // transaction, typically of the dependents these results make ready: a chain moves on
        // without another round trip, and no slot is free before the results commit.
        let cfg = &inner.config;
        let mut permits = if inner.stop_claiming.is_cancelled() {
            Vec::new()
        } else {
            let mut permits = std::mem::take(&mut freed);
            let more = cfg.concurrency.saturating_sub(permits.len());
            permits.extend(take_slots(&inner, more));
            permits
        };
        let mut failures = 0;
        let mut backoff = Backoff::new(diagnostics::MAX_RETRY);
        loop {
            let request = ClaimRequest {
                callables: inner.callables.clone(),
                limit: permits.len(),
                worker_id: cfg.worker_id.clone(),
                lease_ms: cfg.lease_ms,
            };
            let claim = (!permits.is_empty()).then_some(&request);
            match inner
                .engine
                .record_and_claim(outcomes.clone(), &cfg.worker_id, claim)
                .await
            {
                Ok((recorded, claimed)) => {
                    db_ok(&inner);
                    let fresh = recorded
                        .iter()
                        .filter(|r| matches!(r, RecordOutcome::Recorded { .. }))
                        .count() as u64;
                    {
                        let mut c = lock(&inner.counters);
                        c.recorded += fresh;
                        c.stale += recorded.len() as u64 - fresh;
                    }
                    dispatch(&inner, claimed, std::mem::take(&mut permits));
                    break;
                }
                Err(e) => {
                    failures += 1;
                    let n = outcomes.len();
                    let doing = format!("recording {n} result{}", if n == 1 { "" } else { "s" });
                    db_failed(&inner, &doing, &e);
                    // A database that is down or refusing writes (a full disk, too many
                    // connections) is waited for: the results are kept until it answers.
                    // Anything else is a fault retrying will not mend; so is shutting down
                    // while the database still fails.
                    let healable = e.may_heal();
                    let stopping = inner.stop_writer.is_cancelled();
                    if (healable && !stopping) || failures < 3 {
                        let wait = backoff.next_wait();
                        if healable && !stopping {
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => continue,
                                _ = inner.stop_writer.cancelled() => {}
                            }
                        } else {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    // The steps stay in progress without a tracked claim: their leases are no
                    // longer renewed, expire, and they run again.
                    tell(
                        &inner,
                        LogLine::new(
                            LogLevel::Error,
                            format!(
                                "could not record {n} result{} ({e}); {} will run again after \
                                 {} lease expires",
                                if n == 1 { "" } else { "s" },
                                if n == 1 { "its step" } else { "their steps" },
                                if n == 1 { "its" } else { "their" },
                            ),
                        )
                        .field("cause", e.to_string())
                        .field("steps", steps_field(&outcomes, &labels)),
                    );
                    break;
                }
            }
        }
        // Committed (or given up on): the slots claimed into nothing are free again.
        drop(permits);
        drop(freed);
        inner.slot_freed.notify_one();
    }
}

/// Renew this worker's leases, and reclaim steps whose workers died.
async fn lease_loop(inner: Arc<Inner>) {
    let cfg = &inner.config;
    let period = Duration::from_millis((cfg.lease_ms / 3).max(50));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = inner.stop_background.cancelled() => return,
        }
        let tracked: Vec<(String, String)> = lock(&inner.inflight)
            .iter()
            .map(|(s, f)| (s.clone(), f.claim_id.clone()))
            .collect();
        if !tracked.is_empty() {
            match inner
                .engine
                .renew_leases(&cfg.worker_id, &tracked, cfg.lease_ms)
                .await
            {
                // A claim we track but no longer hold was cancelled, failed or reaped (and
                // perhaps claimed anew) by any process (on SQLite no notification reaches us):
                // abort its handler, if that claim is still the one we track.
                Ok(held) => {
                    db_ok(&inner);
                    let held: std::collections::HashSet<(String, String)> =
                        held.into_iter().collect();
                    let lost: Vec<String> = {
                        let inflight = lock(&inner.inflight);
                        tracked
                            .into_iter()
                            .filter(|pair| !held.contains(pair))
                            .filter(|(s, c)| inflight.get(s).is_some_and(|f| f.claim_id == *c))
                            .map(|(s, _)| s)
                            .collect()
                    };
                    for f in abort_steps(&inner, &lost, LOST_CLAIM) {
                        tell(
                            &inner,
                            LogLine::new(
                                LogLevel::Warn,
                                format!(
                                    "step '{}' (attempt {}) of task {}: {LOST_CLAIM}; its handler was aborted",
                                    f.step_name, f.attempt, f.task_uuid
                                ),
                            )
                            .field("taskUuid", f.task_uuid)
                            .field("stepUuid", f.step_uuid)
                            .field("step", f.step_name)
                            .field("attempt", f.attempt),
                        );
                    }
                }
                Err(e) => db_failed(&inner, "renewing leases", &e),
            }
        }
        match inner.engine.reap_expired_leases(&cfg.worker_id).await {
            Ok(_) => db_ok(&inner),
            Err(e) => db_failed(&inner, "reaping expired leases", &e),
        }
    }
}

/// Abort the handlers of steps whose task was cancelled (by any process).
async fn cancellation_loop(inner: Arc<Inner>) {
    let mut rx = inner.engine.subscribe_cancellations();
    loop {
        let task_uuid = tokio::select! {
            r = rx.recv() => match r {
                Ok(t) => t,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            _ = inner.stop_background.cancelled() => return,
        };
        let steps: Vec<String> = lock(&inner.inflight)
            .iter()
            .filter(|(_, f)| f.task_uuid == task_uuid)
            .map(|(s, _)| s.clone())
            .collect();
        abort_steps(&inner, &steps, "the task was cancelled");
    }
}

/// A step execution whose handler was aborted.
struct AbortedStep {
    step_uuid: String,
    claim_id: String,
    task_uuid: String,
    step_name: String,
    attempt: i64,
}

/// Stop tracking these steps and abort their handlers' signals (their results will be stale);
/// each keeps its slot until its handler settles. Returns the executions aborted.
fn abort_steps(inner: &Arc<Inner>, steps: &[String], reason: &str) -> Vec<AbortedStep> {
    let removed: Vec<(String, InFlight)> = {
        let mut inflight = lock(&inner.inflight);
        steps
            .iter()
            .filter_map(|s| inflight.remove(s).map(|f| (s.clone(), f)))
            .collect()
    };
    let mut aborted = Vec::with_capacity(removed.len());
    for (step_uuid, f) in removed {
        f.timer.abort();
        send_event(
            inner,
            WorkerEvent::Abort {
                step_uuid: step_uuid.clone(),
                task_uuid: f.task_uuid.clone(),
                claim_id: f.claim_id.clone(),
                reason: reason.to_string(),
            },
        );
        aborted.push(AbortedStep {
            step_uuid: step_uuid.clone(),
            claim_id: f.claim_id.clone(),
            task_uuid: f.task_uuid.clone(),
            step_name: f.step_name.clone(),
            attempt: f.attempt,
        });
        park_slot(inner, step_uuid, f);
        inner.slot_freed.notify_one();
    }
    aborted
}
