//! Cancelling a task: nothing further is enqueued, and steps not yet finished are cancelled
//! (workers running them abort their handlers' signals), and its unfinished child tasks are
//! cancelled with it. Cancelling a finished task changes nothing.

use tasker_domain::{StepState, TaskState};
use tasker_store::{run_write, Tx, Uuid};

use crate::views::TaskView;
use crate::work::Work;
use crate::{Engine, EngineError};

impl Engine {
    pub async fn cancel_task(
        &self,
        task_uuid: &str,
        reason: Option<&str>,
    ) -> Result<TaskView, EngineError> {
        let not_found = || EngineError::TaskNotFound(format!("task {task_uuid} does not exist"));
        let Ok(task) = tasker_store::Uuid::parse_str(task_uuid) else {
            return Err(not_found());
        };
        let reason = reason.unwrap_or("cancelled by request").to_string();
        let signals = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let Some(row) = tx.lock_task(task).await? else {
                    return Ok::<_, EngineError>(None);
                };
                let mut work = Work::default();
                if !row.state.is_terminal() {
                    // The task, then its children, in the same transaction (each locked after
                    // its parent: see children.rs for the lock order).
                    crate::children::cancel_tree(tx, task, &reason, &mut work).await?;
                    work.flush(tx).await?;
                }
                Ok(Some(work.signals))
            })
        })
        .await?;
        let Some(signals) = signals else {
            return Err(not_found());
        };
        self.events().emit(&signals);
        self.get_task(task_uuid, true).await?.ok_or_else(not_found)
    }
}

/// The states of the steps that have not started: when their task fails they never will.
pub(crate) const NOT_STARTED: [StepState; 5] = [
    StepState::Pending,
    StepState::Enqueued,
    StepState::WaitingForRetry,
    StepState::WaitingForSignal,
    StepState::WaitingForChild,
];

/// The states of the steps a cancelled task cancels: those not started, and those running
/// (their workers abort the handlers).
pub(crate) const OPEN: [StepState; 6] = [
    StepState::Pending,
    StepState::Enqueued,
    StepState::WaitingForRetry,
    StepState::WaitingForSignal,
    StepState::WaitingForChild,
    StepState::InProgress,
];

/// Cancel the steps of `task` in `states`, each with `why` as its reason.
pub(crate) async fn cancel_open_steps(
    tx: &mut dyn Tx,
    work: &mut Work,
    task: Uuid,
    states: &[StepState],
    why: &str,
) -> Result<(), EngineError> {
    for s in tx.cancel_steps(&[task], states).await? {
        work.step(
            task,
            s.step_uuid,
            Some(s.from),
            StepState::Cancelled,
            None,
            Some(why.to_string()),
        );
    }
    Ok(())
}

/// Fail `task` (now in `from`) for `why`: its steps in `steps` are cancelled (those that have
/// not started, [`NOT_STARTED`], or also the running ones, [`OPEN`]).
pub(crate) async fn fail_task(
    tx: &mut dyn Tx,
    work: &mut Work,
    task: Uuid,
    from: TaskState,
    why: String,
    steps: &[StepState],
) -> Result<(), EngineError> {
    crate::operate::set_task_state(tx, work, task, from, TaskState::Error, Some(why.clone()))
        .await?;
    cancel_open_steps(tx, work, task, steps, &why).await
}
