//! Child tasks: a step of type `subtask` has no handler. Once its dependencies are done it is
//! `waiting_for_child` (never claimable, so it holds no worker slot) while a task of another
//! template runs; the child's completion completes it with the results of the child's final
//! steps, the child's failure fails it (or, with attempts left, sends it to
//! `waiting_for_retry`; the next attempt is a new child), and cancelling its task cancels the
//! child. See docs/child-tasks.md.
//!
//! Everything is in the database, so nothing is lost when a process dies. The transaction that
//! readies a subtask step (recording the result of its last dependency, or creating its task)
//! also creates its child ([`spawn_waiting`]). The child sweep, which every worker runs (woken
//! by ready steps and finished tasks, and every half second), does the rest, each parent task
//! under its lock: it settles a step whose child finished, starts the next child when a retry's
//! backoff is over, creates the children the readying transaction could not (a delayed start,
//! a step readied by a signal or an operator, or a child that cannot start: the sweep fails
//! the step with the reason), and cancels children whose parent step no longer waits for them.
//!
//! Lock order (PostgreSQL): a transaction that locks a parent and a child locks the parent's
//! task row first. The sweep locks the parent task, then the child task; cancelling a task
//! locks it, then its children (and theirs, ancestors always before descendants); recording a
//! child's step results locks only the child. No transaction locks a child and then its
//! parent, so they cannot deadlock. (A batch of results that holds steps of a parent and of
//! its child locks tasks in uuid order, which is parent first too: task uuids are time-ordered
//! (v7) and a child is always created after its parent.) A conflict (a serialization failure,
//! a busy SQLite file) is retried.

use std::collections::HashMap;

use serde_json::value::RawValue;
use tasker_domain::{
    check_json, decide_failure, ChildContext, FailureDecision, FailureInput, JsonLimits,
    RetryConfig, StepState, TaskState,
};
use tasker_store::{
    run_read, ChildLink, DueChildStep, Signal, StepChange, StepRow, TaskChange, TaskRow, Tx, Uuid,
};

use crate::create::{check, create_in_tx, object_problem, CreateTask, Created};
use crate::operate::set_task_state;
use crate::record::StepError;
use crate::signals::{merge, readied, settle_task, Readied};
use crate::templates::Snapshots;
use crate::work::Work;
use crate::{Engine, EngineError, Retry};

/// The end of the transition reason of a subtask step that starts waiting.
pub(crate) const WAITING_REASON: &str = "waiting for its child task";

/// How deep children may nest: a task at this depth (its root is depth 0) starts no child;
/// the step that would fails. Bounds templates that start each other in a cycle through
/// templates registered by different workers (a cycle within one worker's templates is
/// refused when they are loaded).
pub const MAX_CHILD_DEPTH: i64 = 16;

/// How many subtask steps (and orphaned children) one sweep handles at most.
const SWEEP_BATCH: i64 = 100;

impl Engine {
    /// Run the child sweep once: create the children of subtask steps that wait for one,
    /// settle the subtask steps whose child finished, and cancel unfinished children whose
    /// parent step no longer waits for them. Safe to run from every process at once (each
    /// parent task is locked while its steps are re-read). Returns how many steps and
    /// children it acted on.
    pub async fn settle_child_tasks(&self, worker_id: &str) -> Result<usize, EngineError> {
        let (due, orphans) = run_read(self.store(), |tx| {
            Box::pin(async move {
                let due = tx.due_child_steps(None, SWEEP_BATCH).await?;
                let orphans = tx.orphan_children(SWEEP_BATCH).await?;
                Ok::<_, tasker_store::StoreError>((due, orphans))
            })
        })
        .await
        .map_err(EngineError::from)?;
        let mut tasks: Vec<Uuid> = due.iter().map(|d| d.task_uuid).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let mut acted = 0;
        for task in tasks {
            let limits = *self.json_limits();
            let worker = worker_id.to_string();
            let (n, signals) = self
                .write_retrying(Retry::Conflicts, move |tx, snapshots| {
                    let worker = worker.clone();
                    Box::pin(
                        async move { settle_parent(tx, task, &snapshots, &limits, &worker).await },
                    )
                })
                .await?;
            self.events().emit(&signals);
            acted += n;
        }
        for child in orphans {
            let (n, signals) = self
                .write_retrying(Retry::Conflicts, move |tx, _| {
                    Box::pin(async move {
                        let mut work = Work::default();
                        let n = cancel_orphan(tx, child, &mut work).await?;
                        work.flush(tx).await?;
                        Ok((n, work.signals))
                    })
                })
                .await?;
            self.events().emit(&signals);
            acted += n;
        }
        Ok(acted)
    }
}

/// What [`spawn`] does when a child cannot start.
#[derive(Clone, Copy)]
enum OnProblem {
    /// Fail the step (and its task), with the reason.
    Fail,
    /// Leave the step waiting: the child sweep fails it, with the same reason.
    Leave,
}

/// Create, in the caller's transaction, the children of the subtask steps of `tasks` that
/// wait for a child and have none (they just became ready: the transaction that readies a
/// step creates its child). The tasks are locked by the caller, or new in this transaction. A
/// child that cannot start (or a delayed start) is left to the child sweep, which fails the
/// step with the reason. Returns how many children were created.
pub(crate) async fn spawn_waiting(
    tx: &mut dyn Tx,
    tasks: &std::collections::BTreeSet<Uuid>,
    snapshots: &Snapshots,
    limits: &JsonLimits,
    worker: &str,
    work: &mut Work,
) -> Result<usize, EngineError> {
    let mut created = 0;
    for &task in tasks {
        let Some(row) = tx.task(task).await? else {
            continue;
        };
        if row.state.is_terminal() {
            continue;
        }
        let due: Vec<DueChildStep> = tx
            .due_child_steps(Some(task), SWEEP_BATCH)
            .await?
            .into_iter()
            .filter(|d| d.state == StepState::WaitingForChild && d.child_task_uuid.is_none())
            .collect();
        let mut p = Parent {
            row,
            steps: None,
            completed: Vec::new(),
            failed: None,
            retried: false,
        };
        for d in &due {
            let snapshot = snapshots.load(tx, &d.template_digest).await?;
            let Some((_, def)) = snapshot.step(&d.template_step_name) else {
                continue;
            };
            let label = snapshot.step_label(&d.name);
            if spawn(
                tx,
                &mut p,
                d,
                def,
                &label,
                snapshots,
                limits,
                worker,
                work,
                OnProblem::Leave,
            )
            .await?
            {
                created += 1;
            }
        }
    }
    Ok(created)
}

/// What settling one parent task's subtask steps decided so far.
struct Parent {
    row: TaskRow,
    /// Its steps (read once, for dependency results).
    steps: Option<Vec<StepRow>>,
    /// Subtask steps completed, with their names.
    completed: Vec<(Uuid, String)>,
    /// A step that failed for good: the task's failure.
    failed: Option<String>,
    /// A step went to `waiting_for_retry`.
    retried: bool,
}

/// Settle the due subtask steps of the task `task` (locked first).
async fn settle_parent(
    tx: &mut dyn Tx,
    task: Uuid,
    snapshots: &Snapshots,
    limits: &JsonLimits,
    worker: &str,
) -> Result<(usize, Vec<Signal>), EngineError> {
    let mut work = Work::default();
    let Some(row) = tx.lock_task(task).await? else {
        return Ok((0, work.signals));
    };
    let due = tx.due_child_steps(Some(task), SWEEP_BATCH).await?;
    if due.is_empty() || row.state.is_terminal() {
        return Ok((0, work.signals));
    }
    let mut p = Parent {
        row,
        steps: None,
        completed: Vec::new(),
        failed: None,
        retried: false,
    };
    let mut acted = 0;
    for d in &due {
        if p.failed.is_some() {
            break;
        }
        acted += 1;
        let snapshot = snapshots.load(tx, &d.template_digest).await?;
        let Some((_, def)) = snapshot.step(&d.template_step_name) else {
            let message = format!(
                "step '{}' is not in its task's template {} any more",
                d.name,
                snapshot.template.key()
            );
            fail(tx, &mut p, d, None, message, None, worker, &mut work).await?;
            continue;
        };
        let key = def.subtask.as_ref().map(|s| s.key()).unwrap_or_default();
        match (d.state, d.child_task_uuid, d.child_state) {
            (StepState::WaitingForRetry, _, _) | (StepState::WaitingForChild, None, _) => {
                let label = snapshot.step_label(&d.name);
                spawn(
                    tx,
                    &mut p,
                    d,
                    def,
                    &label,
                    snapshots,
                    limits,
                    worker,
                    &mut work,
                    OnProblem::Fail,
                )
                .await?;
            }
            (StepState::WaitingForChild, Some(child), Some(TaskState::Complete)) => {
                tx.lock_task(child).await?;
                let result = leaf_results(&tx.steps_of(child).await?)?;
                if let Err(problem) = check_json(&result, limits.max_result_bytes, limits.max_depth)
                {
                    let what = match problem {
                        tasker_domain::JsonProblem::TooLarge { bytes, limit } => {
                            format!("is {bytes} bytes; the limit is {limit} bytes (maxResultBytes)")
                        }
                        tasker_domain::JsonProblem::TooDeep { depth, limit } => format!(
                            "is nested {depth} levels deep; the limit is {limit} (maxJsonDepth)"
                        ),
                        tasker_domain::JsonProblem::Invalid(e) => format!("is not valid JSON: {e}"),
                    };
                    let message = format!(
                        "the result of step '{}' (the results of its child task {child}) {what}",
                        d.name
                    );
                    fail(tx, &mut p, d, Some(child), message, None, worker, &mut work).await?;
                    continue;
                }
                tx.change_steps(&[StepChange {
                    step_uuid: d.step_uuid,
                    to: StepState::Complete,
                    expect_claim: None,
                    result: Some(result),
                    error: Some(None),
                    metadata: None,
                    ready_in_ms: None,
                    uncount_attempt: false,
                }])
                .await?;
                work.step(
                    task,
                    d.step_uuid,
                    Some(StepState::WaitingForChild),
                    StepState::Complete,
                    Some(worker),
                    Some(format!(
                        "attempt {} of {}: its child task {child} ({key}) completed",
                        d.attempts, d.max_attempts
                    )),
                );
                p.completed.push((d.step_uuid, d.name.clone()));
            }
            (StepState::WaitingForChild, Some(child), state) => {
                let (message, retry) = match state {
                    Some(TaskState::Error) => {
                        tx.lock_task(child).await?;
                        let why = child_failure(&tx.steps_of(child).await?);
                        (
                            format!("its child task {child} ({key}) failed: {why}"),
                            Some(&def.retry),
                        )
                    }
                    Some(TaskState::Cancelled) => (
                        format!("its child task {child} ({key}) was cancelled"),
                        None,
                    ),
                    _ => (
                        format!("its child task {child} ({key}) no longer exists"),
                        None,
                    ),
                };
                fail(
                    tx,
                    &mut p,
                    d,
                    Some(child),
                    message,
                    retry,
                    worker,
                    &mut work,
                )
                .await?;
            }
            _ => acted -= 1,
        }
    }
    finish_parent(tx, p, worker, &mut work).await?;
    work.flush(tx).await?;
    Ok((acted, work.signals))
}

/// After the parent's due steps were handled: count the completed ones off their dependents
/// and complete the task when every step is done, or fail it, or let it wait for retries.
async fn finish_parent(
    tx: &mut dyn Tx,
    p: Parent,
    _worker: &str,
    work: &mut Work,
) -> Result<(), EngineError> {
    let task = p.row.task_uuid;
    let mut out = Readied::default();
    if !p.completed.is_empty() {
        *out.completed.entry(task).or_default() += p.completed.len() as i64;
        let done: Vec<Uuid> = p.completed.iter().map(|(u, _)| *u).collect();
        let names: HashMap<Uuid, String> = p.completed.iter().cloned().collect();
        let ready = tx.count_down_dependents(&done).await?;
        let more = readied(tx, ready, &names, work).await?;
        merge(&mut out, more);
    }
    if let Some(why) = p.failed {
        // Count what completed before the failure, then fail the task.
        let completed = out.completed.get(&task).copied().unwrap_or(0);
        if completed > 0 {
            tx.count_tasks(&[tasker_store::TaskCounts {
                task_uuid: task,
                completed_delta: completed,
                total_delta: 0,
            }])
            .await?;
        }
        crate::cancel::fail_task(
            tx,
            work,
            task,
            p.row.state,
            why,
            &crate::cancel::NOT_STARTED,
        )
        .await?;
        // Their children are cancelled by the next sweep (they are orphans now).
        work.signal(Signal::StepsReady);
        return Ok(());
    }
    let last = p
        .completed
        .last()
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    let state = settle_task(tx, &p.row, &out, &last, work).await?;
    if p.retried && state == TaskState::StepsInProcess {
        // Nothing ready or running, but a retry due: the task waits for it.
        if let Some(a) = tx.task_activity(&[task]).await?.into_iter().next() {
            if a.active == 0 && a.waiting > 0 {
                set_task_state(
                    tx,
                    work,
                    task,
                    state,
                    TaskState::WaitingForRetry,
                    Some(format!(
                        "no step is running; the next retry is due in {} ms",
                        a.next_due_in_ms.unwrap_or(0)
                    )),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Create the child task of the subtask step `d` (its first, or the next after a retry's
/// backoff). A child that cannot be created (its template is unknown, its context is too
/// large, it would nest too deep) fails the step for good, with a message naming it.
#[allow(clippy::too_many_arguments)]
async fn spawn(
    tx: &mut dyn Tx,
    p: &mut Parent,
    d: &DueChildStep,
    def: &tasker_domain::StepDefinition,
    label: &str,
    snapshots: &Snapshots,
    limits: &JsonLimits,
    worker: &str,
    work: &mut Work,
    problems: OnProblem,
) -> Result<bool, EngineError> {
    let task = p.row.task_uuid;
    // A child that cannot start fails the step (the sweep), or is left to the sweep.
    macro_rules! refuse {
        ($message:expr) => {{
            let message = $message;
            return match problems {
                OnProblem::Fail => fail(tx, p, d, None, message, None, worker, work)
                    .await
                    .map(|()| false),
                OnProblem::Leave => Ok(false),
            };
        }};
    }
    let Some(spec) = &def.subtask else {
        refuse!(format!("{label} names no child template"));
    };
    let family = tx.task_family(task).await?;
    if family.depth + 1 > MAX_CHILD_DEPTH {
        refuse!(format!(
            "{label} cannot start its child task {}: it would be nested {} levels deep, and \
             child tasks nest at most {MAX_CHILD_DEPTH} levels (do templates start each other \
             in a cycle?)",
            spec.key(),
            family.depth + 1
        ));
    }
    if p.steps.is_none() {
        p.steps = Some(tx.steps_of(task).await?);
    }
    let steps = p.steps.as_deref().unwrap_or(&[]);
    let context = match child_context(spec.context, &p.row.context, steps, d.step_uuid) {
        Ok(c) => c,
        Err(e) => refuse!(format!(
            "{label}: the context of its child task {} {e}",
            spec.key()
        )),
    };
    if let Some(problem) = object_problem(
        &context,
        limits.max_context_bytes,
        limits.max_depth,
        "maxContextBytes",
    ) {
        refuse!(format!(
            "{label}: the context of its child task {} {problem}",
            spec.key()
        ));
    }
    let req = CreateTask {
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        version: spec.version.clone(),
        context,
        idempotency_key: None,
        delay_ms: None,
        trace_context: family.trace_context.clone(),
        priority: Some(p.row.priority as f64),
        // A child has its own correlation id; its parent correlation id is its parent's
        // (docs/task-metadata.md).
        metadata: crate::TaskMetadataInput {
            parent_correlation_id: Some(p.row.metadata.correlation_id.clone()),
            ..crate::TaskMetadataInput::default()
        },
        on_duplicate: crate::OnDuplicate::Return,
        // Each run of a subtask step is a new child, whatever the child template's
        // identity_strategy (docs/identity.md).
        always_new: true,
    };
    let checked = match check(req, limits, &String::new) {
        Ok(c) => c,
        Err(e) => refuse!(format!("{label}: {e}")),
    };
    let (created, signals) = match create_in_tx(tx, &[checked], snapshots, false).await {
        Ok(c) => c,
        Err(EngineError::TemplateNotFound(m)) => {
            refuse!(format!("{label} cannot start its child task: {m}"))
        }
        Err(e) => return Err(e),
    };
    for s in signals {
        work.signal(s);
    }
    let Some(Created::New { task: child, .. }) = created.into_iter().next() else {
        return Err(EngineError::Internal(
            "a child task was not created".to_string(),
        ));
    };
    tx.link_children(&[ChildLink {
        child_task_uuid: child,
        parent_task_uuid: task,
        parent_step_uuid: d.step_uuid,
    }])
    .await?;
    let attempt = d.attempts + 1;
    if d.state == StepState::WaitingForRetry {
        tx.change_steps(&[StepChange {
            step_uuid: d.step_uuid,
            to: StepState::WaitingForChild,
            expect_claim: None,
            result: None,
            error: None,
            metadata: None,
            ready_in_ms: None,
            uncount_attempt: false,
        }])
        .await?;
        work.step(
            task,
            d.step_uuid,
            Some(StepState::WaitingForRetry),
            StepState::WaitingForChild,
            Some(worker),
            Some(format!(
                "attempt {attempt} of {}: started child task {child} ({})",
                d.max_attempts,
                spec.key()
            )),
        );
        if p.row.state == TaskState::WaitingForRetry {
            set_task_state(
                tx,
                work,
                task,
                TaskState::WaitingForRetry,
                TaskState::StepsInProcess,
                Some(format!("step '{}' started a new child task", d.name)),
            )
            .await?;
            p.row.state = TaskState::StepsInProcess;
        }
    }
    Ok(true)
}

/// The attempt of the subtask step `d` failed: retry it after its backoff (a new child) when
/// `retry` is given (the failure is retryable) and attempts are left, else fail it and its
/// task.
#[allow(clippy::too_many_arguments)]
async fn fail(
    tx: &mut dyn Tx,
    p: &mut Parent,
    d: &DueChildStep,
    child: Option<Uuid>,
    message: String,
    retry: Option<&RetryConfig>,
    worker: &str,
    work: &mut Work,
) -> Result<(), EngineError> {
    let retryable = retry.is_some();
    let task = p.row.task_uuid;
    let error_type = match (child, retryable) {
        (None, _) => "child_task_not_started",
        (Some(_), true) => "child_task_failed",
        (Some(_), false) => "child_task_cancelled",
    };
    let error = StepError::rejected(error_type, message.clone());
    let mut stored = serde_json::to_value(&error).unwrap_or_default();
    if let Some(obj) = stored.as_object_mut() {
        obj.insert("retryable".into(), retryable.into());
        obj.insert("attempt".into(), d.attempts.into());
        if let Some(c) = child {
            obj.insert("child_task_uuid".into(), c.to_string().into());
        }
    }
    let stored = stored.to_string();
    let decision = match retry.filter(|_| retryable) {
        Some(retry) => decide_failure(&FailureInput {
            retry,
            attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
            retryable: true,
            retry_after_ms: None,
            jitter: rand::random::<f64>(),
        }),
        None => FailureDecision::Permanent {
            reason: "not retried".to_string(),
        },
    };
    match decision {
        FailureDecision::Retry { delay_ms } => {
            tx.change_steps(&[StepChange {
                step_uuid: d.step_uuid,
                to: StepState::WaitingForRetry,
                expect_claim: None,
                result: None,
                error: Some(Some(stored)),
                metadata: None,
                ready_in_ms: Some(i64::try_from(delay_ms).unwrap_or(i64::MAX)),
                uncount_attempt: false,
            }])
            .await?;
            work.step(
                task,
                d.step_uuid,
                Some(d.state),
                StepState::WaitingForRetry,
                Some(worker),
                Some(format!(
                    "attempt {} of {} failed ({error_type}: {message}); a new child task starts \
                     in {delay_ms} ms",
                    d.attempts, d.max_attempts
                )),
            );
            p.retried = true;
        }
        FailureDecision::Permanent { reason } => {
            tx.change_steps(&[StepChange {
                step_uuid: d.step_uuid,
                to: StepState::Error,
                expect_claim: None,
                result: None,
                error: Some(Some(stored)),
                metadata: None,
                ready_in_ms: None,
                uncount_attempt: false,
            }])
            .await?;
            work.step(
                task,
                d.step_uuid,
                Some(d.state),
                StepState::Error,
                Some(worker),
                Some(format!("{reason} ({error_type}: {message})")),
            );
            p.failed = Some(format!("step '{}' failed permanently: {message}", d.name));
        }
    }
    Ok(())
}

/// The context of a child task: the parent's context, its dependency results, or both.
fn child_context(
    how: ChildContext,
    parent_context: &str,
    steps: &[StepRow],
    step: Uuid,
) -> Result<String, String> {
    let deps: Vec<&StepRow> = match steps.iter().find(|s| s.step_uuid == step) {
        Some(me) => steps
            .iter()
            .filter(|s| me.dependencies.contains(&s.name))
            .collect(),
        None => Vec::new(),
    };
    let mut fields: Vec<(String, Box<RawValue>)> = Vec::new();
    if how != ChildContext::Dependencies {
        let parent: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(parent_context).map_err(|e| {
                format!("cannot be built: the parent's context is unreadable ({e})")
            })?;
        for (k, v) in parent {
            let raw = serde_json::value::to_raw_value(&v).map_err(|e| e.to_string())?;
            fields.push((k, raw));
        }
    }
    if how != ChildContext::Parent {
        for dep in deps {
            let text = dep.result.clone().unwrap_or_else(|| "null".to_string());
            let raw = RawValue::from_string(text).map_err(|e| {
                format!(
                    "cannot be built: the result of '{}' is unreadable ({e})",
                    dep.name
                )
            })?;
            fields.retain(|(k, _)| *k != dep.name);
            fields.push((dep.name.clone(), raw));
        }
    }
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    Ok(out)
}

/// The results of a completed child's final steps (those no other step depends on), as an
/// object keyed by step name, in the child's step order.
fn leaf_results(steps: &[StepRow]) -> Result<String, EngineError> {
    let mut out = String::from("{");
    let mut first = true;
    for s in steps {
        if steps.iter().any(|o| o.dependencies.contains(&s.name)) || !s.state.is_done() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        let name = serde_json::to_string(&s.name)
            .map_err(|e| EngineError::Internal(format!("step name: {e}")))?;
        out.push_str(&name);
        out.push(':');
        out.push_str(s.result.as_deref().unwrap_or("null"));
    }
    out.push('}');
    Ok(out)
}

/// Why a failed child failed: its first failed step and that step's error message.
fn child_failure(steps: &[StepRow]) -> String {
    let Some(s) = steps.iter().find(|s| s.state == StepState::Error) else {
        return "it is in error".to_string();
    };
    let message = s
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no error message".to_string());
    format!("step '{}' failed: {message}", s.name)
}

/// Cancel the unfinished child task `child` (and its children) if its parent step no longer
/// waits for it. Returns how many tasks were cancelled.
async fn cancel_orphan(
    tx: &mut dyn Tx,
    child: Uuid,
    work: &mut Work,
) -> Result<usize, EngineError> {
    let family = tx.task_family(child).await?;
    let (Some(parent), Some(_)) = (family.parent_task_uuid, family.parent_step_uuid) else {
        return Ok(0);
    };
    // Parent first (the lock order), then re-read, under its lock, whether the step still
    // waits for this child (only a transaction holding the parent's lock changes its steps).
    tx.lock_task(parent).await?;
    if !tx.orphan_children(SWEEP_BATCH).await?.contains(&child) {
        return Ok(0);
    }
    let name = family.parent_step_name.unwrap_or_else(|| "?".to_string());
    let why = format!("its parent step '{name}' of task {parent} no longer waits for it");
    cancel_tree(tx, child, &why, work).await
}

/// Cancel the task `task` (locked here) unless it is finished, and then its unfinished
/// children, depth first (each task locked before its children). Returns how many tasks were
/// cancelled.
pub(crate) async fn cancel_tree(
    tx: &mut dyn Tx,
    task: Uuid,
    why: &str,
    work: &mut Work,
) -> Result<usize, EngineError> {
    let mut stack = vec![(task, why.to_string())];
    let mut n = 0;
    while let Some((t, why)) = stack.pop() {
        let Some(row) = tx.lock_task(t).await? else {
            continue;
        };
        if !row.state.is_terminal() {
            tx.change_tasks(&[TaskChange {
                task_uuid: t,
                to: TaskState::Cancelled,
                expect: Some(row.state),
            }])
            .await?;
            work.task(t, Some(row.state), TaskState::Cancelled, Some(why.clone()));
            crate::cancel::cancel_open_steps(tx, work, t, &crate::cancel::OPEN, &why).await?;
            work.signal(Signal::TaskCancelled(t));
            n += 1;
        }
        let mut children: Vec<Uuid> = tx
            .task_family(t)
            .await?
            .children
            .into_iter()
            .filter(|c| !c.state.is_terminal())
            .map(|c| c.task_uuid)
            .collect();
        children.sort_unstable();
        // Popped in uuid order.
        for c in children.into_iter().rev() {
            stack.push((c, format!("its parent task {t} was cancelled")));
        }
    }
    Ok(n)
}
