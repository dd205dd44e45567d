//! The result writer: batches reported results into shared transactions, and claims the next
//! steps in the same transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};

use tasker_domain::StepState;
use tasker_orchestration::{ClaimRequest, RecordOutcome, StepOutcome};

use crate::claiming::{dispatch_after, park_slot, take_slots};
use crate::diagnostics::{self, db_failed, db_ok, tell, Backoff};
use crate::events::{send_events, HandlerResult, ResultOutcome, WorkerEvent};
use crate::leases::LOST_CLAIM;
use crate::worker::{lock, Inner};
use crate::{LogLevel, LogLine};

/// A result for the writer: from the handler runtime, or synthesised when a step timed out.
pub(crate) enum Reported {
    Runtime(HandlerResult),
    TimedOut(HandlerResult),
}

/// Batch results into shared transactions: take everything that is waiting, write it once.
pub(crate) async fn write_results(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<Vec<Reported>>,
) {
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
        // Results ignored here (their handlers had been aborted), for the runtime.
        let mut ignored: Vec<WorkerEvent> = Vec::new();
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
                        if inner.config.report_outcomes {
                            ignored.push(WorkerEvent::Recorded {
                                step_uuid: r.step_uuid.clone(),
                                claim_id: r.claim_id.clone(),
                                outcome: ResultOutcome::Stale,
                            });
                        }
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
        send_events(&inner, ignored);
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
                limits: inner.limits.clone(),
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
                    let told = tell_recorded(&inner, &outcomes, &labels, &recorded);
                    dispatch_after(&inner, told, claimed, std::mem::take(&mut permits));
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
                    if inner.config.report_outcomes {
                        let unrecorded = outcomes
                            .iter()
                            .map(|o| WorkerEvent::Recorded {
                                step_uuid: o.step_uuid.clone(),
                                claim_id: o.claim_id.clone(),
                                outcome: ResultOutcome::Unrecorded,
                            })
                            .collect();
                        send_events(&inner, unrecorded);
                    }
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

/// Count what became of a committed batch of results, log the results ignored as stale (their
/// claim was lost without this worker noticing: its handler was not aborted), and return the
/// events that tell the runtime (with `report_outcomes`; none without).
fn tell_recorded(
    inner: &Arc<Inner>,
    outcomes: &[StepOutcome],
    labels: &[(String, i64)],
    recorded: &[RecordOutcome],
) -> Vec<WorkerEvent> {
    let mut events = Vec::new();
    {
        let mut c = lock(&inner.counters);
        for r in recorded {
            let outcome = match r {
                RecordOutcome::Recorded { state, .. } => {
                    c.recorded += 1;
                    match state {
                        StepState::Complete => {
                            c.completed += 1;
                            ResultOutcome::Completed
                        }
                        StepState::WaitingForRetry | StepState::Enqueued => {
                            c.retried += 1;
                            ResultOutcome::Retry
                        }
                        _ => {
                            c.failed += 1;
                            ResultOutcome::Failed
                        }
                    }
                }
                RecordOutcome::Stale { .. } => {
                    c.stale += 1;
                    ResultOutcome::Stale
                }
            };
            events.push(outcome);
        }
    }
    for ((o, (step, attempt)), outcome) in outcomes.iter().zip(labels).zip(&events) {
        if *outcome == ResultOutcome::Stale {
            tell(
                inner,
                LogLine::new(
                    LogLevel::Info,
                    format!(
                        "the result of step '{step}' (attempt {attempt}) of task {} was ignored: \
                         {LOST_CLAIM}",
                        o.task_uuid
                    ),
                )
                .field("taskUuid", o.task_uuid.clone())
                .field("stepUuid", o.step_uuid.clone())
                .field("step", step.clone())
                .field("attempt", *attempt),
            );
        }
    }
    if !inner.config.report_outcomes {
        return Vec::new();
    }
    outcomes
        .iter()
        .zip(events)
        .map(|(o, outcome)| WorkerEvent::Recorded {
            step_uuid: o.step_uuid.clone(),
            claim_id: o.claim_id.clone(),
            outcome,
        })
        .collect()
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
