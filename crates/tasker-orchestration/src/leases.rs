//! Leases: renewing and releasing claims, checkpoints, and reclaiming the steps of workers that
//! stopped renewing theirs. Every deadline is computed by the database at statement time.

use tasker_domain::{check_json, json_kind, JsonProblem, StepState};
use tasker_store::{run_write, Signal, StepChange, Uuid};

use crate::record::{StepError, StepOutcome};
use crate::work::Work;
use crate::{Engine, EngineError};

/// The (step, claim) pairs that parse; others cannot be current claims of this engine's.
fn parse_claims(claims: &[(String, String)]) -> Vec<(Uuid, Uuid)> {
    claims
        .iter()
        .filter_map(|(s, c)| Some((Uuid::parse_str(s).ok()?, Uuid::parse_str(c).ok()?)))
        .collect()
}

fn lease(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Engine {
    /// Keep this worker's claims alive for another `lease_ms`. Returns the steps still held: a
    /// step missing from the answer was cancelled, failed or reclaimed meanwhile (by any
    /// process), and its handler should be aborted. Only the exact claim is renewed, so a
    /// late renewal of an old claim never touches a newer one.
    pub async fn renew_leases(
        &self,
        worker_id: &str,
        claims: &[(String, String)],
        lease_ms: u64,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let pairs = parse_claims(claims);
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let worker = worker_id.to_string();
        let asked = pairs.clone();
        let held = run_write(self.store(), move |tx| {
            Box::pin(async move { tx.renew_leases(&worker, &pairs, lease(lease_ms)).await })
        })
        .await
        .map_err(EngineError::from)?;
        Ok(asked
            .into_iter()
            .filter(|(step, _)| held.contains(step))
            .map(|(s, c)| (s.to_string(), c.to_string()))
            .collect())
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
        let (Ok(step), Ok(claim)) = (Uuid::parse_str(step_uuid), Uuid::parse_str(claim_id)) else {
            return Ok(false);
        };
        let checkpoint = checkpoint.to_string();
        run_write(self.store(), move |tx| {
            Box::pin(async move {
                tx.save_checkpoint(step, claim, &checkpoint, lease(lease_ms))
                    .await
                    .map_err(EngineError::from)
            })
        })
        .await
    }

    /// Hand claimed steps back without counting the attempt (graceful shutdown): another
    /// worker runs them again at once. A step of a task that has meanwhile finished is
    /// cancelled instead. Returns how many claims were released.
    pub async fn release(
        &self,
        claims: &[(String, String)],
        worker_id: &str,
        reason: &str,
    ) -> Result<usize, EngineError> {
        let pairs = parse_claims(claims);
        if pairs.is_empty() {
            return Ok(0);
        }
        let worker = worker_id.to_string();
        let reason = reason.to_string();
        let (released, signals) = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let held = tx.held_claims(&pairs).await?;
                let changes: Vec<StepChange> = held
                    .iter()
                    .map(|h| StepChange {
                        step_uuid: h.step_uuid,
                        to: if h.task_state.is_terminal() {
                            StepState::Cancelled
                        } else {
                            StepState::Enqueued
                        },
                        expect_claim: Some(h.claim_id),
                        result: None,
                        error: None,
                        metadata: None,
                        ready_in_ms: None,
                        uncount_attempt: true,
                    })
                    .collect();
                let changed = tx.change_steps(&changes).await?;
                let mut work = Work::default();
                for h in held.iter().filter(|h| changed.contains(&h.step_uuid)) {
                    if h.task_state.is_terminal() {
                        work.step(
                            h.task_uuid,
                            h.step_uuid,
                            Some(StepState::InProgress),
                            StepState::Cancelled,
                            Some(&worker),
                            Some(format!(
                                "{reason}; not run again because its task has finished"
                            )),
                        );
                    } else {
                        work.step(
                            h.task_uuid,
                            h.step_uuid,
                            Some(StepState::InProgress),
                            StepState::Enqueued,
                            Some(&worker),
                            Some(reason.clone()),
                        );
                        work.signal(Signal::StepsReady);
                    }
                }
                let released = work.transition_count();
                work.flush(tx).await?;
                Ok::<_, EngineError>((released, work.signals))
            })
        })
        .await?;
        self.events().emit(&signals);
        Ok(released)
    }

    /// Fail the current attempt of every step whose lease ran out (its worker crashed or hung);
    /// the normal retry rules then apply. Safe to run from every process at once; `reaper` (the
    /// reaping worker) is recorded on the transitions.
    pub async fn reap_expired_leases(&self, reaper: &str) -> Result<usize, EngineError> {
        let expired = run_write(self.store(), |tx| {
            Box::pin(async move { tx.expired_claims(100).await })
        })
        .await
        .map_err(EngineError::from)?;
        let outcomes: Vec<StepOutcome> = expired
            .into_iter()
            .map(|e| StepOutcome {
                step_uuid: e.step_uuid.to_string(),
                task_uuid: e.task_uuid.to_string(),
                claim_id: e.claim_id.to_string(),
                success: false,
                result: None,
                metadata: None,
                duration_ms: None,
                error: Some(StepError {
                    message: format!(
                        "lease expired: worker {} stopped renewing its claim during attempt {} of {} (crashed or hung)",
                        e.claimed_by.as_deref().unwrap_or("?"),
                        e.attempts,
                        e.max_attempts
                    ),
                    error_type: "lease_expired".to_string(),
                    retryable: true,
                    retry_after_ms: None,
                    status_code: None,
                    stack: None,
                }),
            })
            .collect();
        let n = outcomes.len();
        if n > 0 {
            self.record_results(outcomes, reaper).await?;
        }
        Ok(n)
    }
}
