//! Building rows for the tests through the driver itself.

use tasker_store::*;

use crate::PgStore;

pub(crate) const DIGEST: &str = "digest-1";

/// Run a unit of work as a write transaction.
pub(crate) async fn write<R, F>(store: &PgStore, work: F) -> StoreResult<R>
where
    R: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<R>> + Send + 'static,
{
    run_write::<R, StoreError, F>(store, work).await
}

/// Run a unit of work with read access.
pub(crate) async fn read<R, F>(store: &PgStore, work: F) -> StoreResult<R>
where
    R: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<R>> + Send + 'static,
{
    run_read::<R, StoreError, F>(store, work).await
}

pub(crate) fn template(digest: &str, version: &str, definition: &str) -> TemplateRecord {
    TemplateRecord {
        namespace: "ns".into(),
        name: "flow".into(),
        version: version.into(),
        digest: digest.into(),
        definition: definition.into(),
    }
}

pub(crate) fn new_task(key: Option<&str>) -> NewTask {
    NewTask {
        task_uuid: Uuid::now_v7(),
        namespace: "ns".into(),
        name: "flow".into(),
        version: "1".into(),
        template_digest: DIGEST.into(),
        state: TaskState::StepsInProcess,
        context: r#"{"order":1}"#.into(),
        idempotency_key: key.map(str::to_string),
        total_steps: 0,
        trace_context: None,
        priority: 0,
        metadata: TaskMetadata {
            correlation_id: "corr".into(),
            ..TaskMetadata::default()
        },
        identity_hash: None,
        lifecycle: LifecycleLimits::default(),
    }
}

pub(crate) fn new_step(task: Uuid, name: &str, state: StepState, pending: i64) -> NewStep {
    NewStep {
        step_uuid: Uuid::now_v7(),
        task_uuid: task,
        name: name.into(),
        template_step_name: name.into(),
        handler_callable: format!("h_{name}"),
        step_type: StepType::Standard,
        state,
        dep_total: pending,
        pending_deps: pending,
        max_attempts: 3,
        inputs: "{}".into(),
        ready_in_ms: 0,
        signal_timeout_ms: None,
        limit: None,
        created_by: None,
    }
}

/// The template every fixture task points at.
pub(crate) async fn put_template(store: &PgStore) {
    write(store, |tx| {
        Box::pin(async move {
            tx.put_templates(&[template(DIGEST, "1", r#"{"steps":[]}"#)])
                .await
        })
    })
    .await
    .unwrap();
}

/// A task with these steps and edges (`(from, to)` indexes into `steps`).
pub(crate) async fn task_with(
    store: &PgStore,
    steps: Vec<(&str, StepState, i64)>,
    edges: &[(usize, usize)],
) -> (Uuid, Vec<Uuid>) {
    let task = new_task(None);
    let task_uuid = task.task_uuid;
    let steps: Vec<NewStep> = steps
        .into_iter()
        .map(|(n, s, p)| new_step(task_uuid, n, s, p))
        .collect();
    let ids: Vec<Uuid> = steps.iter().map(|s| s.step_uuid).collect();
    let edges: Vec<Edge> = edges
        .iter()
        .map(|(f, t)| Edge {
            task_uuid,
            from: ids[*f],
            to: ids[*t],
        })
        .collect();
    write(store, move |tx| {
        Box::pin(async move {
            tx.insert_tasks(&[task]).await?;
            tx.insert_steps(&steps).await?;
            tx.insert_edges(&edges).await
        })
    })
    .await
    .unwrap();
    (task_uuid, ids)
}

/// Claim up to `limit` ready steps of `callables` for `worker`.
pub(crate) async fn claim(
    store: &PgStore,
    callables: &[&str],
    limit: usize,
    worker: &str,
) -> (Uuid, Vec<ClaimedRow>) {
    let request = ClaimRequest {
        callables: callables.iter().map(|c| c.to_string()).collect(),
        limited_only: vec![],
        limit,
        worker_id: worker.into(),
        lease_ms: 30_000,
        claim_id: Uuid::new_v4(),
    };
    let claim_id = request.claim_id;
    let rows = write(store, move |tx| {
        Box::pin(async move { tx.claim(&request).await })
    })
    .await
    .unwrap();
    (claim_id, rows)
}

pub(crate) async fn steps(store: &PgStore, task: Uuid) -> Vec<StepRow> {
    read(store, move |tx| {
        Box::pin(async move { tx.steps_of(task).await })
    })
    .await
    .unwrap()
}

pub(crate) async fn step(store: &PgStore, task: Uuid, step: Uuid) -> StepRow {
    steps(store, task)
        .await
        .into_iter()
        .find(|s| s.step_uuid == step)
        .unwrap()
}

pub(crate) fn change(step: Uuid, to: StepState) -> StepChange {
    StepChange {
        step_uuid: step,
        to,
        expect_claim: None,
        result: None,
        error: None,
        metadata: None,
        ready_in_ms: None,
        uncount_attempt: false,
    }
}
