//! Claiming: the claim loop (which claims only into free slots), handing claimed steps to the
//! runtime, and the concurrency slots each step holds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use tasker_orchestration::{ClaimRequest, ClaimedStep};

use crate::diagnostics::{db_failed, db_ok, Backoff};
use crate::events::{send_event, send_events, WorkerEvent};
use crate::leases::LOST_CLAIM;
use crate::timeouts::spawn_timeout;
use crate::worker::{lock, Inner};

pub(crate) struct InFlight {
    pub(crate) task_uuid: String,
    pub(crate) claim_id: String,
    pub(crate) step_name: String,
    pub(crate) attempt: i64,
    pub(crate) timer: JoinHandle<()>,
    pub(crate) dispatched_at: std::time::Instant,
    /// The concurrency slot this step holds: freed once its result has committed, or, when
    /// its handler is aborted, once the handler has settled.
    pub(crate) slot: OwnedSemaphorePermit,
}

/// Free slots right now, up to `max` (never waits).
pub(crate) fn take_slots(inner: &Inner, max: usize) -> Vec<OwnedSemaphorePermit> {
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
pub(crate) fn dispatch(
    inner: &Arc<Inner>,
    claimed: Vec<ClaimedStep>,
    permits: Vec<OwnedSemaphorePermit>,
) {
    dispatch_after(inner, Vec::new(), claimed, permits);
}

/// `dispatch`, with `events` sent first in the same group (what became of the results whose
/// transaction claimed these steps), so that one poll hands the runtime both.
pub(crate) fn dispatch_after(
    inner: &Arc<Inner>,
    mut events: Vec<WorkerEvent>,
    claimed: Vec<ClaimedStep>,
    mut permits: Vec<OwnedSemaphorePermit>,
) {
    lock(&inner.counters).claimed += claimed.len() as u64;
    events.reserve(claimed.len());
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
            trace_context: c.trace_context,
        });
    }
    send_events(inner, events);
}

pub(crate) async fn claim_loop(inner: Arc<Inner>) {
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
            .claim_for(&ClaimRequest {
                callables: inner.callables.clone(),
                limits: inner.limits.clone(),
                limit: free,
                worker_id: cfg.worker_id.clone(),
                lease_ms: cfg.lease_ms,
            })
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

/// Keep the slot of an aborted step execution until its handler settles.
pub(crate) fn park_slot(inner: &Inner, step_uuid: String, f: InFlight) {
    lock(&inner.aborted).insert((step_uuid, f.claim_id), f.slot);
}
