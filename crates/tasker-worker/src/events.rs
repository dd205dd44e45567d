//! What passes between the worker and its handler runtime: the events the runtime polls for
//! (steps, aborts, log lines), the results it reports, and how events are sent.

use tasker_orchestration::StepError;

use crate::worker::{lock, Inner};
use crate::LogLine;

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
        /// The task creator's trace context (JSON of a W3C carrier), if one was stored.
        trace_context: Option<String>,
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
    /// How a result of this step execution ended up (only with `report_outcomes`): one per
    /// result the runtime reported, and one per timeout the worker recorded for it.
    Recorded {
        step_uuid: String,
        claim_id: String,
        outcome: ResultOutcome,
    },
}

/// What became of a reported result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOutcome {
    /// Recorded: the step is complete.
    Completed,
    /// Recorded: the attempt failed and the step will be tried again.
    Retry,
    /// Recorded: the attempt failed and so did the step, for good.
    Failed,
    /// Ignored: the claim was no longer current (the step timed out, was cancelled, released
    /// or reclaimed).
    Stale,
    /// Not recorded: the database kept failing; the step runs again once its lease expires.
    Unrecorded,
}

impl ResultOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultOutcome::Completed => "completed",
            ResultOutcome::Retry => "retry",
            ResultOutcome::Failed => "failed",
            ResultOutcome::Stale => "stale",
            ResultOutcome::Unrecorded => "unrecorded",
        }
    }
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

pub(crate) fn send_event(inner: &Inner, event: WorkerEvent) {
    send_events(inner, vec![event]);
}

pub(crate) fn send_events(inner: &Inner, events: Vec<WorkerEvent>) {
    if events.is_empty() {
        return;
    }
    if let Some(tx) = lock(&inner.events_tx).as_ref() {
        let _ = tx.send(events);
    }
}
