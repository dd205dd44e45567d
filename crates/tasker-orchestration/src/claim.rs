//! Claiming ready steps under a lease, and what a handler receives for each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tasker_domain::{StepLimits, StepState, TaskState};
use tasker_store::{
    run_read, run_write, ClaimedRow, DependencyResult, TaskChange, Tx, Uuid, WantedDependencies,
};

use crate::templates::{Snapshot, Snapshots};
use crate::work::Work;
use crate::{payload, Engine, EngineError};

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
    /// JSON of the step's dependency results, keyed by step name (`None` without any): kept
    /// apart so that the runtime parses them only when the handler asks for them.
    pub dependencies: Option<String>,
    /// The task creator's trace context (JSON text of a W3C carrier), if one was stored.
    pub trace_context: Option<String>,
}

/// What a worker asks for when it claims: up to `limit` ready steps whose handler callable is
/// one of `callables`, leased for `lease_ms`. `limits` are the worker's own per-handler limits
/// (`createWorker({ limits })`, by callable): a step of such a handler whose template gives
/// it none is given these before it is claimed (docs/limits.md).
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub callables: Vec<String>,
    pub limits: Arc<HandlerLimits>,
    pub limit: usize,
    pub worker_id: String,
    pub lease_ms: u64,
}

/// A worker's per-handler limits, by callable.
pub type HandlerLimits = BTreeMap<String, StepLimits>;

/// How many unlimited ready steps a claim gives the worker's limits at most.
const LIMIT_BATCH: i64 = 1000;

/// Steps claimed inside a transaction, turned into `ClaimedStep`s after it commits.
#[derive(Default)]
pub(crate) struct Claimed {
    rows: Vec<ClaimedRow>,
    dependencies: Vec<DependencyResult>,
    snapshots: HashMap<String, Arc<Snapshot>>,
    claim_id: Uuid,
}

impl Claimed {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Claim inside an open transaction (on its own, and right after recording results so that a
/// worker picks up the steps its results made ready without another round trip).
pub(crate) async fn claim_in_tx(
    tx: &mut dyn Tx,
    req: &ClaimRequest,
    snapshots: &Snapshots,
    work: &mut Work,
) -> Result<Claimed, EngineError> {
    if req.limit == 0 || req.callables.is_empty() {
        return Ok(Claimed::default());
    }
    let claim_id = Uuid::new_v4();
    let limited_only = give_worker_limits(tx, req).await?;
    let rows = tx
        .claim(&tasker_store::ClaimRequest {
            callables: req.callables.clone(),
            limited_only,
            limit: req.limit,
            worker_id: req.worker_id.clone(),
            lease_ms: i64::try_from(req.lease_ms).unwrap_or(i64::MAX),
            claim_id,
        })
        .await?;
    if rows.is_empty() {
        return Ok(Claimed::default());
    }
    for r in &rows {
        work.step(
            r.task_uuid,
            r.step_uuid,
            Some(r.from_state),
            StepState::InProgress,
            Some(&req.worker_id),
            Some(format!("attempt {} of {}", r.attempts, r.max_attempts)),
        );
    }
    // A task that was waiting out a retry runs again.
    let mut retried: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.from_state == StepState::WaitingForRetry)
        .map(|r| r.task_uuid)
        .collect();
    retried.sort_unstable();
    retried.dedup();
    if !retried.is_empty() {
        let changes: Vec<TaskChange> = retried
            .iter()
            .map(|t| TaskChange {
                task_uuid: *t,
                to: TaskState::StepsInProcess,
                expect: Some(TaskState::WaitingForRetry),
            })
            .collect();
        for t in tx.change_tasks(&changes).await? {
            work.task(
                t,
                Some(TaskState::WaitingForRetry),
                TaskState::StepsInProcess,
                Some("a step is being retried".to_string()),
            );
        }
    }
    let mut by_digest = HashMap::new();
    for r in &rows {
        if !by_digest.contains_key(&r.template_digest) {
            let s = snapshots.load(tx, &r.template_digest).await?;
            by_digest.insert(r.template_digest.clone(), s);
        }
    }
    // A step receives the results of the dependencies its template step declares (not of every
    // ancestor): the steps of those template steps, found by name, since a deferred-convergence
    // step has edges from the batch workers only, not from its other declared dependencies. A
    // step its template lacks is reported by `finish_claims`.
    let wanted: Vec<WantedDependencies> = rows
        .iter()
        .filter_map(|r| {
            let (_, def) = by_digest
                .get(&r.template_digest)?
                .step(&r.template_step_name)?;
            (!def.dependencies.is_empty()).then(|| WantedDependencies {
                step_uuid: r.step_uuid,
                dependencies: &def.dependencies,
            })
        })
        .collect();
    let dependencies = tx.dependency_results(&wanted).await?;
    Ok(Claimed {
        rows,
        dependencies,
        snapshots: by_digest,
        claim_id,
    })
}

/// Give the ready steps of the handlers the worker limits, whose templates gave them no limit,
/// the worker's limits (keyed on their task's context where the limit has a `limit_key`), so
/// that the limited claim enforces them across every worker. Returns those callables: their
/// steps are claimed only once limited.
async fn give_worker_limits(
    tx: &mut dyn Tx,
    req: &ClaimRequest,
) -> Result<Vec<String>, EngineError> {
    let limited: Vec<String> = req
        .callables
        .iter()
        .filter(|c| req.limits.contains_key(*c))
        .cloned()
        .collect();
    if limited.is_empty() {
        return Ok(limited);
    }
    let steps = tx.unlimited_ready(&limited, LIMIT_BATCH).await?;
    let given: Vec<(Uuid, tasker_store::StepLimit)> = steps
        .iter()
        .filter_map(|s| {
            let limits = req.limits.get(&s.handler_callable)?;
            // Contexts are checked JSON objects when tasks are created; only a key reads one.
            let context = match limits.limit_key {
                Some(_) => serde_json::from_str(&s.context).unwrap_or(serde_json::Value::Null),
                None => serde_json::Value::Null,
            };
            Some((
                s.step_uuid,
                crate::create::limit_of(&s.handler_callable, limits, &context),
            ))
        })
        .collect();
    tx.set_step_limits(&given).await?;
    Ok(limited)
}

/// Build what the handlers need, after the claiming transaction committed.
pub(crate) fn finish_claims(claimed: Claimed) -> Result<Vec<ClaimedStep>, EngineError> {
    let mut dependencies: HashMap<Uuid, Vec<&DependencyResult>> = HashMap::new();
    for d in &claimed.dependencies {
        dependencies.entry(d.for_step).or_default().push(d);
    }
    let claim_id = claimed.claim_id.to_string();
    let mut out = Vec::with_capacity(claimed.rows.len());
    for r in &claimed.rows {
        let snapshot = &claimed.snapshots[&r.template_digest];
        let Some((_, def)) = snapshot.step(&r.template_step_name) else {
            return Err(EngineError::Internal(format!(
                "step '{}' of task {} names template step '{}', which its template {} does not have",
                r.name,
                r.task_uuid,
                r.template_step_name,
                snapshot.template.key()
            )));
        };
        let timeout_ms = def.timeout_ms();
        let deps = dependencies
            .get(&r.step_uuid)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (payload, dependencies) = payload::build(r, snapshot, timeout_ms, deps);
        out.push(ClaimedStep {
            step_uuid: r.step_uuid.to_string(),
            task_uuid: r.task_uuid.to_string(),
            step_name: r.name.clone(),
            claim_id: claim_id.clone(),
            attempt: r.attempts,
            max_attempts: r.max_attempts,
            timeout_ms,
            payload,
            dependencies,
            trace_context: r.trace_context.clone(),
        });
    }
    Ok(out)
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
        self.claim_for(&ClaimRequest {
            callables: callables.to_vec(),
            limits: Arc::default(),
            limit,
            worker_id: worker_id.to_string(),
            lease_ms,
        })
        .await
    }

    /// Claim what `req` asks for, under the worker's own limits.
    pub async fn claim_for(&self, req: &ClaimRequest) -> Result<Vec<ClaimedStep>, EngineError> {
        if req.limit == 0 || req.callables.is_empty() {
            return Ok(Vec::new());
        }
        let req = req.clone();
        let snapshots = self.snapshots_arc();
        let (claimed, signals) = run_write(self.store(), move |tx| {
            Box::pin(async move {
                let mut work = Work::default();
                let claimed = claim_in_tx(tx, &req, &snapshots, &mut work).await?;
                if claimed.len() > 0 {
                    work.flush(tx).await?;
                }
                Ok::<_, EngineError>((claimed, work.signals))
            })
        })
        .await?;
        self.events().emit(&signals);
        finish_claims(claimed)
    }

    /// Milliseconds until the next step for these callables becomes claimable (0 when one is
    /// claimable now; `None` when none is waiting).
    pub async fn next_ready_in(&self, callables: &[String]) -> Result<Option<u64>, EngineError> {
        if callables.is_empty() {
            return Ok(None);
        }
        let callables = callables.to_vec();
        let ms = run_read(self.store(), move |tx| {
            Box::pin(async move { tx.next_ready_in(&callables).await })
        })
        .await?;
        Ok(ms.map(|ms| u64::try_from(ms).unwrap_or(0)))
    }
}
