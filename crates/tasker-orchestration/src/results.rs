//! Recording step results: success evaluates the dependents at once (no timer), failure
//! applies the step's own retry rules, and the task is finalised in the same transaction.

use serde::Serialize;
use tasker_domain::{
    check_json, decide_failure, echo, FailureDecision, FailureInput, JsonLimits, JsonProblem,
    RetryConfig, StepDefinition, StepState, TaskState,
};
use tasker_storage::{now_ms, placeholders, Dialect, Row, Sql, StorageError, Tx};

use crate::claim::{claim_in_tx, ClaimRequest, Claimed, ClaimedStep};
use crate::events::Effect;
use crate::transitions::Work;
use crate::{Engine, EngineError};
use tasker_domain::{ExpansionLimits, NewStep};

#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    pub message: String,
    pub error_type: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
}

impl StepError {
    /// A failure the engine itself decided (not the handler): never retried.
    fn rejected(error_type: &str, message: String) -> StepError {
        StepError {
            message,
            error_type: error_type.to_string(),
            retryable: false,
            retry_after_ms: None,
            status_code: None,
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

impl Engine {
    /// Record a batch of results in one transaction (retried on a deadlock/serialization
    /// conflict). Results whose claim is no longer current are ignored.
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
        mut outcomes: Vec<StepOutcome>,
        worker_id: &str,
        claim: Option<&ClaimRequest>,
    ) -> Result<(Vec<RecordOutcome>, Vec<ClaimedStep>), EngineError> {
        // One lock order (task, then step) for every transaction that touches both.
        outcomes.sort_by(|a, b| (&a.task_uuid, &a.step_uuid).cmp(&(&b.task_uuid, &b.step_uuid)));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_record(&outcomes, worker_id, claim).await {
                Err(EngineError::Storage(e)) if e.is_retryable_conflict() && attempt < 5 => {
                    tracing::debug!("retrying result batch after conflict: {e}");
                    continue;
                }
                Err(e) => return Err(e),
                Ok((recorded, claimed)) => {
                    let claimed = self.finish_claims(claimed).await?;
                    return Ok((recorded, claimed));
                }
            }
        }
    }

    async fn try_record(
        &self,
        outcomes: &[StepOutcome],
        worker_id: &str,
        claim: Option<&ClaimRequest>,
    ) -> Result<(Vec<RecordOutcome>, Claimed), EngineError> {
        let d = self.dialect();
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let mut work = Work::default();
        let mut recorded = Vec::with_capacity(outcomes.len());
        let limits = (&self.limits, &self.json);
        for o in outcomes {
            recorded.push(record_one(&mut tx, d, now, o, worker_id, &mut work, limits).await?);
        }
        let claimed = match claim {
            Some(req) => {
                let claimed = claim_in_tx(&mut tx, d, now, req, &mut work).await?;
                // We took every ready step for our callables, including all the ones these
                // results enqueued: nobody else needs waking for them.
                if claimed.len() < req.limit
                    && !work.retry_scheduled
                    && work
                        .enqueued_callables
                        .iter()
                        .all(|c| req.callables.contains(c))
                {
                    work.effects.retain(|e| *e != Effect::StepsReady);
                }
                claimed
            }
            None => Claimed::default(),
        };
        work.flush(&mut tx, d, now, self.events().origin()).await?;
        tx.commit().await.map_err(StorageError::from)?;
        self.events().emit(&work.effects);
        Ok((recorded, claimed))
    }

    /// Cancel a task: nothing further is enqueued, and steps not yet finished are cancelled
    /// (workers running them abort their handlers' signals). Cancelling a finished task
    /// changes nothing.
    pub async fn cancel_task(
        &self,
        task_uuid: &str,
        reason: Option<&str>,
    ) -> Result<crate::TaskView, EngineError> {
        let d = self.dialect();
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let Some(state) = lock_task(&mut tx, d, task_uuid).await? else {
            return Err(EngineError::TaskNotFound(format!(
                "task {task_uuid} does not exist"
            )));
        };
        if !state.is_terminal() {
            let reason = reason.unwrap_or("cancelled by request").to_string();
            let mut work = Work::default();
            set_task_state(
                &mut tx,
                d,
                now,
                task_uuid,
                state,
                TaskState::Cancelled,
                reason.clone(),
                &mut work,
            )
            .await?;
            finish_open_steps(
                &mut tx,
                d,
                now,
                task_uuid,
                &["pending", "enqueued", "waiting_for_retry", "in_progress"],
                &reason,
                &mut work,
            )
            .await?;
            work.effect(Effect::TaskCancelled(task_uuid.to_string()));
            work.flush(&mut tx, d, now, self.events().origin()).await?;
            tx.commit().await.map_err(StorageError::from)?;
            self.events().emit(&work.effects);
        } else {
            tx.commit().await.map_err(StorageError::from)?;
        }
        self.get_task(task_uuid, true)
            .await?
            .ok_or_else(|| EngineError::TaskNotFound(format!("task {task_uuid} does not exist")))
    }
}

async fn lock_task(
    tx: &mut Tx,
    d: Dialect,
    task_uuid: &str,
) -> Result<Option<TaskState>, EngineError> {
    let sql = match d {
        Dialect::Postgres => "SELECT state FROM tasker_tasks WHERE task_uuid = $1 FOR UPDATE",
        Dialect::Sqlite => "SELECT state FROM tasker_tasks WHERE task_uuid = ?1",
    };
    let state: Option<String> = sqlx::query_scalar(sql)
        .bind(task_uuid)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(state.map(|s| s.parse::<TaskState>().unwrap_or(TaskState::StepsInProcess)))
}

#[allow(clippy::too_many_arguments)]
async fn set_task_state(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    task_uuid: &str,
    from: TaskState,
    to: TaskState,
    reason: String,
    work: &mut Work,
) -> Result<(), EngineError> {
    static SET: Sql = Sql::new(
        "UPDATE tasker_tasks SET state = $2, updated_at = $3,
            completed_at = CASE WHEN $4 = 1 THEN $3 ELSE completed_at END
         WHERE task_uuid = $1",
    );
    sqlx::query(SET.for_dialect(d))
        .bind(task_uuid)
        .bind(to.as_str())
        .bind(now)
        .bind(i64::from(to.is_terminal()))
        .execute(&mut **tx)
        .await?;
    work.task(task_uuid, Some(from.as_str()), to.as_str(), Some(reason));
    if to.is_terminal() {
        work.effect(Effect::TaskFinished(task_uuid.to_string()));
    }
    Ok(())
}

/// Move the task's steps that are in one of `states` to `cancelled`.
async fn finish_open_steps(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    task_uuid: &str,
    states: &[&str],
    reason: &str,
    work: &mut Work,
) -> Result<(), EngineError> {
    let list = states
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let lock = if d == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let select = placeholders(
        d,
        &format!("SELECT step_uuid, state FROM tasker_steps WHERE task_uuid = $1 AND state IN ({list}){lock}"),
    );
    let rows = sqlx::query(&select)
        .bind(task_uuid)
        .fetch_all(&mut **tx)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let update = placeholders(
        d,
        &format!(
            "UPDATE tasker_steps SET state = 'cancelled', claim_id = NULL, claimed_by = NULL,
                lease_until = NULL, ready_at = NULL, updated_at = $2
             WHERE task_uuid = $1 AND state IN ({list})"
        ),
    );
    sqlx::query(&update)
        .bind(task_uuid)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    for r in rows {
        let step: String = r.try_get("step_uuid")?;
        let from: String = r.try_get("state")?;
        let from = from.parse::<StepState>().map(StepState::as_str).ok();
        work.step(
            task_uuid,
            &step,
            from,
            StepState::Cancelled.as_str(),
            None,
            Some(reason.to_string()),
        );
    }
    Ok(())
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

/// `step 'name' of task template ns/name@version`, for messages about a step's own output.
async fn step_label(tx: &mut Tx, d: Dialect, o: &StepOutcome) -> Result<String, EngineError> {
    static NAMES: Sql = Sql::new(
        "SELECT s.name AS step_name, t.namespace, t.name AS task_name, t.version
         FROM tasker_steps s JOIN tasker_tasks t ON t.task_uuid = s.task_uuid
         WHERE s.step_uuid = $1",
    );
    let row = sqlx::query(NAMES.for_dialect(d))
        .bind(&o.step_uuid)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => format!(
            "step '{}' of task template {}/{}@{}",
            echo(&r.try_get::<String, _>("step_name")?),
            r.try_get::<String, _>("namespace")?,
            r.try_get::<String, _>("task_name")?,
            r.try_get::<String, _>("version")?,
        ),
        None => format!("step {}", o.step_uuid),
    })
}

async fn record_one(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    o: &StepOutcome,
    worker_id: &str,
    work: &mut Work,
    (limits, json): (&ExpansionLimits, &JsonLimits),
) -> Result<RecordOutcome, EngineError> {
    let stale = || RecordOutcome::Stale {
        step_uuid: o.step_uuid.clone(),
    };
    let Some(task_state) = lock_task(tx, d, &o.task_uuid).await? else {
        return Ok(stale());
    };
    // Metadata the engine cannot keep: a success is refused, a failure keeps its error and
    // loses the metadata (with a note), as the TS worker does for unserializable metadata.
    if let Some(problem) = o
        .metadata
        .as_deref()
        .and_then(|m| check_json(m, json.max_result_bytes, json.max_depth).err())
    {
        let (error_type, what) = json_rejection("metadata", problem);
        let mut without = o.clone();
        without.metadata = None;
        if o.success {
            let message = format!("{} returned {what}", step_label(tx, d, o).await?);
            let e = StepError::rejected(error_type, message);
            return record_failure(tx, d, now, &without, worker_id, work, task_state, Some(e))
                .await;
        }
        if let Some(e) = without.error.as_mut() {
            e.message.push_str(&format!(
                " (its metadata was dropped: the handler returned {what})"
            ));
        }
        return record_failure(tx, d, now, &without, worker_id, work, task_state, None).await;
    }
    if o.success {
        let result_text = o.result.as_deref().unwrap_or("{}");
        if let Err(problem) = check_json(result_text, json.max_result_bytes, json.max_depth) {
            let (error_type, what) = json_rejection("a result", problem);
            let message = format!("{} returned {what}", step_label(tx, d, o).await?);
            let e = StepError::rejected(error_type, message);
            return record_failure(tx, d, now, o, worker_id, work, task_state, Some(e)).await;
        }
        // Decision and batchable steps first have their outcome checked and planned; every
        // other step completes in the one statement below.
        static COMPLETE: Sql = Sql::new(
            "UPDATE tasker_steps SET state = 'complete', result = $2, metadata = $3, error = NULL,
                claim_id = NULL, claimed_by = NULL, lease_until = NULL, ready_at = NULL, updated_at = $4
             WHERE step_uuid = $1 AND claim_id = $5 AND state = 'in_progress'
               AND step_type NOT IN ('decision', 'batchable')
             RETURNING name, attempts, max_attempts",
        );
        let row = match sqlx::query(COMPLETE.for_dialect(d))
            .bind(&o.step_uuid)
            .bind(result_text)
            .bind(o.metadata.clone())
            .bind(now)
            .bind(&o.claim_id)
            .fetch_optional(&mut **tx)
            .await?
        {
            Some(row) => row,
            None => {
                return complete_with_outcome(
                    tx,
                    d,
                    now,
                    o,
                    result_text,
                    worker_id,
                    work,
                    task_state,
                    limits,
                )
                .await
            }
        };
        let name: String = row.try_get("name")?;
        let attempts: i64 = row.try_get("attempts")?;
        let max_attempts: i64 = row.try_get("max_attempts")?;
        return after_complete(
            tx,
            d,
            now,
            o,
            &name,
            attempts,
            max_attempts,
            (Vec::new(), Vec::new()),
            worker_id,
            work,
            task_state,
        )
        .await;
    }
    record_failure(tx, d, now, o, worker_id, work, task_state, None).await
}

/// A failed attempt: retry after a backoff, or fail the step (and its task) permanently.
#[allow(clippy::too_many_arguments)]
async fn record_failure(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    o: &StepOutcome,
    worker_id: &str,
    work: &mut Work,
    task_state: TaskState,
    override_error: Option<StepError>,
) -> Result<RecordOutcome, EngineError> {
    let Some(ClaimedRow {
        name,
        attempts,
        max_attempts,
        definition,
        ..
    }) = lock_claimed_step(tx, d, o).await?
    else {
        return Ok(RecordOutcome::Stale {
            step_uuid: o.step_uuid.clone(),
        });
    };
    let retry = serde_json::from_str::<StepDefinition>(&definition)
        .map(|s| s.retry)
        .unwrap_or_else(|_| RetryConfig::default());

    let rejected = override_error.is_some();
    let error = match (override_error, &o.error) {
        (Some(e), _) => e,
        (None, Some(e)) => e.clone(),
        (None, None) => StepError {
            message: format!("step '{name}' failed without an error message"),
            error_type: "unknown".to_string(),
            retryable: true,
            retry_after_ms: None,
            status_code: None,
        },
    };
    let decision = if rejected {
        // The engine, not the handler, refused this result (unusable outcome, invalid JSON).
        FailureDecision::Permanent {
            reason: "the step's result was rejected".to_string(),
        }
    } else if task_state.is_terminal() {
        // A sibling already failed the task: a step still running then finishes, but a failed
        // one is not scheduled for another attempt (nothing of a finished task runs again).
        FailureDecision::Permanent {
            reason: format!("not retried: the task is already {}", task_state.as_str()),
        }
    } else {
        decide_failure(&FailureInput {
            retry: &retry,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            retryable: error.retryable,
            retry_after_ms: error.retry_after_ms,
            jitter: rand::random::<f64>(),
        })
    };
    let mut stored = serde_json::to_value(&error).unwrap_or_default();
    if let Some(obj) = stored.as_object_mut() {
        obj.insert("attempt".into(), attempts.into());
    }
    match decision {
        FailureDecision::Retry { delay_ms } => {
            static RETRY: Sql = Sql::new(
                "UPDATE tasker_steps SET state = 'waiting_for_retry', error = $2, metadata = $3,
                    claim_id = NULL, claimed_by = NULL, lease_until = NULL,
                    ready_at = DB_NOW_MS + $4, updated_at = $5
                 WHERE step_uuid = $1",
            );
            sqlx::query(RETRY.for_dialect(d))
                .bind(&o.step_uuid)
                .bind(stored.to_string())
                .bind(o.metadata.clone())
                .bind(i64::try_from(delay_ms).unwrap_or(i64::MAX))
                .bind(now)
                .execute(&mut **tx)
                .await?;
            let why = if error.retry_after_ms.is_some() {
                " (server-requested delay)"
            } else {
                ""
            };
            work.step(
                &o.task_uuid,
                &o.step_uuid,
                Some(StepState::InProgress.as_str()),
                StepState::WaitingForRetry.as_str(),
                Some(worker_id),
                Some(format!(
                    "attempt {attempts} of {max_attempts} failed ({}: {}); retrying in {delay_ms} ms{why}",
                    error.error_type, error.message
                )),
            );
            work.retry_scheduled = true;
            work.effect(Effect::StepsReady);
            if task_state == TaskState::StepsInProcess {
                let why = format!(
                    "step '{name}' waits {delay_ms} ms before attempt {}",
                    attempts + 1
                );
                wait_for_retry_if_idle(tx, d, now, &o.task_uuid, task_state, Some(why), work)
                    .await?;
            }
            Ok(RecordOutcome::Recorded {
                step_uuid: o.step_uuid.clone(),
                state: StepState::WaitingForRetry,
            })
        }
        FailureDecision::Permanent { reason } => {
            static FAIL: Sql = Sql::new(
                "UPDATE tasker_steps SET state = 'error', error = $2, metadata = $3,
                    claim_id = NULL, claimed_by = NULL, lease_until = NULL, ready_at = NULL, updated_at = $4
                 WHERE step_uuid = $1",
            );
            sqlx::query(FAIL.for_dialect(d))
                .bind(&o.step_uuid)
                .bind(stored.to_string())
                .bind(o.metadata.clone())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            work.step(
                &o.task_uuid,
                &o.step_uuid,
                Some(StepState::InProgress.as_str()),
                StepState::Error.as_str(),
                Some(worker_id),
                Some(format!(
                    "{reason} ({}: {})",
                    error.error_type, error.message
                )),
            );
            if !task_state.is_terminal() {
                let why = format!("step '{name}' failed permanently: {}", error.message);
                set_task_state(
                    tx,
                    d,
                    now,
                    &o.task_uuid,
                    task_state,
                    TaskState::Error,
                    why.clone(),
                    work,
                )
                .await?;
                // Steps that have not started never will; running siblings finish and are recorded.
                finish_open_steps(
                    tx,
                    d,
                    now,
                    &o.task_uuid,
                    &["pending", "enqueued", "waiting_for_retry"],
                    &why,
                    work,
                )
                .await?;
            }
            Ok(RecordOutcome::Recorded {
                step_uuid: o.step_uuid.clone(),
                state: StepState::Error,
            })
        }
    }
}

/// When no step of the task is ready or running but one waits for a retry, the task waits too.
#[allow(clippy::too_many_arguments)]
async fn wait_for_retry_if_idle(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    task_uuid: &str,
    task_state: TaskState,
    reason: Option<String>,
    work: &mut Work,
) -> Result<(), EngineError> {
    static COUNTS: Sql = Sql::new(
        "SELECT
            SUM(CASE WHEN state IN ('enqueued', 'in_progress') THEN 1 ELSE 0 END) AS active,
            SUM(CASE WHEN state = 'waiting_for_retry' THEN 1 ELSE 0 END) AS waiting,
            MIN(CASE WHEN state = 'waiting_for_retry' THEN ready_at END) - DB_NOW_MS AS next_in
         FROM tasker_steps WHERE task_uuid = $1",
    );
    let r = sqlx::query(COUNTS.for_dialect(d))
        .bind(task_uuid)
        .fetch_one(&mut **tx)
        .await?;
    let active: Option<i64> = r.try_get("active")?;
    let waiting: Option<i64> = r.try_get("waiting")?;
    let next_in: Option<i64> = r.try_get("next_in")?;
    if active.unwrap_or(0) == 0 && waiting.unwrap_or(0) > 0 {
        let wait = next_in.map(|t| t.max(0)).unwrap_or(0);
        set_task_state(
            tx,
            d,
            now,
            task_uuid,
            task_state,
            TaskState::WaitingForRetry,
            reason.unwrap_or_else(|| {
                format!("no step is running; the next retry is due in {wait} ms")
            }),
            work,
        )
        .await?;
    }
    Ok(())
}

/// A step completed: every dependent whose last dependency this was becomes claimable now.
/// Returns whether any did.
async fn enqueue_dependents(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    task_uuid: &str,
    step_uuid: &str,
    step_name: &str,
    work: &mut Work,
) -> Result<bool, EngineError> {
    // One statement: count the dependency down, and enqueue the step whose count reaches 0.
    // (Both backends evaluate SET expressions against the row's old values.)
    static DEPENDENTS: Sql = Sql::new(
        "UPDATE tasker_steps SET pending_deps = pending_deps - 1,
            state = CASE WHEN pending_deps = 1 AND state = 'pending' THEN 'enqueued' ELSE state END,
            ready_at = CASE WHEN pending_deps = 1 AND state = 'pending' THEN DB_NOW_MS ELSE ready_at END,
            updated_at = $2
         WHERE step_uuid IN (SELECT to_step FROM tasker_step_edges WHERE from_step = $1)
         RETURNING step_uuid, pending_deps, state, handler_callable",
    );
    let rows = sqlx::query(DEPENDENTS.for_dialect(d))
        .bind(step_uuid)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    let mut any = false;
    for r in rows {
        let pending: i64 = r.try_get("pending_deps")?;
        let state: String = r.try_get("state")?;
        if pending == 0 && state == StepState::Enqueued.as_str() {
            let s: String = r.try_get("step_uuid")?;
            work.step(
                task_uuid,
                &s,
                Some(StepState::Pending.as_str()),
                StepState::Enqueued.as_str(),
                None,
                Some(format!("dependencies complete (last: '{step_name}')")),
            );
            work.enqueued_callables.push(r.try_get("handler_callable")?);
            any = true;
        }
    }
    if any {
        work.effect(Effect::StepsReady);
    }
    Ok(any)
}

/// The bookkeeping after a step completed: its transition, the steps an outcome planned, the
/// dependents it makes ready, and the task's completion.
#[allow(clippy::too_many_arguments)]
async fn after_complete(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    o: &StepOutcome,
    name: &str,
    attempts: i64,
    max_attempts: i64,
    (planned, extra_edges): (Vec<NewStep>, Vec<(String, String)>),
    worker_id: &str,
    work: &mut Work,
    task_state: TaskState,
) -> Result<RecordOutcome, EngineError> {
    let took = o
        .duration_ms
        .map(|ms| format!(" in {ms:.1} ms"))
        .unwrap_or_default();
    work.step(
        &o.task_uuid,
        &o.step_uuid,
        Some(StepState::InProgress.as_str()),
        StepState::Complete.as_str(),
        Some(worker_id),
        Some(format!(
            "attempt {attempts} of {max_attempts} succeeded{took}"
        )),
    );
    // New steps first (without their edges from this step), then this step's existing
    // dependents are counted down, then the new steps' edges from this step are added: this
    // (complete) step never counts against them, and a convergence step that waited for this
    // decision gets its new branches before it could become ready.
    let created = planned.len() as i64;
    let mut enqueued = false;
    let mut source_edges = Vec::new();
    if !task_state.is_terminal() && (!planned.is_empty() || !extra_edges.is_empty()) {
        let (ready, edges) = crate::expand::create_steps(
            tx,
            d,
            now,
            &o.task_uuid,
            (name, &o.step_uuid),
            planned,
            extra_edges,
            work,
        )
        .await?;
        enqueued = ready;
        source_edges = edges;
    }
    if !task_state.is_terminal() {
        enqueued |= enqueue_dependents(tx, d, now, &o.task_uuid, &o.step_uuid, name, work).await?;
    }
    crate::steps::insert_edges(tx, d, &source_edges).await?;
    static COUNT: Sql = Sql::new(
        "UPDATE tasker_tasks SET completed_steps = completed_steps + 1,
            total_steps = total_steps + $3, updated_at = $2
         WHERE task_uuid = $1 RETURNING completed_steps, total_steps",
    );
    let r = sqlx::query(COUNT.for_dialect(d))
        .bind(&o.task_uuid)
        .bind(now)
        .bind(created)
        .fetch_one(&mut **tx)
        .await?;
    let done: i64 = r.try_get("completed_steps")?;
    let total: i64 = r.try_get("total_steps")?;
    if done >= total && !task_state.is_terminal() {
        set_task_state(
            tx,
            d,
            now,
            &o.task_uuid,
            task_state,
            TaskState::Complete,
            format!("all {total} steps complete"),
            work,
        )
        .await?;
    } else if task_state == TaskState::StepsInProcess && !enqueued {
        // Nothing left running and nothing ready: the task now only waits out retries.
        wait_for_retry_if_idle(tx, d, now, &o.task_uuid, task_state, None, work).await?;
    }
    Ok(RecordOutcome::Recorded {
        step_uuid: o.step_uuid.clone(),
        state: StepState::Complete,
    })
}

/// A decision or batchable step succeeded: its outcome must be valid and its plan feasible, or
/// the step fails permanently with a message naming what is wrong (nothing is created).
#[allow(clippy::too_many_arguments)]
async fn complete_with_outcome(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    o: &StepOutcome,
    result_text: &str,
    worker_id: &str,
    work: &mut Work,
    task_state: TaskState,
    limits: &ExpansionLimits,
) -> Result<RecordOutcome, EngineError> {
    let Some(ClaimedRow {
        name,
        step_type,
        attempts,
        max_attempts,
        definition,
    }) = lock_claimed_step(tx, d, o).await?
    else {
        return Ok(RecordOutcome::Stale {
            step_uuid: o.step_uuid.clone(),
        });
    };
    let planned = if task_state.is_terminal() {
        Ok((Vec::new(), Vec::new())) // nothing of a finished task runs again
    } else {
        crate::expand::plan(
            tx,
            d,
            &o.task_uuid,
            &name,
            &step_type,
            &definition,
            result_text,
            limits,
        )
        .await?
    };
    let planned = match planned {
        Ok(p) => p,
        Err((error_type, message)) => {
            let e = StepError::rejected(error_type, message);
            return record_failure(tx, d, now, o, worker_id, work, task_state, Some(e)).await;
        }
    };
    static COMPLETE: Sql = Sql::new(
        "UPDATE tasker_steps SET state = 'complete', result = $2, metadata = $3, error = NULL,
            claim_id = NULL, claimed_by = NULL, lease_until = NULL, ready_at = NULL, updated_at = $4
         WHERE step_uuid = $1",
    );
    sqlx::query(COMPLETE.for_dialect(d))
        .bind(&o.step_uuid)
        .bind(result_text)
        .bind(o.metadata.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    after_complete(
        tx,
        d,
        now,
        o,
        &name,
        attempts,
        max_attempts,
        planned,
        worker_id,
        work,
        task_state,
    )
    .await
}

/// The step an outcome reports on, locked, if its claim is still current.
struct ClaimedRow {
    name: String,
    step_type: String,
    attempts: i64,
    max_attempts: i64,
    definition: String,
}

async fn lock_claimed_step(
    tx: &mut Tx,
    d: Dialect,
    o: &StepOutcome,
) -> Result<Option<ClaimedRow>, EngineError> {
    let select = match d {
        Dialect::Postgres => {
            "SELECT name, step_type, definition, attempts, max_attempts FROM tasker_steps
             WHERE step_uuid = $1 AND claim_id = $2 AND state = 'in_progress' FOR UPDATE"
        }
        Dialect::Sqlite => {
            "SELECT name, step_type, definition, attempts, max_attempts FROM tasker_steps
             WHERE step_uuid = ?1 AND claim_id = ?2 AND state = 'in_progress'"
        }
    };
    let Some(row) = sqlx::query(select)
        .bind(&o.step_uuid)
        .bind(&o.claim_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(ClaimedRow {
        name: row.try_get("name")?,
        step_type: row.try_get("step_type")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        definition: row.try_get("definition")?,
    }))
}
