//! Signal steps: a step of type `signal` has no handler. Once its dependencies are done it is
//! `waiting_for_signal` (never claimable) until `send_signal` completes it with the signal's
//! payload as its result, its timeout fails it (or completes it with its `on_timeout`
//! result), or its task is cancelled.
//!
//! Every signal is stored, one per (task, step name), in the transaction that receives it: a
//! signal sent before its step waits is kept and applied in the transaction in which the step
//! starts waiting, so none is lost whichever process makes the step ready; a second signal to
//! the same step is refused. Deadlines are in the database (`ready_at` of the waiting step),
//! and every worker sweeps the ones that passed: each task is locked while its due steps are
//! re-read and settled, so with several processes each timeout is applied exactly once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tasker_domain::{echo, StepDefinition, StepState, StepType, TaskState};
use tasker_store::{
    run_read, run_write, NewSignal, ReadyStep, Signal, StepChange, TaskCounts, TaskRow, Tx, Uuid,
};

use crate::create::object_problem;
use crate::operate::set_task_state;
use crate::views::iso8601;
use crate::work::Work;
use crate::{Engine, EngineError};

/// How many due signal steps one sweep settles at most.
const SWEEP_BATCH: i64 = 100;

/// What [`Engine::send_signal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSent {
    /// The signal completed its step now; `false`: the step does not wait yet (or its task is
    /// in error), and the signal is kept and applied when it starts waiting.
    pub applied: bool,
    /// The step's state afterwards.
    pub step_state: StepState,
    /// The task's state afterwards.
    pub task_state: TaskState,
    /// When the signal was received (ms since the epoch, database clock).
    pub received_at: i64,
}

/// The transition reason of a signal step that starts waiting.
pub(crate) fn waiting_reason(def: &StepDefinition, why: &str) -> String {
    match (def.timeout_seconds, &def.on_timeout_result) {
        (Some(t), Some(_)) => format!(
            "{why}; waiting for a signal (for {t} s, then it completes with its on_timeout result)"
        ),
        (Some(t), None) => format!("{why}; waiting for a signal (for {t} s, then it fails)"),
        (None, _) => format!("{why}; waiting for a signal"),
    }
}

/// What making steps ready did, beyond the transitions it recorded.
#[derive(Default)]
pub(crate) struct Readied {
    /// Steps completed by stored signals, per task (to add to the task's completed count).
    pub completed: BTreeMap<Uuid, i64>,
    /// The handler callables of the steps enqueued.
    pub enqueued_callables: Vec<String>,
    /// The tasks that got a step enqueued.
    pub enqueued_tasks: HashSet<Uuid>,
    /// The tasks that got a subtask step waiting for a child (to create in the same
    /// transaction where the caller can, see `children::spawn_waiting`).
    pub waiting_children: BTreeSet<Uuid>,
}

/// A waiting signal step to complete with `result`.
struct Completion {
    task_uuid: Uuid,
    step_uuid: Uuid,
    name: String,
    result: String,
    reason: String,
}

/// Record the steps a count-down just made ready (`names`: the names of the steps they
/// waited for). Signal steps among them that have a stored signal complete with it at once,
/// and what that makes ready is handled the same way, until nothing more completes.
pub(crate) async fn readied(
    tx: &mut dyn Tx,
    ready: Vec<ReadyStep>,
    names: &HashMap<Uuid, String>,
    work: &mut Work,
) -> Result<Readied, EngineError> {
    let mut out = Readied::default();
    let mut names = names.clone();
    let mut ready = ready;
    while !ready.is_empty() {
        let mut waiting = Vec::new();
        for r in &ready {
            let last = names.get(&r.after).map(String::as_str).unwrap_or("?");
            let why = format!("dependencies complete (last: '{last}')");
            if r.state == StepState::WaitingForSignal {
                work.step(
                    r.task_uuid,
                    r.step_uuid,
                    Some(StepState::Pending),
                    StepState::WaitingForSignal,
                    None,
                    Some(format!("{why}; waiting for a signal")),
                );
                waiting.push((r.task_uuid, r.step_uuid, r.name.clone()));
            } else if r.state == StepState::WaitingForChild {
                work.step(
                    r.task_uuid,
                    r.step_uuid,
                    Some(StepState::Pending),
                    StepState::WaitingForChild,
                    None,
                    Some(format!("{why}; {}", crate::children::WAITING_REASON)),
                );
                // Wakes the child sweep, which creates the child; the step counts as active.
                work.signal(Signal::StepsReady);
                out.enqueued_tasks.insert(r.task_uuid);
                out.waiting_children.insert(r.task_uuid);
            } else {
                work.step(
                    r.task_uuid,
                    r.step_uuid,
                    Some(StepState::Pending),
                    StepState::Enqueued,
                    None,
                    Some(why),
                );
                out.enqueued_callables.push(r.handler_callable.clone());
                out.enqueued_tasks.insert(r.task_uuid);
                work.signal(Signal::StepsReady);
            }
        }
        let completions = stored_for(tx, &waiting).await?;
        for c in &completions {
            names.insert(c.step_uuid, c.name.clone());
        }
        ready = complete(tx, completions, &mut out, work).await?;
    }
    Ok(out)
}

/// Signal steps (task, step, name) that just started waiting outside a count-down (an
/// operator's retry reopened them): those with a stored signal complete with it at once, and
/// what that makes ready is handled as in [`readied`].
pub(crate) async fn start_waiting(
    tx: &mut dyn Tx,
    waiting: &[(Uuid, Uuid, String)],
    work: &mut Work,
) -> Result<Readied, EngineError> {
    let mut out = Readied::default();
    let completions = stored_for(tx, waiting).await?;
    let names: HashMap<Uuid, String> = completions
        .iter()
        .map(|c| (c.step_uuid, c.name.clone()))
        .collect();
    let ready = complete(tx, completions, &mut out, work).await?;
    let more = readied(tx, ready, &names, work).await?;
    merge(&mut out, more);
    Ok(out)
}

/// The waiting steps (task, step, name) that have a stored signal not yet applied, as
/// completions; their signals are marked applied.
async fn stored_for(
    tx: &mut dyn Tx,
    waiting: &[(Uuid, Uuid, String)],
) -> Result<Vec<Completion>, EngineError> {
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(Uuid, String)> = waiting.iter().map(|(t, _, n)| (*t, n.clone())).collect();
    let stored: Vec<_> = tx
        .signals_of(&keys)
        .await?
        .into_iter()
        .filter(|s| s.applied_at.is_none())
        .collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let applied: Vec<(Uuid, String)> = stored
        .iter()
        .map(|s| (s.task_uuid, s.step_name.clone()))
        .collect();
    tx.apply_signals(&applied).await?;
    Ok(stored
        .into_iter()
        .filter_map(|s| {
            let (_, step, _) = waiting
                .iter()
                .find(|(t, _, n)| *t == s.task_uuid && *n == s.step_name)?;
            Some(Completion {
                task_uuid: s.task_uuid,
                step_uuid: *step,
                name: s.step_name,
                result: s.payload,
                reason: format!(
                    "completed by the signal received at {} (before the step waited)",
                    iso8601(s.received_at)
                ),
            })
        })
        .collect())
}

/// Complete waiting signal steps and count them off their dependents; returns the
/// dependents that became ready (not yet recorded).
async fn complete(
    tx: &mut dyn Tx,
    completions: Vec<Completion>,
    out: &mut Readied,
    work: &mut Work,
) -> Result<Vec<ReadyStep>, EngineError> {
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let changes: Vec<StepChange> = completions
        .iter()
        .map(|c| StepChange {
            step_uuid: c.step_uuid,
            to: StepState::Complete,
            expect_claim: None,
            result: Some(c.result.clone()),
            error: Some(None),
            metadata: None,
            ready_in_ms: None,
            uncount_attempt: false,
        })
        .collect();
    tx.change_steps(&changes).await?;
    for c in &completions {
        work.step(
            c.task_uuid,
            c.step_uuid,
            Some(StepState::WaitingForSignal),
            StepState::Complete,
            None,
            Some(c.reason.clone()),
        );
        *out.completed.entry(c.task_uuid).or_default() += 1;
    }
    let done: Vec<Uuid> = completions.iter().map(|c| c.step_uuid).collect();
    Ok(tx.count_down_dependents(&done).await?)
}

/// After steps of the locked task `row` were completed outside the record path: add them to
/// its count, wake it if it waited only for retries and a step is now ready, and complete it
/// when every step is done.
pub(crate) async fn settle_task(
    tx: &mut dyn Tx,
    row: &TaskRow,
    readied: &Readied,
    last: &str,
    work: &mut Work,
) -> Result<TaskState, EngineError> {
    let task = row.task_uuid;
    let completed = readied.completed.get(&task).copied().unwrap_or(0);
    if completed > 0 {
        tx.count_tasks(&[TaskCounts {
            task_uuid: task,
            completed_delta: completed,
            total_delta: 0,
        }])
        .await?;
    }
    let mut state = row.state;
    if state.is_terminal() {
        return Ok(state);
    }
    let all_done = row.completed_steps + completed >= row.total_steps;
    let woken = readied.enqueued_tasks.contains(&task) || all_done;
    if matches!(state, TaskState::WaitingForRetry | TaskState::Pending) && woken {
        set_task_state(tx, work, task, state, TaskState::StepsInProcess, None).await?;
        state = TaskState::StepsInProcess;
    }
    if all_done {
        let why = format!("all {} steps complete (last: '{last}')", row.total_steps);
        set_task_state(tx, work, task, state, TaskState::Complete, Some(why)).await?;
        state = TaskState::Complete;
    }
    Ok(state)
}

impl Engine {
    /// Send a signal to the signal step `step_name` of a task: its payload (a JSON object)
    /// becomes the step's result. A step waiting for it completes now and its dependents
    /// run; a step that does not wait yet keeps the signal and completes with it as soon as
    /// it starts waiting. Refused for an unknown task or step, a step that is not a signal
    /// step, a step that already received a signal (or completed by its timeout), and a task
    /// that is complete or cancelled.
    pub async fn send_signal(
        &self,
        task_uuid: &str,
        step_name: &str,
        payload: String,
    ) -> Result<SignalSent, EngineError> {
        let missing = format!("task {} does not exist", echo(task_uuid));
        let task =
            Uuid::parse_str(task_uuid).map_err(|_| EngineError::TaskNotFound(missing.clone()))?;
        let not_found = move || EngineError::TaskNotFound(missing.clone());
        let limits = *self.json_limits();
        if let Some(problem) = object_problem(
            &payload,
            limits.max_result_bytes,
            limits.max_depth,
            "maxResultBytes",
        ) {
            return Err(EngineError::InvalidArgument(format!(
                "the signal payload for step '{}' {problem}",
                echo(step_name)
            )));
        }
        let step_name = step_name.to_string();
        let snapshots = self.snapshots_arc();
        let (sent, signals) = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let Some(row) = tx.lock_task(task).await? else {
                    return Err(not_found());
                };
                let steps = tx.steps_of(task).await?;
                let Some(step) = steps.iter().find(|s| s.name == step_name) else {
                    let mut names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                    names.sort_unstable();
                    let mut signal: Vec<&str> = steps
                        .iter()
                        .filter(|s| s.step_type == StepType::Signal)
                        .map(|s| s.name.as_str())
                        .collect();
                    signal.sort_unstable();
                    let which = if signal.is_empty() {
                        "none of them is a signal step".to_string()
                    } else {
                        format!("signal steps: {}", signal.join(", "))
                    };
                    return Err(EngineError::InvalidArgument(format!(
                        "task {task} has no step '{}' (its steps: {}; {which})",
                        echo(&step_name),
                        names.join(", ")
                    )));
                };
                let name = step.name.clone();
                if step.step_type != StepType::Signal {
                    return Err(EngineError::InvalidArgument(format!(
                        "step '{name}' of task {task} is a {} step, not a signal step: only a \
                         step of type signal takes signals",
                        step.step_type.as_str()
                    )));
                }
                let key = [(task, name.clone())];
                if let Some(first) = tx.signals_of(&key).await?.into_iter().next() {
                    let when = iso8601(first.received_at);
                    let status = match first.applied_at {
                        Some(_) => format!("it is {}", step.state.as_str()),
                        None => "it is kept until the step waits".to_string(),
                    };
                    return Err(EngineError::InvalidState(format!(
                        "step '{name}' of task {task} already received a signal (at {when}; \
                         {status}): a signal step takes one signal"
                    )));
                }
                if matches!(row.state, TaskState::Complete | TaskState::Cancelled) {
                    return Err(EngineError::InvalidState(format!(
                        "task {task} is {}: its steps take no more signals",
                        row.state.as_str()
                    )));
                }
                if step.state == StepState::Complete {
                    return Err(EngineError::InvalidState(format!(
                        "step '{name}' of task {task} is already complete: no signal arrived \
                         within its timeout and it completed with its on_timeout result"
                    )));
                }
                let mut work = Work::default();
                let applied = step.state == StepState::WaitingForSignal;
                let received_at = tx
                    .insert_signal(&NewSignal {
                        task_uuid: task,
                        step_name: name.clone(),
                        payload: payload.clone(),
                        applied,
                    })
                    .await?;
                let (step_state, task_state) = if applied {
                    let mut out = Readied::default();
                    let completion = Completion {
                        task_uuid: task,
                        step_uuid: step.step_uuid,
                        name: name.clone(),
                        result: payload,
                        reason: "completed by a signal".to_string(),
                    };
                    let ready = complete(tx, vec![completion], &mut out, &mut work).await?;
                    let names = HashMap::from([(step.step_uuid, name.clone())]);
                    let more = readied(tx, ready, &names, &mut work).await?;
                    merge(&mut out, more);
                    let state = settle_task(tx, &row, &out, &name, &mut work).await?;
                    // The children of the subtask steps the signal made ready, here too.
                    crate::children::spawn_waiting(
                        tx,
                        &out.waiting_children,
                        &snapshots,
                        &limits,
                        "sendSignal",
                        &mut work,
                    )
                    .await?;
                    (StepState::Complete, state)
                } else {
                    (step.state, row.state)
                };
                work.flush(tx).await?;
                let sent = SignalSent {
                    applied,
                    step_state,
                    task_state,
                    received_at,
                };
                Ok::<_, EngineError>((sent, work.signals))
            })
        })
        .await?;
        self.events().emit(&signals);
        Ok(sent)
    }

    /// Settle the signal steps whose deadline passed: each fails (and its task with it), or,
    /// with an `on_timeout` result, completes with it. Safe to run from every process at
    /// once (each task is locked while its due steps are re-read). Returns how many steps
    /// were settled.
    pub async fn expire_signal_waits(&self, worker_id: &str) -> Result<usize, EngineError> {
        let due = run_read(self.store(), |tx| {
            Box::pin(async move { tx.due_signal_waits(None, SWEEP_BATCH).await })
        })
        .await
        .map_err(EngineError::from)?;
        let mut tasks: Vec<Uuid> = due.iter().map(|d| d.task_uuid).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let mut settled = 0;
        for task in tasks {
            let snapshots = self.snapshots_arc();
            let worker = worker_id.to_string();
            let (n, signals) = run_write(self.store(), move |tx| {
                Box::pin(async move {
                    let mut work = Work::default();
                    let Some(row) = tx.lock_task(task).await? else {
                        return Ok::<_, EngineError>((0, work.signals));
                    };
                    let due = tx.due_signal_waits(Some(task), SWEEP_BATCH).await?;
                    if due.is_empty() {
                        return Ok((0, work.signals));
                    }
                    let mut completions = Vec::new();
                    let mut failures = Vec::new();
                    for d in &due {
                        let snapshot = snapshots.load(tx, &d.template_digest).await?;
                        let def = snapshot.step(&d.template_step_name).map(|(_, def)| def);
                        let seconds = def.and_then(|d| d.timeout_seconds).unwrap_or(0.0);
                        match def.and_then(|d| d.on_timeout_result.as_ref()) {
                            Some(result) => completions.push(Completion {
                                task_uuid: task,
                                step_uuid: d.step_uuid,
                                name: d.name.clone(),
                                result: result.to_string(),
                                reason: format!(
                                    "no signal within {seconds} s: completed with its \
                                     on_timeout result"
                                ),
                            }),
                            None => failures.push((d, seconds)),
                        }
                    }
                    let n = completions.len() + failures.len();
                    let last = due.last().map(|d| d.name.clone()).unwrap_or_default();
                    let mut out = Readied::default();
                    let names: HashMap<Uuid, String> = completions
                        .iter()
                        .map(|c| (c.step_uuid, c.name.clone()))
                        .collect();
                    let ready = complete(tx, completions, &mut out, &mut work).await?;
                    let more = readied(tx, ready, &names, &mut work).await?;
                    merge(&mut out, more);
                    if failures.is_empty() {
                        settle_task(tx, &row, &out, &last, &mut work).await?;
                    } else {
                        fail_on_timeout(tx, &row, &out, &failures, &worker, &mut work).await?;
                    }
                    work.flush(tx).await?;
                    Ok((n, work.signals))
                })
            })
            .await?;
            self.events().emit(&signals);
            settled += n;
        }
        Ok(settled)
    }
}

/// Fail the signal steps whose timeout passed without an `on_timeout` result, and their task
/// with them (its steps that have not started are cancelled, as for any permanent failure).
async fn fail_on_timeout(
    tx: &mut dyn Tx,
    row: &TaskRow,
    out: &Readied,
    failures: &[(&tasker_store::DueSignalWait, f64)],
    worker: &str,
    work: &mut Work,
) -> Result<(), EngineError> {
    let task = row.task_uuid;
    let mut changes = Vec::new();
    let mut first_message = None;
    for (d, seconds) in failures {
        let message = format!("no signal received within {seconds} s");
        let error = serde_json::json!({
            "message": message,
            "error_type": "signal_timeout",
            "retryable": false,
        });
        changes.push(StepChange {
            step_uuid: d.step_uuid,
            to: StepState::Error,
            expect_claim: None,
            result: None,
            error: Some(Some(error.to_string())),
            metadata: None,
            ready_in_ms: None,
            uncount_attempt: false,
        });
        work.step(
            task,
            d.step_uuid,
            Some(StepState::WaitingForSignal),
            StepState::Error,
            Some(worker),
            Some(format!("{message} (signal_timeout)")),
        );
        first_message.get_or_insert_with(|| format!("step '{}' failed: {message}", d.name));
    }
    tx.change_steps(&changes).await?;
    let completed = out.completed.get(&task).copied().unwrap_or(0);
    if completed > 0 {
        tx.count_tasks(&[TaskCounts {
            task_uuid: task,
            completed_delta: completed,
            total_delta: 0,
        }])
        .await?;
    }
    if row.state.is_terminal() {
        return Ok(());
    }
    let why = first_message.unwrap_or_default();
    crate::cancel::fail_task(tx, work, task, row.state, why, &crate::cancel::NOT_STARTED).await
}

pub(crate) fn merge(into: &mut Readied, more: Readied) {
    for (t, n) in more.completed {
        *into.completed.entry(t).or_default() += n;
    }
    into.enqueued_callables.extend(more.enqueued_callables);
    into.enqueued_tasks.extend(more.enqueued_tasks);
    into.waiting_children.extend(more.waiting_children);
}
