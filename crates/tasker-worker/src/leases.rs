//! Leases and aborts: the lease loop (renew this worker's leases, detect lost claims, reap
//! expired ones), the cancellation loop, and aborting the handlers of steps no longer held.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tasker_orchestration::EngineError;

use crate::claiming::{park_slot, InFlight};
use crate::diagnostics::{db_failed, db_ok, tell};
use crate::events::{send_event, WorkerEvent};
use crate::worker::{lock, Inner};
use crate::{LogLevel, LogLine};

/// The abort reason of a step execution whose claim this worker no longer holds.
pub(crate) const LOST_CLAIM: &str =
    "the step is no longer claimed by this worker (cancelled, failed or reclaimed)";

/// Renew this worker's leases, and reclaim steps whose workers died.
pub(crate) async fn lease_loop(inner: Arc<Inner>) {
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
            Ok(0) => db_ok(&inner),
            Ok(n) => {
                db_ok(&inner);
                lock(&inner.counters).reaped += n as u64;
                tell(
                    &inner,
                    LogLine::new(
                        LogLevel::Info,
                        format!(
                            "reaped {n} expired lease{}: {} stopped renewing {} (crashed or \
                             hung); {} through {} retry rules",
                            if n == 1 { "" } else { "s" },
                            if n == 1 { "a worker" } else { "workers" },
                            if n == 1 { "its claim" } else { "their claims" },
                            if n == 1 {
                                "the step goes"
                            } else {
                                "the steps go"
                            },
                            if n == 1 { "its" } else { "their" },
                        ),
                    )
                    .field("reaped", n),
                );
            }
            Err(e) => db_failed(&inner, "reaping expired leases", &e),
        }
    }
}

/// How often a worker looks for signal steps whose timeout passed.
pub(crate) const SIGNAL_SWEEP_PERIOD: Duration = Duration::from_millis(500);

/// Settle signal steps whose timeout passed (fail them, or complete them with their
/// `on_timeout` result). Every worker sweeps; each timeout is applied once.
pub(crate) async fn signal_sweep_loop(inner: Arc<Inner>) {
    let worker_id = inner.config.worker_id.clone();
    let engine = inner.engine.clone();
    sweep_every(
        &inner,
        SIGNAL_SWEEP_PERIOD,
        "settling signal timeouts",
        || engine.expire_signal_waits(&worker_id),
        |n| {
            LogLine::new(
                LogLevel::Info,
                format!(
                    "{n} signal step{} timed out waiting for {} signal",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "its" } else { "their" },
                ),
            )
            .field("timedOut", n)
        },
    )
    .await
}

/// Run `sweep` every `period` until the worker stops, reporting the database's health (a
/// failure is `doing` something) and, when it acted on anything, the line `acted` makes.
async fn sweep_every<F, Fut>(
    inner: &Arc<Inner>,
    period: Duration,
    doing: &str,
    sweep: F,
    acted: impl Fn(usize) -> LogLine,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, EngineError>>,
{
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = inner.stop_background.cancelled() => return,
        }
        match sweep().await {
            Ok(0) => db_ok(inner),
            Ok(n) => {
                db_ok(inner);
                tell(inner, acted(n));
            }
            Err(e) => db_failed(inner, doing, &e),
        }
    }
}

/// How often a worker runs the child sweep when nothing wakes it earlier.
pub(crate) const CHILD_SWEEP_PERIOD: Duration = Duration::from_millis(500);
/// The least time between two child sweeps (wake-ups come in bursts).
const CHILD_SWEEP_GAP: Duration = Duration::from_millis(50);

/// Create the children of subtask steps, settle the steps whose child finished, and cancel
/// orphaned children (docs/child-tasks.md). Every worker sweeps; each is applied once. Runs
/// every half second, and, in a worker whose templates have subtask steps, as soon as steps
/// become ready or a task finishes (in this process or, on PostgreSQL, any).
pub(crate) async fn child_sweep_loop(inner: Arc<Inner>) {
    let cfg = &inner.config;
    let mut ready = inner.engine.subscribe_steps_ready();
    let mut finished = inner.engine.subscribe_finished();
    loop {
        let early = inner.engine.registers_subtasks();
        tokio::select! {
            _ = tokio::time::sleep(CHILD_SWEEP_PERIOD) => {}
            _ = ready.changed(), if early => {}
            _ = finished.recv(), if early => {}
            _ = inner.stop_background.cancelled() => return,
        }
        match inner.engine.settle_child_tasks(&cfg.worker_id).await {
            Ok(_) => db_ok(&inner),
            Err(e) => db_failed(&inner, "settling child tasks", &e),
        }
        tokio::select! {
            _ = tokio::time::sleep(CHILD_SWEEP_GAP) => {}
            _ = inner.stop_background.cancelled() => return,
        }
    }
}

/// How often a worker looks for tasks past a lifecycle limit.
pub(crate) const LIFECYCLE_SWEEP_PERIOD: Duration = Duration::from_secs(1);

/// Fail the tasks past a lifecycle limit (docs/lifecycle.md). Every worker sweeps; each task
/// fails once.
pub(crate) async fn lifecycle_sweep_loop(inner: Arc<Inner>) {
    let engine = inner.engine.clone();
    sweep_every(
        &inner,
        LIFECYCLE_SWEEP_PERIOD,
        "enforcing lifecycle limits",
        || engine.enforce_lifecycles(),
        |n| {
            LogLine::new(
                LogLevel::Warn,
                format!(
                    "{n} task{} failed past a lifecycle limit",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .field("failed", n)
        },
    )
    .await
}

/// Abort the handlers of steps whose task was cancelled, or failed past a lifecycle limit (by
/// any process).
pub(crate) async fn cancellation_loop(inner: Arc<Inner>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut cancelled = inner.engine.subscribe_cancellations();
    let mut expired = inner.engine.subscribe_expirations();
    loop {
        let (task_uuid, reason) = tokio::select! {
            r = cancelled.recv() => match r {
                Ok(t) => (t, "the task was cancelled"),
                Err(RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            r = expired.recv() => match r {
                Ok(t) => (t, "the task failed: it passed a lifecycle limit"),
                Err(RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            _ = inner.stop_background.cancelled() => return,
        };
        let steps: Vec<String> = lock(&inner.inflight)
            .iter()
            .filter(|(_, f)| f.task_uuid == task_uuid)
            .map(|(s, _)| s.clone())
            .collect();
        abort_steps(&inner, &steps, reason);
    }
}

/// A step execution whose handler was aborted.
pub(crate) struct AbortedStep {
    pub(crate) step_uuid: String,
    pub(crate) claim_id: String,
    pub(crate) task_uuid: String,
    pub(crate) step_name: String,
    pub(crate) attempt: i64,
}

/// Stop tracking these steps and abort their handlers' signals (their results will be stale);
/// each keeps its slot until its handler settles. Returns the executions aborted.
pub(crate) fn abort_steps(inner: &Arc<Inner>, steps: &[String], reason: &str) -> Vec<AbortedStep> {
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
