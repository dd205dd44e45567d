//! Recording step results, a batch at a time, in one transaction: successes make dependents
//! ready (no timer), decision and batch outcomes create their steps, failures go through the
//! step's own retry rules, and tasks are finalised.
//!
//! The batch is read once (the claimed steps and their tasks, locked), decided in Rust with
//! the same sequential semantics as recording the results one by one (a task that fails in
//! the batch is already failed for the results after it), then written back with a fixed
//! handful of batched store operations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tasker_domain::{
    cap_stack, check_json, decide_failure, ExpansionLimits, FailureDecision, FailureInput,
    JsonLimits, JsonProblem, StepDefinition, StepState, TaskState, MAX_STACK_BYTES,
};
use tasker_store::{
    Edge, LockedStep, NewStep, ReadyStep, Signal, StepChange, TaskActivity, TaskChange, TaskCounts,
    TaskStepState, Tx, Uuid,
};

use crate::claim::{claim_in_tx, finish_claims, ClaimRequest, Claimed, ClaimedStep};
use crate::expand::{self, Planned};
use crate::templates::{Snapshot, Snapshots};
use crate::work::Work;
use crate::{Engine, EngineError, Retry};

#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    pub message: String,
    pub error_type: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    /// The handler's stack trace; stored cut to `MAX_STACK_BYTES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl StepError {
    /// A failure the engine itself decided (not the handler): never retried.
    pub(crate) fn rejected(error_type: &str, message: String) -> StepError {
        StepError {
            message,
            error_type: error_type.to_string(),
            retryable: false,
            retry_after_ms: None,
            status_code: None,
            stack: None,
        }
    }
}

/// The result of one attempt, as reported by a worker.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step_uuid: String,
    pub task_uuid: String,
    pub claim_id: String,
    pub success: bool,
    /// JSON text of the handler's result (success only).
    pub result: Option<String>,
    pub error: Option<StepError>,
    /// JSON text of handler metadata.
    pub metadata: Option<String>,
    pub duration_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The result was recorded; the step is now in `state`.
    Recorded { step_uuid: String, state: StepState },
    /// The claim was no longer current (timed out, reclaimed, cancelled): ignored.
    Stale { step_uuid: String },
}

/// An outcome whose ids parsed, with its position in the caller's batch.
struct Reported {
    index: usize,
    step: Uuid,
    task: Uuid,
    claim: Uuid,
    outcome: StepOutcome,
}

impl Engine {
    /// Record a batch of results in one transaction (retried on a conflict). Results whose
    /// claim is no longer current are ignored.
    pub async fn record_results(
        &self,
        outcomes: Vec<StepOutcome>,
        worker_id: &str,
    ) -> Result<Vec<RecordOutcome>, EngineError> {
        Ok(self.record_and_claim(outcomes, worker_id, None).await?.0)
    }

    /// Record results and, in the same transaction, claim up to `claim.limit` ready steps —
    /// typically the dependents those results just made ready — so a worker moves along a
    /// chain without another round trip or wake-up.
    pub async fn record_and_claim(
        &self,
        outcomes: Vec<StepOutcome>,
        worker_id: &str,
        claim: Option<&ClaimRequest>,
    ) -> Result<(Vec<RecordOutcome>, Vec<ClaimedStep>), EngineError> {
        let mut results: Vec<Option<RecordOutcome>> = vec![None; outcomes.len()];
        let mut reported = Vec::with_capacity(outcomes.len());
        for (index, o) in outcomes.into_iter().enumerate() {
            match (
                Uuid::parse_str(&o.step_uuid),
                Uuid::parse_str(&o.task_uuid),
                Uuid::parse_str(&o.claim_id),
            ) {
                (Ok(step), Ok(task), Ok(claim)) => reported.push(Reported {
                    index,
                    step,
                    task,
                    claim,
                    outcome: o,
                }),
                // Not an id this engine handed out: nothing to record.
                _ => {
                    results[index] = Some(RecordOutcome::Stale {
                        step_uuid: o.step_uuid,
                    })
                }
            }
        }
        let reported = Arc::new(reported);
        let worker_id: Arc<str> = worker_id.into();
        let claim = claim.cloned().map(Arc::new);
        let limits = (self.limits, *self.json_limits());
        let (recorded, claimed, signals) = self
            .write_retrying(Retry::Conflicts, move |tx, snapshots| {
                let (r, w, c) = (reported.clone(), worker_id.clone(), claim.clone());
                Box::pin(async move {
                    record_in_tx(tx, &r, &w, c.as_deref(), &snapshots, &limits).await
                })
            })
            .await?;
        self.events().emit(&signals);
        for (index, r) in recorded {
            results[index] = Some(r);
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| EngineError::Internal("a result was left unrecorded".to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((results, finish_claims(claimed)?))
    }
}

/// What the batch has done to one task so far.
pub(crate) struct TaskAcc {
    /// As locked at the start of the transaction.
    locked_state: TaskState,
    state: TaskState,
    completed: i64,
    total: i64,
    completed_delta: i64,
    total_delta: i64,
    /// The task's steps, loaded when an outcome has to be planned.
    pub(crate) steps: Option<Vec<TaskStepState>>,
    had_completion: bool,
    pub(crate) enqueued: bool,
    /// The reason of the last retry scheduled in this batch.
    retry: Option<String>,
    /// Why the task failed in this batch.
    failed: Option<String>,
}

impl TaskAcc {
    fn new(l: &LockedStep) -> TaskAcc {
        TaskAcc {
            locked_state: l.task_state,
            state: l.task_state,
            completed: l.task_completed_steps,
            total: l.task_total_steps,
            completed_delta: 0,
            total_delta: 0,
            steps: None,
            had_completion: false,
            enqueued: false,
            retry: None,
            failed: None,
        }
    }
}

/// Everything the batch writes, collected before any of it is written.
#[derive(Default)]
pub(crate) struct Writes {
    step_changes: Vec<StepChange>,
    pub(crate) new_steps: Vec<NewStep>,
    pub(crate) new_edges: Vec<Edge>,
    /// Edges from a completed source step to the steps its outcome created: inserted after
    /// the source's dependents were counted down, so they never count against it.
    pub(crate) source_edges: Vec<Edge>,
    /// (new step, pending convergence step that must now also wait for it).
    pub(crate) convergence: Vec<Edge>,
    completed: Vec<(Uuid, String)>,
    pub(crate) enqueued_callables: Vec<String>,
    /// Tasks with a subtask step that started waiting for a child.
    pub(crate) waiting_children: std::collections::BTreeSet<Uuid>,
}

type Recorded = (Vec<(usize, RecordOutcome)>, Claimed, Vec<Signal>);

async fn record_in_tx(
    tx: &mut dyn Tx,
    reported: &[Reported],
    worker_id: &str,
    claim: Option<&ClaimRequest>,
    snapshots: &Snapshots,
    limits: &(ExpansionLimits, JsonLimits),
) -> Result<Recorded, EngineError> {
    let mut pairs: Vec<(Uuid, Uuid)> = reported.iter().map(|r| (r.step, r.claim)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let locked: HashMap<Uuid, LockedStep> = tx
        .lock_claims(&pairs)
        .await?
        .into_iter()
        .map(|l| (l.step_uuid, l))
        .collect();

    // One lock order everywhere (task, then step), and the same order of decisions.
    let mut order: Vec<&Reported> = reported.iter().collect();
    order.sort_by_key(|r| (locked.get(&r.step).map(|l| l.task_uuid), r.step, r.index));

    let mut work = Work::default();
    let mut writes = Writes::default();
    let mut tasks: BTreeMap<Uuid, TaskAcc> = BTreeMap::new();
    let mut consumed: HashSet<Uuid> = HashSet::new();
    let mut recorded = Vec::with_capacity(reported.len());
    for r in order {
        let stale = || RecordOutcome::Stale {
            step_uuid: r.outcome.step_uuid.clone(),
        };
        let Some(l) = locked
            .get(&r.step)
            .filter(|l| l.claim_id == r.claim && l.task_uuid == r.task)
        else {
            recorded.push((r.index, stale()));
            continue;
        };
        if !consumed.insert(r.step) {
            // The same claim reported twice in one batch: the first one counts.
            recorded.push((r.index, stale()));
            continue;
        }
        let snapshot = snapshots.load(tx, &l.template_digest).await?;
        let Some((_, def)) = snapshot.step(&l.template_step_name) else {
            return Err(EngineError::Internal(format!(
                "step '{}' of task {} names template step '{}', which its template {} does not have",
                l.name,
                l.task_uuid,
                l.template_step_name,
                snapshot.template.key()
            )));
        };
        let acc = tasks.entry(l.task_uuid).or_insert_with(|| TaskAcc::new(l));
        if acc.state == TaskState::WaitingForRetry {
            // One of its steps ran, so the task was running, not waiting: on PostgreSQL a
            // claim that committed while another transaction found the task idle leaves it
            // marked waiting. It runs again before this step's outcome is applied.
            work.task(
                l.task_uuid,
                Some(TaskState::WaitingForRetry),
                TaskState::StepsInProcess,
                Some(format!("step '{}' ran", l.name)),
            );
            acc.state = TaskState::StepsInProcess;
        }
        let ctx = Ctx {
            l,
            def,
            snapshot: &snapshot,
            outcome: &r.outcome,
            worker_id,
        };
        let state = match metadata_problem(&ctx, &limits.1) {
            // Metadata the engine cannot keep: a success is refused; a failure keeps its error
            // and loses the metadata, with a note (as the TS worker does for metadata it
            // cannot serialize).
            Some((error_type, what)) => {
                let label = step_label(&ctx);
                let mut without = r.outcome.clone();
                without.metadata = None;
                if r.outcome.success {
                    let e = StepError::rejected(error_type, format!("{label} returned {what}"));
                    let ctx = Ctx {
                        outcome: &without,
                        ..ctx
                    };
                    record_failure(&ctx, acc, Some(e), &mut writes, &mut work)
                } else {
                    if let Some(e) = without.error.as_mut() {
                        e.message.push_str(&format!(
                            " (its metadata was dropped: the handler returned {what})"
                        ));
                    }
                    let ctx = Ctx {
                        outcome: &without,
                        ..ctx
                    };
                    record_failure(&ctx, acc, None, &mut writes, &mut work)
                }
            }
            None if r.outcome.success => {
                record_success(tx, &ctx, acc, limits, &mut writes, &mut work).await?
            }
            None => record_failure(&ctx, acc, None, &mut writes, &mut work),
        };
        recorded.push((
            r.index,
            RecordOutcome::Recorded {
                step_uuid: r.outcome.step_uuid.clone(),
                state,
            },
        ));
    }

    write_back(tx, &mut writes, &mut tasks, &mut work).await?;
    // The children of the subtask steps these results made ready, in this transaction (their
    // first steps can be claimed below).
    let spawned = crate::children::spawn_waiting(
        tx,
        &writes.waiting_children,
        snapshots,
        &limits.1,
        worker_id,
        &mut work,
    )
    .await?;

    let mut claimed = Claimed::default();
    if let Some(req) = claim {
        claimed = claim_in_tx(tx, req, snapshots, &mut work).await?;
        // We took every ready step for our callables, including all the ones these results
        // made ready: nobody else needs waking for them.
        let retry_scheduled = tasks.values().any(|a| a.retry.is_some());
        if claimed.len() < req.limit
            && !retry_scheduled
            && spawned == 0
            && writes
                .enqueued_callables
                .iter()
                .all(|c| req.callables.contains(c))
        {
            work.signals.retain(|s| *s != Signal::StepsReady);
        }
    }
    work.flush(tx).await?;
    Ok((recorded, claimed, work.signals))
}

/// Why the engine refuses a result's (or its metadata's) JSON: (error type, what is wrong,
/// phrased after "returned …").
fn json_rejection(what: &str, problem: JsonProblem) -> (&'static str, String) {
    match problem {
        // Cannot happen through the TS worker (it serialises with JSON.stringify); a permanent
        // failure rather than lost data.
        JsonProblem::Invalid(e) => (
            "serialization_error",
            format!("{what} that is not valid JSON: {e}"),
        ),
        JsonProblem::TooLarge { bytes, limit } => (
            "result_too_large",
            format!("{what} of {bytes} bytes; the limit is {limit} bytes (maxResultBytes)"),
        ),
        JsonProblem::TooDeep { depth, limit } => (
            "result_too_deep",
            format!("{what} nested {depth} levels deep; the limit is {limit} (maxJsonDepth)"),
        ),
    }
}

fn metadata_problem(c: &Ctx<'_>, json: &JsonLimits) -> Option<(&'static str, String)> {
    let problem = check_json(
        c.outcome.metadata.as_deref()?,
        json.max_result_bytes,
        json.max_depth,
    )
    .err()?;
    Some(json_rejection("metadata", problem))
}

/// `step 'name' of task template ns/name@version`, for messages about a step's own output.
fn step_label(c: &Ctx<'_>) -> String {
    c.snapshot.step_label(&c.l.name)
}

/// One outcome being recorded.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    l: &'a LockedStep,
    def: &'a StepDefinition,
    snapshot: &'a Snapshot,
    outcome: &'a StepOutcome,
    worker_id: &'a str,
}

async fn record_success(
    tx: &mut dyn Tx,
    c: &Ctx<'_>,
    acc: &mut TaskAcc,
    (limits, json): &(ExpansionLimits, JsonLimits),
    writes: &mut Writes,
    work: &mut Work,
) -> Result<StepState, EngineError> {
    let l = c.l;
    let text = c.outcome.result.clone().unwrap_or_else(|| "{}".to_string());
    if let Err(problem) = check_json(&text, json.max_result_bytes, json.max_depth) {
        let (error_type, what) = json_rejection("a result", problem);
        let e = StepError::rejected(error_type, format!("{} returned {what}", step_label(c)));
        return Ok(record_failure(c, acc, Some(e), writes, work));
    }
    let mut planned = Planned::default();
    // A task in error may be retried: what a step finishing there decides is kept (the steps
    // its outcome creates are cancelled with the task's other open steps, and reopened by a
    // retry). Only a cancelled task takes no more outcomes.
    let takes_outcome = acc.state != TaskState::Cancelled;
    if l.step_type.has_outcome() && takes_outcome {
        if acc.steps.is_none() {
            acc.steps = Some(tx.task_steps(&[l.task_uuid]).await?);
        }
        let steps = acc.steps.as_deref().unwrap_or(&[]);
        match expand::plan(c.snapshot, l, c.def, steps, &text, limits) {
            Ok(p) => planned = p,
            Err((error_type, message)) => {
                let e = StepError::rejected(error_type, message);
                return Ok(record_failure(c, acc, Some(e), writes, work));
            }
        }
    }
    writes.step_changes.push(StepChange {
        step_uuid: l.step_uuid,
        to: StepState::Complete,
        expect_claim: None,
        result: Some(text),
        error: Some(None),
        metadata: c.outcome.metadata.clone(),
        ready_in_ms: None,
        uncount_attempt: false,
    });
    let took = c
        .outcome
        .duration_ms
        .map(|ms| format!(" in {ms:.1} ms"))
        .unwrap_or_default();
    work.step(
        l.task_uuid,
        l.step_uuid,
        Some(StepState::InProgress),
        StepState::Complete,
        Some(c.worker_id),
        Some(format!(
            "attempt {} of {} succeeded{took}",
            l.attempts, l.max_attempts
        )),
    );
    acc.completed_delta += 1;
    acc.had_completion = true;
    if let Some(steps) = acc.steps.as_mut() {
        if let Some(s) = steps.iter_mut().find(|s| s.step_uuid == l.step_uuid) {
            s.state = StepState::Complete;
        }
    }
    if takes_outcome {
        if !planned.steps.is_empty() {
            // Read only when a created step keys its limit on the context.
            let context = match planned.needs_context() {
                true => tx
                    .task(l.task_uuid)
                    .await?
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t.context).ok()),
                false => None,
            };
            let created = expand::create(l, &planned, context.as_ref(), acc, writes, work)?;
            acc.total_delta += created;
            if acc.state == TaskState::Error && acc.failed.is_none() {
                acc.failed = Some(format!(
                    "not started: the task is in error (created by '{}' after the failure; \
                     retrying the task runs it)",
                    l.name
                ));
            }
        }
        // Dependents count it done, so that a retry of the task finds their counts right.
        writes.completed.push((l.step_uuid, l.name.clone()));
    }
    Ok(StepState::Complete)
}

/// A failed attempt: retry after a backoff, or fail the step (and its task) permanently.
/// `rejected`: the engine refused the step's result (never retried).
fn record_failure(
    c: &Ctx<'_>,
    acc: &mut TaskAcc,
    rejected: Option<StepError>,
    writes: &mut Writes,
    work: &mut Work,
) -> StepState {
    let l = c.l;
    let is_rejected = rejected.is_some();
    let error = match (rejected, &c.outcome.error) {
        (Some(e), _) => e,
        (None, Some(e)) => e.clone(),
        (None, None) => StepError {
            message: format!("step '{}' failed without an error message", l.name),
            error_type: "unknown".to_string(),
            retryable: true,
            retry_after_ms: None,
            status_code: None,
            stack: None,
        },
    };
    let error = StepError {
        stack: error
            .stack
            .as_deref()
            .map(|st| cap_stack(st, MAX_STACK_BYTES).into_owned()),
        ..error
    };
    let decision = if is_rejected {
        FailureDecision::Permanent {
            reason: "the step's result was rejected".to_string(),
        }
    } else if acc.state.is_terminal() {
        // A sibling already finished the task: a step still running then finishes, but a
        // failed one is not scheduled for another attempt.
        FailureDecision::Permanent {
            reason: format!("not retried: the task is already {}", acc.state.as_str()),
        }
    } else {
        decide_failure(&FailureInput {
            retry: &c.def.retry,
            attempts: u32::try_from(l.attempts).unwrap_or(u32::MAX),
            retryable: error.retryable,
            retry_after_ms: error.retry_after_ms,
            jitter: rand::random::<f64>(),
        })
    };
    let mut stored = serde_json::to_value(&error).unwrap_or_default();
    if let Some(obj) = stored.as_object_mut() {
        obj.insert("attempt".into(), l.attempts.into());
    }
    let stored = stored.to_string();
    match decision {
        FailureDecision::Retry { delay_ms } => {
            let delay = i64::try_from(delay_ms).unwrap_or(i64::MAX);
            writes.step_changes.push(StepChange {
                step_uuid: l.step_uuid,
                to: StepState::WaitingForRetry,
                expect_claim: None,
                result: None,
                error: Some(Some(stored)),
                metadata: c.outcome.metadata.clone(),
                ready_in_ms: Some(delay),
                uncount_attempt: false,
            });
            let why = if error.retry_after_ms.is_some() {
                " (server-requested delay)"
            } else {
                ""
            };
            work.step(
                l.task_uuid,
                l.step_uuid,
                Some(StepState::InProgress),
                StepState::WaitingForRetry,
                Some(c.worker_id),
                Some(format!(
                    "attempt {} of {} failed ({}: {}); retrying in {delay_ms} ms{why}",
                    l.attempts, l.max_attempts, error.error_type, error.message
                )),
            );
            work.signal(Signal::StepsReady);
            acc.retry = Some(format!(
                "step '{}' waits {delay_ms} ms before attempt {}",
                l.name,
                l.attempts + 1
            ));
            StepState::WaitingForRetry
        }
        FailureDecision::Permanent { reason } => {
            writes.step_changes.push(StepChange {
                step_uuid: l.step_uuid,
                to: StepState::Error,
                expect_claim: None,
                result: None,
                error: Some(Some(stored)),
                metadata: c.outcome.metadata.clone(),
                ready_in_ms: None,
                uncount_attempt: false,
            });
            work.step(
                l.task_uuid,
                l.step_uuid,
                Some(StepState::InProgress),
                StepState::Error,
                Some(c.worker_id),
                Some(format!(
                    "{reason} ({}: {})",
                    error.error_type, error.message
                )),
            );
            if !acc.state.is_terminal() {
                let why = format!("step '{}' failed permanently: {}", l.name, error.message);
                work.task(
                    l.task_uuid,
                    Some(acc.state),
                    TaskState::Error,
                    Some(why.clone()),
                );
                acc.state = TaskState::Error;
                acc.failed = Some(why);
            }
            StepState::Error
        }
    }
}

/// Write everything the batch decided, in an order that keeps every count right: step
/// states, new steps and their edges (convergence steps first learn about their new
/// branches), dependents of the completed steps, then the edges from each source to what its
/// outcome created, task counters and states, the failed tasks' open steps, and tasks that
/// are left waiting only for retries.
async fn write_back(
    tx: &mut dyn Tx,
    w: &mut Writes,
    tasks: &mut BTreeMap<Uuid, TaskAcc>,
    work: &mut Work,
) -> Result<(), EngineError> {
    tx.change_steps(&w.step_changes).await?;
    tx.insert_steps(&w.new_steps).await?;
    if !w.convergence.is_empty() {
        let targets: Vec<Uuid> = w.convergence.iter().map(|e| e.to).collect();
        let bumped: HashSet<Uuid> = tx
            .add_pending_dependency(&targets)
            .await?
            .into_iter()
            .collect();
        w.new_edges.extend(
            w.convergence
                .iter()
                .filter(|e| bumped.contains(&e.to))
                .copied(),
        );
    }
    tx.insert_edges(&w.new_edges).await?;
    if !w.completed.is_empty() {
        let completed: Vec<Uuid> = w.completed.iter().map(|(u, _)| *u).collect();
        let names: HashMap<Uuid, String> = w.completed.iter().cloned().collect();
        let ready: Vec<ReadyStep> = tx.count_down_dependents(&completed).await?;
        // Signal steps among them wait; those with a stored signal complete at once.
        let r = crate::signals::readied(tx, ready, &names, work).await?;
        w.enqueued_callables.extend(r.enqueued_callables);
        w.waiting_children.extend(r.waiting_children);
        for t in r.enqueued_tasks {
            if let Some(acc) = tasks.get_mut(&t) {
                acc.enqueued = true;
            }
        }
        for (t, n) in r.completed {
            if let Some(acc) = tasks.get_mut(&t) {
                acc.completed_delta += n;
            }
        }
    }
    tx.insert_edges(&w.source_edges).await?;

    // Tasks whose every step is now complete.
    for (task, acc) in tasks.iter_mut() {
        if !acc.state.is_terminal()
            && acc.completed + acc.completed_delta >= acc.total + acc.total_delta
        {
            let total = acc.total + acc.total_delta;
            work.task(
                *task,
                Some(acc.state),
                TaskState::Complete,
                Some(format!("all {total} steps complete")),
            );
            acc.state = TaskState::Complete;
        }
    }

    let counts: Vec<TaskCounts> = tasks
        .iter()
        .filter(|(_, a)| a.completed_delta != 0 || a.total_delta != 0)
        .map(|(t, a)| TaskCounts {
            task_uuid: *t,
            completed_delta: a.completed_delta,
            total_delta: a.total_delta,
        })
        .collect();
    tx.count_tasks(&counts).await?;

    // Tasks left with nothing ready or running, but a step waiting out a backoff, wait too.
    let idle_candidates: Vec<Uuid> = tasks
        .iter()
        .filter(|(_, a)| {
            a.state == TaskState::StepsInProcess
                && (a.retry.is_some() || (a.had_completion && !a.enqueued))
        })
        .map(|(t, _)| *t)
        .collect();
    if !idle_candidates.is_empty() {
        let activity: Vec<TaskActivity> = tx.task_activity(&idle_candidates).await?;
        for a in activity {
            if a.active == 0 && a.waiting > 0 {
                if let Some(acc) = tasks.get_mut(&a.task_uuid) {
                    let reason = acc.retry.clone().unwrap_or_else(|| {
                        format!(
                            "no step is running; the next retry is due in {} ms",
                            a.next_due_in_ms.unwrap_or(0)
                        )
                    });
                    work.task(
                        a.task_uuid,
                        Some(acc.state),
                        TaskState::WaitingForRetry,
                        Some(reason),
                    );
                    acc.state = TaskState::WaitingForRetry;
                }
            }
        }
    }

    let changes: Vec<TaskChange> = tasks
        .iter()
        .filter(|(_, a)| a.state != a.locked_state)
        .map(|(t, a)| TaskChange {
            task_uuid: *t,
            to: a.state,
            expect: Some(a.locked_state),
        })
        .collect();
    let changed = tx.change_tasks(&changes).await?;
    if changed.len() != changes.len() {
        return Err(EngineError::Internal(
            "a locked task changed state during the transaction".to_string(),
        ));
    }

    // Steps of a failed task that have not started never will; running siblings finish.
    let failed: Vec<Uuid> = tasks
        .iter()
        .filter(|(_, a)| a.failed.is_some())
        .map(|(t, _)| *t)
        .collect();
    if !failed.is_empty() {
        let cancelled = tx
            .cancel_steps(&failed, &crate::cancel::NOT_STARTED)
            .await?;
        for s in cancelled {
            let why = tasks.get(&s.task_uuid).and_then(|a| a.failed.clone());
            work.step(
                s.task_uuid,
                s.step_uuid,
                Some(s.from),
                StepState::Cancelled,
                None,
                why,
            );
        }
    }
    Ok(())
}
