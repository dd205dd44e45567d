//! Step timeouts: one timer per claimed step.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use tasker_orchestration::StepError;

use crate::diagnostics::tell;
use crate::events::{send_event, HandlerResult, WorkerEvent};
use crate::worker::{lock, Inner};
use crate::writer::Reported;
use crate::{LogLevel, LogLine};

/// The step's time limit, enforced here and only here: abort the handler's signal and fail the
/// attempt as retryable.
pub(crate) fn spawn_timeout(
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
                    stack: None,
                }),
            })]);
    })
}

pub(crate) fn human_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}
