//! Claiming ready steps under a lease, renewing and releasing leases, and reclaiming the steps
//! of workers that stopped renewing theirs.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::value::RawValue;
use tasker_domain::{
    check_json, echo, json_kind, JsonProblem, StepDefinition, StepState, StepType, TaskState,
};
use tasker_storage::{now_ms, placeholder_list, placeholders, Dialect, Row, Sql, StorageError, Tx};

use crate::events::Effect;
use crate::results::{StepError, StepOutcome};
use crate::transitions::Work;
use crate::{Engine, EngineError};

/// A step this worker now owns until it reports a result or its lease runs out.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    pub step_uuid: String,
    pub task_uuid: String,
    pub step_name: String,
    pub claim_id: String,
    /// This attempt's number (1 on the first run).
    pub attempt: i64,
    pub max_attempts: i64,
    pub timeout_ms: u64,
    /// JSON of the `StepPayload` handed to the handler runtime.
    pub payload: String,
}

struct Picked {
    step_uuid: String,
    task_uuid: String,
    name: String,
    definition: String,
    attempts: i64,
    max_attempts: i64,
    inputs: String,
    checkpoint: Option<String>,
    dep_total: i64,
    from_state: String,
}

/// What a worker asks for when it claims: up to `limit` ready steps whose handler callable is
/// one of `callables`, leased for `lease_ms`.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub callables: Vec<String>,
    pub limit: usize,
    pub worker_id: String,
    pub lease_ms: u64,
}

/// Steps claimed inside a transaction, to be turned into `ClaimedStep`s after it commits.
#[derive(Default)]
pub(crate) struct Claimed {
    picked: Vec<Picked>,
    claim_id: String,
}

impl Claimed {
    pub(crate) fn len(&self) -> usize {
        self.picked.len()
    }
}

/// Claim inside an open transaction (used on its own, and right after recording results so
/// that a worker picks up the steps its results made ready without another round trip).
/// Never blocks on rows another process is claiming (SKIP LOCKED on PostgreSQL).
pub(crate) async fn claim_in_tx(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    req: &ClaimRequest,
    work: &mut Work,
) -> Result<Claimed, EngineError> {
    let claim_id = uuid::Uuid::new_v4().to_string();
    if req.limit == 0 || req.callables.is_empty() {
        return Ok(Claimed {
            picked: Vec::new(),
            claim_id,
        });
    }
    // Ready times and the lease deadline come from the database's clock, read when the
    // statement runs; `now` (the caller's clock) is only the audit time `updated_at`.
    let lease_ms = req.lease_ms as i64;
    let picked: Vec<Picked> = match d {
        Dialect::Postgres => {
            let sql = format!(
                "WITH picked AS (
                    SELECT step_uuid, state FROM tasker_steps
                    WHERE state IN ('enqueued', 'waiting_for_retry') AND ready_at <= DB_NOW_MS
                      AND handler_callable IN ({})
                    ORDER BY ready_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 UPDATE tasker_steps s SET state = 'in_progress', attempts = s.attempts + 1,
                    claim_id = $3, claimed_by = $4, lease_until = DB_NOW_MS + $5, updated_at = $1
                 FROM picked WHERE s.step_uuid = picked.step_uuid
                 RETURNING s.step_uuid, s.task_uuid, s.name, s.definition, s.attempts,
                    s.max_attempts, s.inputs, s.checkpoint, s.dep_total, picked.state AS from_state",
                placeholder_list(6, req.callables.len())
            );
            let sql = placeholders(d, &sql);
            let mut q = sqlx::query(&sql)
                .bind(now)
                .bind(req.limit as i64)
                .bind(&claim_id)
                .bind(&req.worker_id)
                .bind(lease_ms);
            for c in &req.callables {
                q = q.bind(c);
            }
            q.fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| picked_from_row(r, None))
                .collect::<Result<_, _>>()?
        }
        Dialect::Sqlite => {
            // One connection serialises SQLite transactions: select, then update.
            let select = placeholders(
                d,
                &format!(
                    "SELECT step_uuid, state FROM tasker_steps
                     WHERE state IN ('enqueued', 'waiting_for_retry') AND ready_at <= DB_NOW_MS
                       AND handler_callable IN ({})
                     ORDER BY ready_at LIMIT $1",
                    placeholder_list(2, req.callables.len())
                ),
            );
            let mut q = sqlx::query(&select).bind(req.limit as i64);
            for c in &req.callables {
                q = q.bind(c);
            }
            let rows = q.fetch_all(&mut **tx).await?;
            if rows.is_empty() {
                return Ok(Claimed {
                    picked: Vec::new(),
                    claim_id,
                });
            }
            let mut from: HashMap<String, String> = HashMap::new();
            for r in &rows {
                from.insert(r.try_get("step_uuid")?, r.try_get("state")?);
            }
            let update = placeholders(
                d,
                &format!(
                    "UPDATE tasker_steps SET state = 'in_progress', attempts = attempts + 1,
                        claim_id = $2, claimed_by = $3, lease_until = DB_NOW_MS + $4, updated_at = $1
                     WHERE step_uuid IN ({})
                     RETURNING step_uuid, task_uuid, name, definition, attempts, max_attempts,
                        inputs, checkpoint, dep_total",
                    placeholder_list(5, from.len())
                ),
            );
            let mut q = sqlx::query(&update)
                .bind(now)
                .bind(&claim_id)
                .bind(&req.worker_id)
                .bind(lease_ms);
            for uuid in from.keys() {
                q = q.bind(uuid.clone());
            }
            q.fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| picked_from_row(r, Some(&from)))
                .collect::<Result<_, _>>()?
        }
    };
    for p in &picked {
        work.step(
            &p.task_uuid,
            &p.step_uuid,
            Some(state_name(&p.from_state)),
            StepState::InProgress.as_str(),
            Some(&req.worker_id),
            Some(format!("attempt {} of {}", p.attempts, p.max_attempts)),
        );
    }
    Ok(Claimed { picked, claim_id })
}

impl Engine {
    /// Claim up to `limit` ready steps whose handler callable is in `callables`.
    pub async fn claim(
        &self,
        callables: &[String],
        limit: usize,
        worker_id: &str,
        lease_ms: u64,
    ) -> Result<Vec<ClaimedStep>, EngineError> {
        if limit == 0 || callables.is_empty() {
            return Ok(Vec::new());
        }
        let req = ClaimRequest {
            callables: callables.to_vec(),
            limit,
            worker_id: worker_id.to_string(),
            lease_ms,
        };
        let d = self.dialect();
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let mut work = Work::default();
        let claimed = claim_in_tx(&mut tx, d, now, &req, &mut work).await?;
        if claimed.picked.is_empty() {
            return Ok(Vec::new());
        }
        work.flush(&mut tx, d, now, self.events().origin()).await?;
        tx.commit().await.map_err(StorageError::from)?;
        self.finish_claims(claimed).await
    }

    /// After the claiming transaction committed: resume tasks that were waiting out a retry,
    /// and load what the handlers need.
    pub(crate) async fn finish_claims(
        &self,
        claimed: Claimed,
    ) -> Result<Vec<ClaimedStep>, EngineError> {
        if claimed.picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut retried: Vec<String> = claimed
            .picked
            .iter()
            .filter(|p| p.from_state == StepState::WaitingForRetry.as_str())
            .map(|p| p.task_uuid.clone())
            .collect();
        retried.sort_unstable();
        retried.dedup();
        if !retried.is_empty() {
            self.resume_tasks(&retried).await?;
        }
        self.build_claims(claimed.picked, claimed.claim_id).await
    }

    /// Tasks that were waiting out a retry are running again.
    async fn resume_tasks(&self, task_uuids: &[String]) -> Result<(), EngineError> {
        let d = self.dialect();
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let sql = placeholders(
            d,
            &format!(
                "UPDATE tasker_tasks SET state = 'steps_in_process', updated_at = $1
                 WHERE state = 'waiting_for_retry' AND task_uuid IN ({})
                 RETURNING task_uuid",
                placeholder_list(2, task_uuids.len())
            ),
        );
        let mut q = sqlx::query(&sql).bind(now);
        for t in task_uuids {
            q = q.bind(t.clone());
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let mut work = Work::default();
        for r in rows {
            let t: String = r.try_get("task_uuid")?;
            work.task(
                &t,
                Some(TaskState::WaitingForRetry.as_str()),
                TaskState::StepsInProcess.as_str(),
                Some("a step is being retried".to_string()),
            );
        }
        work.flush(&mut tx, d, now, self.events().origin()).await?;
        tx.commit().await.map_err(StorageError::from)?;
        Ok(())
    }

    /// Load what a handler needs: the task's context and every completed ancestor's result.
    async fn build_claims(
        &self,
        picked: Vec<Picked>,
        claim_id: String,
    ) -> Result<Vec<ClaimedStep>, EngineError> {
        let d = self.dialect();
        let pool = self.db().pool();
        let mut task_ids: Vec<&str> = picked.iter().map(|p| p.task_uuid.as_str()).collect();
        task_ids.sort_unstable();
        task_ids.dedup();
        let sql = placeholders(
            d,
            &format!(
                "SELECT task_uuid, namespace, name, version, context FROM tasker_tasks
                 WHERE task_uuid IN ({})",
                placeholder_list(1, task_ids.len())
            ),
        );
        let mut q = sqlx::query(&sql);
        for t in &task_ids {
            q = q.bind(t.to_string());
        }
        let mut tasks: HashMap<String, PayloadTask> = HashMap::new();
        for r in q.fetch_all(pool).await? {
            let uuid: String = r.try_get("task_uuid")?;
            let context = stored(r.try_get("context")?, || {
                format!("the context of task {uuid}")
            })?;
            tasks.insert(
                uuid.clone(),
                PayloadTask {
                    task_uuid: uuid,
                    namespace: r.try_get("namespace")?,
                    name: r.try_get("name")?,
                    version: r.try_get("version")?,
                    context,
                },
            );
        }

        static ANCESTORS: Sql = Sql::new(
            "WITH RECURSIVE anc (step_uuid) AS (
                SELECT from_step FROM tasker_step_edges WHERE to_step = $1
                UNION
                SELECT e.from_step FROM tasker_step_edges e JOIN anc ON e.to_step = anc.step_uuid)
             SELECT s.step_uuid, s.name, s.result FROM tasker_steps s JOIN anc ON s.step_uuid = anc.step_uuid
             WHERE s.state = 'complete'",
        );
        let mut claims = Vec::with_capacity(picked.len());
        for p in picked {
            let definition: StepDefinition = serde_json::from_str(&p.definition).map_err(|e| {
                EngineError::InvalidArgument(format!(
                    "step {} has an unreadable definition: {e}",
                    p.step_uuid
                ))
            })?;
            let mut dependency_results = BTreeMap::new();
            if p.dep_total > 0 {
                for r in sqlx::query(ANCESTORS.for_dialect(d))
                    .bind(&p.step_uuid)
                    .fetch_all(pool)
                    .await?
                {
                    let name: String = r.try_get("name")?;
                    let result = match r.try_get::<Option<String>, _>("result")? {
                        Some(text) => Some(stored(text, || {
                            format!(
                                "the result of step '{}' of task {}",
                                echo(&name),
                                p.task_uuid
                            )
                        })?),
                        None => None,
                    };
                    dependency_results.insert(
                        name.clone(),
                        DependencyResult {
                            step_uuid: r.try_get("step_uuid")?,
                            name,
                            success: true,
                            result,
                        },
                    );
                }
            }
            let of = |what: &str| {
                format!(
                    "the {what} of step '{}' of task {}",
                    echo(&p.name),
                    p.task_uuid
                )
            };
            let inputs = stored(p.inputs.clone(), || of("inputs"))?;
            let checkpoint = match &p.checkpoint {
                Some(c) => Some(stored(c.clone(), || of("checkpoint"))?),
                None => None,
            };
            let timeout_ms = definition.timeout_ms();
            let payload = Payload {
                task: tasks.get(&p.task_uuid),
                step: PayloadStep {
                    step_uuid: &p.step_uuid,
                    name: &p.name,
                    template_step_name: &definition.name,
                    step_type: definition.step_type,
                    handler_callable: &definition.handler.callable,
                    handler_initialization: &definition.handler.initialization,
                    inputs,
                    attempts: p.attempts - 1,
                    max_attempts: p.max_attempts,
                    timeout_ms,
                    checkpoint,
                },
                dependency_results,
            };
            let payload = serde_json::to_string(&payload).map_err(|e| {
                EngineError::InvalidArgument(format!(
                    "the payload of step {} cannot be written: {e}",
                    p.step_uuid
                ))
            })?;
            claims.push(ClaimedStep {
                step_uuid: p.step_uuid,
                task_uuid: p.task_uuid,
                step_name: p.name,
                claim_id: claim_id.clone(),
                attempt: p.attempts,
                max_attempts: p.max_attempts,
                timeout_ms,
                payload,
            });
        }
        Ok(claims)
    }

    /// How long until the next step for these callables becomes claimable, in milliseconds by
    /// the database's clock (0 when one is ready now; `None` when none is waiting), for timed
    /// wake-ups.
    pub async fn next_ready_in(&self, callables: &[String]) -> Result<Option<u64>, EngineError> {
        if callables.is_empty() {
            return Ok(None);
        }
        let sql = placeholders(
            self.dialect(),
            &format!(
                "SELECT MIN(ready_at) - DB_NOW_MS FROM tasker_steps
                 WHERE state IN ('enqueued', 'waiting_for_retry') AND handler_callable IN ({})",
                placeholder_list(1, callables.len())
            ),
        );
        let mut q = sqlx::query_scalar::<_, Option<i64>>(&sql);
        for c in callables {
            q = q.bind(c.clone());
        }
        let delay = q.fetch_one(self.db().pool()).await?;
        Ok(delay.map(|ms| u64::try_from(ms).unwrap_or(0)))
    }

    /// Keep this worker's claims alive: each `(step_uuid, claim_id)` pair is renewed only while
    /// that claim is still the step's current one, to `leaseMs` from the database's clock when
    /// the statement runs. Returns the pairs still held: a pair missing from the answer was
    /// cancelled, failed or reaped meanwhile (by any process, possibly re-claimed under a new
    /// claim, whose lease is left alone), and its handler should be aborted.
    pub async fn renew_leases(
        &self,
        worker_id: &str,
        claims: &[(String, String)],
        lease_ms: u64,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let mut held = Vec::with_capacity(claims.len());
        for chunk in claims.chunks(500) {
            let pairs = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = placeholders(
                self.dialect(),
                &format!(
                    "UPDATE tasker_steps SET lease_until = DB_NOW_MS + $1
                     WHERE claimed_by = $2 AND state = 'in_progress'
                       AND (step_uuid, claim_id) IN (VALUES {pairs})
                     RETURNING step_uuid, claim_id"
                ),
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql)
                .bind(lease_ms as i64)
                .bind(worker_id);
            for (step, claim) in chunk {
                q = q.bind(step.clone()).bind(claim.clone());
            }
            held.extend(q.fetch_all(self.db().pool()).await?);
        }
        Ok(held)
    }

    /// Persist a checkpoint for a step under this claim (and renew its lease). `false` when the
    /// claim is no longer current.
    pub async fn save_checkpoint(
        &self,
        step_uuid: &str,
        claim_id: &str,
        checkpoint: &str,
        lease_ms: u64,
    ) -> Result<bool, EngineError> {
        let limits = self.json_limits();
        let problem = match check_json(checkpoint, limits.max_result_bytes, limits.max_depth) {
            Ok(raw) if json_kind(raw.get()) == "an object" => None,
            Ok(_) => Some("must be a JSON object".to_string()),
            Err(JsonProblem::Invalid(e)) => Some(format!("is not valid JSON: {e}")),
            Err(JsonProblem::TooLarge { bytes, limit }) => Some(format!(
                "is {bytes} bytes; the limit is {limit} bytes (maxResultBytes)"
            )),
            Err(JsonProblem::TooDeep { depth, limit }) => Some(format!(
                "is nested {depth} levels deep; the limit is {limit} (maxJsonDepth)"
            )),
        };
        if let Some(problem) = problem {
            return Err(EngineError::InvalidArgument(format!(
                "checkpoint {problem}"
            )));
        }
        static SAVE: Sql = Sql::new(
            "UPDATE tasker_steps SET checkpoint = $3, lease_until = DB_NOW_MS + $4, updated_at = $5
             WHERE step_uuid = $1 AND claim_id = $2 AND state = 'in_progress'",
        );
        let r = sqlx::query(SAVE.for_dialect(self.dialect()))
            .bind(step_uuid)
            .bind(claim_id)
            .bind(checkpoint)
            .bind(lease_ms as i64)
            .bind(now_ms())
            .execute(self.db().pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Hand claimed steps back without counting the attempt (graceful shutdown): another
    /// worker runs them again at once.
    pub async fn release(
        &self,
        claims: &[(String, String)],
        worker_id: &str,
        reason: &str,
    ) -> Result<usize, EngineError> {
        // A step of a task that has meanwhile finished (a sibling failed it) is not run again.
        static RELEASE: Sql = Sql::new(
            "UPDATE tasker_steps SET attempts = attempts - 1, claim_id = NULL, claimed_by = NULL,
                lease_until = NULL, updated_at = $1,
                state = CASE WHEN (SELECT t.state FROM tasker_tasks t WHERE t.task_uuid = tasker_steps.task_uuid)
                             IN ('complete', 'error', 'cancelled') THEN 'cancelled' ELSE 'enqueued' END,
                ready_at = CASE WHEN (SELECT t.state FROM tasker_tasks t WHERE t.task_uuid = tasker_steps.task_uuid)
                             IN ('complete', 'error', 'cancelled') THEN NULL ELSE DB_NOW_MS END
             WHERE step_uuid = $2 AND claim_id = $3 AND state = 'in_progress'
             RETURNING task_uuid, state",
        );
        let d = self.dialect();
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let mut work = Work::default();
        for (step_uuid, claim_id) in claims {
            if let Some(r) = sqlx::query(RELEASE.for_dialect(d))
                .bind(now)
                .bind(step_uuid)
                .bind(claim_id)
                .fetch_optional(&mut *tx)
                .await?
            {
                let task: String = r.try_get("task_uuid")?;
                let state: String = r.try_get("state")?;
                if state == StepState::Enqueued.as_str() {
                    work.step(
                        &task,
                        step_uuid,
                        Some(StepState::InProgress.as_str()),
                        StepState::Enqueued.as_str(),
                        Some(worker_id),
                        Some(reason.to_string()),
                    );
                    work.effect(Effect::StepsReady);
                } else {
                    work.step(
                        &task,
                        step_uuid,
                        Some(StepState::InProgress.as_str()),
                        StepState::Cancelled.as_str(),
                        Some(worker_id),
                        Some(format!(
                            "{reason}; not run again because its task has finished"
                        )),
                    );
                }
            }
        }
        let released = work.transitions.len();
        work.flush(&mut tx, d, now, self.events().origin()).await?;
        tx.commit().await.map_err(StorageError::from)?;
        self.events().emit(&work.effects);
        Ok(released)
    }

    /// Fail the current attempt of every step whose lease ran out (its worker crashed or hung);
    /// the normal retry rules then apply. Safe to run from every process at once; `reaper` (the
    /// reaping worker) is recorded on the transitions.
    pub async fn reap_expired_leases(&self, reaper: &str) -> Result<usize, EngineError> {
        let d = self.dialect();
        // Expired by the database's clock, the one every lease deadline was computed from.
        static EXPIRED: Sql = Sql::new(
            "SELECT step_uuid, task_uuid, claim_id, claimed_by, attempts, max_attempts FROM tasker_steps
             WHERE state = 'in_progress' AND lease_until < DB_NOW_MS ORDER BY lease_until LIMIT 100",
        );
        let sql = match d {
            Dialect::Postgres => format!("{} FOR UPDATE SKIP LOCKED", EXPIRED.for_dialect(d)),
            Dialect::Sqlite => EXPIRED.for_dialect(d).to_string(),
        };
        let rows = sqlx::query(&sql).fetch_all(self.db().pool()).await?;
        let mut outcomes = Vec::with_capacity(rows.len());
        for r in rows {
            let worker: Option<String> = r.try_get("claimed_by")?;
            let attempts: i64 = r.try_get("attempts")?;
            let max: i64 = r.try_get("max_attempts")?;
            outcomes.push(StepOutcome {
                step_uuid: r.try_get("step_uuid")?,
                task_uuid: r.try_get("task_uuid")?,
                claim_id: r.try_get::<Option<String>, _>("claim_id")?.unwrap_or_default(),
                success: false,
                result: None,
                metadata: None,
                duration_ms: None,
                error: Some(StepError {
                    message: format!(
                        "lease expired: worker {} stopped renewing its claim during attempt {attempts} of {max} (crashed or hung)",
                        worker.as_deref().unwrap_or("?")
                    ),
                    error_type: "lease_expired".to_string(),
                    retryable: true,
                    retry_after_ms: None,
                    status_code: None,
                }),
            });
        }
        let n = outcomes.len();
        if n > 0 {
            self.record_results(outcomes, reaper).await?;
        }
        Ok(n)
    }
}

fn picked_from_row(
    r: &tasker_storage::AnyRow,
    from: Option<&HashMap<String, String>>,
) -> Result<Picked, sqlx::Error> {
    let step_uuid: String = r.try_get("step_uuid")?;
    let from_state = match from {
        Some(map) => map.get(&step_uuid).cloned().unwrap_or_default(),
        None => r.try_get("from_state")?,
    };
    Ok(Picked {
        task_uuid: r.try_get("task_uuid")?,
        name: r.try_get("name")?,
        definition: r.try_get("definition")?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        inputs: r.try_get("inputs")?,
        checkpoint: r.try_get("checkpoint")?,
        dep_total: r.try_get("dep_total")?,
        from_state,
        step_uuid,
    })
}

fn state_name(s: &str) -> &'static str {
    s.parse::<StepState>()
        .map(StepState::as_str)
        .unwrap_or("enqueued")
}

/// Stored JSON text, handed over as it is (never rebuilt, so any nesting and any string
/// round-trips). `what` names the value in the error for text that is not JSON.
fn stored(text: String, what: impl FnOnce() -> String) -> Result<Box<RawValue>, EngineError> {
    RawValue::from_string(text)
        .map_err(|e| EngineError::InvalidArgument(format!("{} is not readable JSON: {e}", what())))
}

/// What a handler is given (`StepPayload` in src/native.ts).
#[derive(Serialize)]
struct Payload<'a> {
    task: Option<&'a PayloadTask>,
    step: PayloadStep<'a>,
    dependency_results: BTreeMap<String, DependencyResult>,
}

#[derive(Serialize)]
struct PayloadTask {
    task_uuid: String,
    namespace: String,
    name: String,
    version: String,
    context: Box<RawValue>,
}

#[derive(Serialize)]
struct PayloadStep<'a> {
    step_uuid: &'a str,
    name: &'a str,
    template_step_name: &'a str,
    step_type: StepType,
    handler_callable: &'a str,
    handler_initialization: &'a serde_json::Value,
    inputs: Box<RawValue>,
    /// Attempts before this one.
    attempts: i64,
    max_attempts: i64,
    timeout_ms: u64,
    checkpoint: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct DependencyResult {
    step_uuid: String,
    name: String,
    success: bool,
    result: Option<Box<RawValue>>,
}
