//! What an operator does to tasks by hand: run a failed task again, complete a failed or stuck
//! step with a result of their own, and delete finished tasks. Every change is audited in the
//! transitions, with the reason given.

use std::collections::HashMap;
use std::time::Duration;

use tasker_domain::{echo, StepState, StepType, TaskState};
use tasker_store::{
    run_write, PruneFilter, Signal, StepChange, StepRow, TaskChange, TaskCounts, TaskRow, Tx, Uuid,
};

use crate::create::object_problem;
use crate::views::TaskView;
use crate::work::Work;
use crate::{Engine, EngineError};

/// How many tasks one pruning transaction deletes.
pub const PRUNE_BATCH: i64 = 500;

/// What [`Engine::prune`] deletes: finished tasks in `states` that finished at least
/// `older_than` ago.
#[derive(Debug, Clone)]
pub struct Prune {
    pub older_than: Duration,
    /// Terminal states only; empty means all of them (`complete`, `error`, `cancelled`).
    pub states: Vec<TaskState>,
}

impl Engine {
    /// Run a task in `error` again: its failed steps, and the steps its failure cancelled, are
    /// reopened with their attempts starting over; completed steps keep their results. Refused
    /// for a task in any other state.
    pub async fn retry_task(&self, task_uuid: &str) -> Result<TaskView, EngineError> {
        let task = parse_task(task_uuid)?;
        let signals = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let row = locked_task(tx, task).await?;
                if row.state != TaskState::Error {
                    return Err(EngineError::InvalidState(format!(
                        "task {task} is {}: only a task in error can be retried{}",
                        row.state.as_str(),
                        match row.state {
                            TaskState::Complete => "",
                            TaskState::Cancelled => " (a cancelled task stays cancelled)",
                            _ => " (it is still running)",
                        }
                    )));
                }
                let steps = tx.steps_of(task).await?;
                let failed: Vec<&StepRow> = steps
                    .iter()
                    .filter(|s| s.state == StepState::Error)
                    .collect();
                let mut work = Work::default();
                let names: Vec<String> = failed.iter().map(|s| format!("'{}'", s.name)).collect();
                // A task failed by a lifecycle limit or a child has no failed step of its own.
                let why = if names.is_empty() {
                    "retried by an operator".to_string()
                } else {
                    format!("retried by an operator (failed: {})", names.join(", "))
                };
                let completed = leave_error(tx, &mut work, &row, &steps, &why).await?;
                if completed > 0 && row.completed_steps + completed >= row.total_steps {
                    // Stored signals completed every step that was left.
                    set_task_state(
                        tx,
                        &mut work,
                        task,
                        TaskState::StepsInProcess,
                        TaskState::Complete,
                        Some("all steps done (the last by stored signals)".to_string()),
                    )
                    .await?;
                }
                work.flush(tx).await?;
                Ok::<_, EngineError>(work.signals)
            })
        })
        .await?;
        self.events().emit(&signals);
        self.view(task_uuid).await
    }

    /// Complete a failed or stuck step by hand with `result` (a JSON object): the step becomes
    /// `resolved_manually` and its dependents run as if it had completed. A worker still
    /// running it loses its claim (its handler is aborted and its result ignored). When it was
    /// the task's only failed step, the task leaves `error` and goes on.
    pub async fn resolve_step(
        &self,
        task_uuid: &str,
        step_name: &str,
        result: String,
        reason: Option<&str>,
    ) -> Result<TaskView, EngineError> {
        let task = parse_task(task_uuid)?;
        let limits = *self.json_limits();
        if let Some(problem) = object_problem(
            &result,
            limits.max_result_bytes,
            limits.max_depth,
            "maxResultBytes",
        ) {
            return Err(EngineError::InvalidArgument(format!(
                "the result for step '{}' {problem}",
                echo(step_name)
            )));
        }
        let step_name = step_name.to_string();
        let reason = reason.map(str::to_string);
        let signals = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let row = locked_task(tx, task).await?;
                if matches!(row.state, TaskState::Complete | TaskState::Cancelled) {
                    return Err(EngineError::InvalidState(format!(
                        "task {task} is {}: its steps can no longer be resolved",
                        row.state.as_str()
                    )));
                }
                let steps = tx.steps_of(task).await?;
                let Some(step) = steps.iter().find(|s| s.name == step_name) else {
                    let mut names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                    names.sort_unstable();
                    return Err(EngineError::InvalidArgument(format!(
                        "task {task} has no step '{}' (its steps: {})",
                        echo(&step_name),
                        names.join(", ")
                    )));
                };
                check_resolvable(step)?;
                let mut work = Work::default();
                let why = reason.unwrap_or_else(|| "resolved manually by an operator".to_string());
                tx.change_steps(&[StepChange {
                    step_uuid: step.step_uuid,
                    to: StepState::ResolvedManually,
                    expect_claim: None,
                    result: Some(result),
                    error: None,
                    metadata: None,
                    ready_in_ms: None,
                    uncount_attempt: false,
                }])
                .await?;
                work.step(
                    task,
                    step.step_uuid,
                    Some(step.state),
                    StepState::ResolvedManually,
                    None,
                    Some(why.clone()),
                );
                // A worker still running it finds its claim gone when it next renews its
                // lease, aborts the handler, and its late result is ignored as stale.
                let ready = tx.count_down_dependents(&[step.step_uuid]).await?;
                let names = HashMap::from([(step.step_uuid, step.name.clone())]);
                // Signal steps among them wait; those with a stored signal complete at once.
                let readied = crate::signals::readied(tx, ready, &names, &mut work).await?;
                let mut completed = 1 + readied.completed.get(&task).copied().unwrap_or(0);
                tx.count_tasks(&[TaskCounts {
                    task_uuid: task,
                    completed_delta: completed,
                    total_delta: 0,
                }])
                .await?;
                let mut state = row.state;
                let other_failures = steps
                    .iter()
                    .any(|s| s.state == StepState::Error && s.step_uuid != step.step_uuid);
                if state == TaskState::Error && !other_failures {
                    let why = format!("step '{}' {why}", step.name);
                    completed += leave_error(tx, &mut work, &row, &steps, &why).await?;
                    state = TaskState::StepsInProcess;
                } else if state == TaskState::WaitingForRetry
                    && work.signals.contains(&Signal::StepsReady)
                {
                    set_task_state(tx, &mut work, task, state, TaskState::StepsInProcess, None)
                        .await?;
                    state = TaskState::StepsInProcess;
                }
                if state != TaskState::Error && row.completed_steps + completed >= row.total_steps {
                    if state == TaskState::WaitingForRetry {
                        set_task_state(tx, &mut work, task, state, TaskState::StepsInProcess, None)
                            .await?;
                        state = TaskState::StepsInProcess;
                    }
                    set_task_state(
                        tx,
                        &mut work,
                        task,
                        state,
                        TaskState::Complete,
                        Some(format!(
                            "all steps done (last: '{}', resolved manually)",
                            step.name
                        )),
                    )
                    .await?;
                }
                work.flush(tx).await?;
                Ok::<_, EngineError>(work.signals)
            })
        })
        .await?;
        self.events().emit(&signals);
        self.view(task_uuid).await
    }

    /// Delete finished tasks (with their steps, edges and transitions) that finished at least
    /// `older_than` ago, [`PRUNE_BATCH`] per transaction so that no transaction grows large.
    /// Returns how many tasks were deleted.
    pub async fn prune(&self, prune: Prune) -> Result<u64, EngineError> {
        let states = if prune.states.is_empty() {
            vec![TaskState::Complete, TaskState::Error, TaskState::Cancelled]
        } else {
            prune.states
        };
        if let Some(open) = states.iter().find(|s| !s.is_terminal()) {
            return Err(EngineError::InvalidArgument(format!(
                "prune deletes finished tasks only: '{}' is not a finished state (use complete, \
                 error or cancelled)",
                open.as_str()
            )));
        }
        let finished_ms_ago = i64::try_from(prune.older_than.as_millis()).unwrap_or(i64::MAX);
        let filter = PruneFilter {
            states,
            finished_ms_ago,
            limit: PRUNE_BATCH,
        };
        let mut deleted = 0;
        loop {
            let f = filter.clone();
            let n = run_write(self.store(), move |tx| {
                Box::pin(async move { Ok::<_, EngineError>(tx.prune_tasks(&f).await?) })
            })
            .await?;
            deleted += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    async fn view(&self, task_uuid: &str) -> Result<TaskView, EngineError> {
        self.get_task(task_uuid, true)
            .await?
            .ok_or_else(|| not_found(task_uuid))
    }
}

fn not_found(task_uuid: &str) -> EngineError {
    EngineError::TaskNotFound(format!("task {} does not exist", echo(task_uuid)))
}

fn parse_task(task_uuid: &str) -> Result<Uuid, EngineError> {
    Uuid::parse_str(task_uuid).map_err(|_| not_found(task_uuid))
}

async fn locked_task(tx: &mut dyn Tx, task: Uuid) -> Result<TaskRow, EngineError> {
    tx.lock_task(task)
        .await?
        .ok_or_else(|| not_found(&task.to_string()))
}

/// Only a step that failed or never finished can be resolved, and only one whose result
/// creates no steps.
fn check_resolvable(step: &StepRow) -> Result<(), EngineError> {
    let name = &step.name;
    match step.state {
        StepState::Error
        | StepState::InProgress
        | StepState::Enqueued
        | StepState::WaitingForRetry => {}
        StepState::Pending => {
            return Err(EngineError::InvalidState(format!(
                "step '{name}' is pending: it waits for its dependencies, which must finish (or \
                 be resolved) first"
            )))
        }
        StepState::Complete | StepState::ResolvedManually => {
            return Err(EngineError::InvalidState(format!(
                "step '{name}' is already {}",
                step.state.as_str()
            )))
        }
        StepState::Cancelled => {
            return Err(EngineError::InvalidState(format!(
                "step '{name}' was cancelled by its task's failure: resolve the failed step, or \
                 retry the task"
            )))
        }
        StepState::WaitingForSignal => {
            return Err(EngineError::InvalidState(format!(
                "step '{name}' is waiting for a signal: send it one (client.sendSignal or \
                 `tasker steps signal`) to complete it"
            )))
        }
        StepState::WaitingForChild => {
            return Err(EngineError::InvalidState(format!(
                "step '{name}' is waiting for its child task: it completes when the child \
                 completes (cancel the child to fail it)"
            )))
        }
    }
    let creates = match step.step_type {
        StepType::Decision => Some("a decision point"),
        StepType::Batchable => Some("a batchable step"),
        _ => None,
    };
    if let Some(kind) = creates {
        return Err(EngineError::InvalidState(format!(
            "step '{name}' is {kind}: its result creates steps, which a result given by hand \
             cannot do; fix its cause and retry the task instead"
        )));
    }
    Ok(())
}

/// Take a task out of `error`: reopen its failed steps and the steps its failure cancelled,
/// and put it back in `steps_in_process`. Reopened signal steps wait again; those that have
/// a stored signal complete with it (counted on the task). Returns how many steps that
/// completed.
async fn leave_error(
    tx: &mut dyn Tx,
    work: &mut Work,
    row: &TaskRow,
    steps: &[StepRow],
    why: &str,
) -> Result<i64, EngineError> {
    let task = row.task_uuid;
    let reopen: Vec<Uuid> = steps
        .iter()
        .filter(|s| matches!(s.state, StepState::Error | StepState::Cancelled))
        .map(|s| s.step_uuid)
        .collect();
    let mut waiting = Vec::new();
    for r in tx.reopen_steps(&reopen).await? {
        work.step(
            task,
            r.step_uuid,
            Some(r.from),
            r.to,
            None,
            Some(why.to_string()),
        );
        if matches!(r.to, StepState::Enqueued | StepState::WaitingForChild) {
            // A reopened subtask step gets a new child from the child sweep.
            work.signal(Signal::StepsReady);
        }
        if r.to == StepState::WaitingForSignal {
            if let Some(s) = steps.iter().find(|s| s.step_uuid == r.step_uuid) {
                waiting.push((task, r.step_uuid, s.name.clone()));
            }
        }
    }
    set_task_state(
        tx,
        work,
        task,
        TaskState::Error,
        TaskState::StepsInProcess,
        Some(why.to_string()),
    )
    .await?;
    let readied = crate::signals::start_waiting(tx, &waiting, work).await?;
    let completed = readied.completed.get(&task).copied().unwrap_or(0);
    if completed > 0 {
        tx.count_tasks(&[TaskCounts {
            task_uuid: task,
            completed_delta: completed,
            total_delta: 0,
        }])
        .await?;
    }
    Ok(completed)
}

/// Move a locked task from `from` to `to`, recording the transition (with `why`).
pub(crate) async fn set_task_state(
    tx: &mut dyn Tx,
    work: &mut Work,
    task: Uuid,
    from: TaskState,
    to: TaskState,
    why: Option<String>,
) -> Result<(), EngineError> {
    let changed = tx
        .change_tasks(&[TaskChange {
            task_uuid: task,
            to,
            expect: Some(from),
        }])
        .await?;
    if changed.len() != 1 {
        return Err(EngineError::Internal(format!(
            "task {task} changed state while locked"
        )));
    }
    work.task(task, Some(from), to, why);
    Ok(())
}
