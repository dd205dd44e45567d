//! Task creation: tasks, their initial steps and their dependency edges, many at once, in one
//! transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tasker_domain::{
    check_json, echo, json_kind, IdentityStrategy, JsonLimits, JsonProblem, StepDefinition,
    StepState, StepType, TaskState, TaskTemplate,
};
use tasker_store::{run_read, Edge, NewStep, NewTask, Signal, TaskMetadata, TemplateKey, Tx, Uuid};

use crate::identity::{identity_hash, OnDuplicate};
use crate::metadata::{check_metadata, TaskMetadataInput};
use crate::templates::Snapshot;
use crate::views::TaskView;
use crate::work::Work;
use crate::{Engine, EngineError, Retry};

#[derive(Debug, Clone, Default)]
pub struct CreateTask {
    pub namespace: String,
    pub name: String,
    pub version: String,
    /// JSON text of the task context; must be an object.
    pub context: String,
    pub idempotency_key: Option<String>,
    /// The task's first steps become claimable this long after it is created (by the
    /// database's clock); `None` or 0: at once.
    pub delay_ms: Option<u64>,
    /// The creator's trace context (JSON text of a W3C carrier), handed to every step.
    pub trace_context: Option<String>,
    /// Claim order among ready steps, higher first (docs/priorities.md): an integer from
    /// [`MIN_PRIORITY`] to [`MAX_PRIORITY`], as the caller gave it (a JavaScript number, hence
    /// `f64`; [`check`] refuses anything else). `None`: 0. Every step of the task has it,
    /// including those its decisions and batches create later.
    pub priority: Option<f64>,
    /// Who and what the task is for (docs/task-metadata.md); [`check`] checks it and generates
    /// the correlation id when it has none.
    pub metadata: TaskMetadataInput,
    /// What a create that duplicates an existing task gets (docs/identity.md): that task
    /// (the default) or a `DuplicateTask` error.
    pub on_duplicate: OnDuplicate,
    /// Skip the template's identity strategy: a new task, whatever its context (the engine's
    /// child tasks, one per run of a subtask step). An idempotency key still dedupes.
    pub always_new: bool,
}

impl CreateTask {
    fn key(&self) -> TemplateKey {
        TemplateKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    /// `namespace/name@version`, its parts cut short when long.
    fn describe(&self) -> String {
        format!(
            "{}/{}@{}",
            echo(&self.namespace),
            echo(&self.name),
            echo(&self.version)
        )
    }
}

/// The steps created when a task starts (reference §1.3): every step except batch-worker
/// templates, deferred convergence steps, steps downstream of a decision (those are created
/// later, by the outcomes that choose them), and any step that depends on one of those.
pub(crate) fn initial_steps(template: &TaskTemplate) -> Vec<&StepDefinition> {
    let mut downstream_of_decision: HashSet<&str> = HashSet::new();
    let mut frontier: Vec<&str> = template
        .steps
        .iter()
        .filter(|s| s.step_type == StepType::Decision)
        .map(|s| s.name.as_str())
        .collect();
    while let Some(parent) = frontier.pop() {
        for child in template
            .steps
            .iter()
            .filter(|s| s.dependencies.iter().any(|d| d == parent))
        {
            if downstream_of_decision.insert(child.name.as_str()) {
                frontier.push(child.name.as_str());
            }
        }
    }
    let mut included: HashSet<&str> = HashSet::new();
    loop {
        let before = included.len();
        for s in &template.steps {
            if !included.contains(s.name.as_str())
                && !matches!(
                    s.step_type,
                    StepType::BatchWorker | StepType::DeferredConvergence
                )
                && !downstream_of_decision.contains(s.name.as_str())
                && s.dependencies.iter().all(|d| included.contains(d.as_str()))
            {
                included.insert(s.name.as_str());
            }
        }
        if included.len() == before {
            break;
        }
    }
    template
        .steps
        .iter()
        .filter(|s| included.contains(s.name.as_str()))
        .collect()
}

/// A checked request: its context is a JSON object within the size and depth limits.
pub(crate) struct Checked {
    req: CreateTask,
    priority: i64,
    /// Checked, with its correlation id (generated once, so a retried transaction keeps it).
    metadata: TaskMetadata,
}

/// What is wrong with `json` as an object the caller gives (a context, a result): `None` when
/// it is a JSON object within the size (`bytes_option` names that limit) and depth limits,
/// else the rest of a sentence about it, e.g. `must be a JSON object, got an array`.
pub(crate) fn object_problem(
    json: &str,
    max_bytes: usize,
    max_depth: usize,
    bytes_option: &str,
) -> Option<String> {
    Some(match check_json(json, max_bytes, max_depth) {
        Ok(raw) if json_kind(raw.get()) == "an object" => return None,
        Ok(raw) => format!("must be a JSON object, got {}", json_kind(raw.get())),
        Err(JsonProblem::Invalid(e)) => format!("is not valid JSON: {e}"),
        Err(JsonProblem::TooLarge { bytes, limit }) => {
            format!("is {bytes} bytes; the limit is {limit} bytes ({bytes_option})")
        }
        Err(JsonProblem::TooDeep { depth, limit }) => {
            format!("is nested {depth} levels deep; the limit is {limit} (maxJsonDepth)")
        }
    })
}

/// The lowest priority accepted.
pub const MIN_PRIORITY: i64 = -1000;
/// The highest priority accepted. One priority point is worth one second of waiting: a step
/// ready N seconds before another is claimed first unless the other's priority is more than
/// N points higher.
pub const MAX_PRIORITY: i64 = 1000;

/// The priority `value` stands for, or the rest of a sentence saying why it is refused.
fn priority_of(value: f64) -> Result<i64, String> {
    let range = format!("an integer from {MIN_PRIORITY} to {MAX_PRIORITY} (higher first)");
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(format!("must be {range}, got {value}"));
    }
    if value < MIN_PRIORITY as f64 || value > MAX_PRIORITY as f64 {
        return Err(format!("must be {range}, got {value}"));
    }
    Ok(value as i64)
}

/// The longest delayed start accepted (ten years).
pub const MAX_DELAY_MS: u64 = 10 * 365 * 24 * 3_600_000;

pub(crate) fn check(
    req: CreateTask,
    limits: &JsonLimits,
    label: &dyn Fn() -> String,
) -> Result<Checked, EngineError> {
    if let Some(delay) = req.delay_ms.filter(|d| *d > MAX_DELAY_MS) {
        return Err(EngineError::InvalidArgument(format!(
            "{}the delayed start of {} is {delay} ms away; at most {MAX_DELAY_MS} ms (ten years) \
             is accepted",
            label(),
            req.describe()
        )));
    }
    let priority = match req.priority.map(priority_of).transpose() {
        Ok(p) => p.unwrap_or(0),
        Err(problem) => {
            return Err(EngineError::InvalidArgument(format!(
                "{}the priority of {} {problem}",
                label(),
                req.describe()
            )))
        }
    };
    let metadata = check_metadata(&req.metadata, &format!(" of {}", req.describe()))
        .map_err(|problem| EngineError::InvalidArgument(format!("{}{problem}", label())))?;
    let Some(problem) = object_problem(
        &req.context,
        limits.max_context_bytes,
        limits.max_depth,
        "maxContextBytes",
    ) else {
        return Ok(Checked {
            req,
            priority,
            metadata,
        });
    };
    Err(EngineError::InvalidArgument(format!(
        "{}the task context for {} {problem}",
        label(),
        req.describe()
    )))
}

/// What one transaction created or found, request by request.
pub(crate) enum Created {
    New {
        task: Uuid,
        state: TaskState,
        at: i64,
        identity_hash: Option<String>,
        /// A subtask step of it waits for its child from the start (no delay).
        waits_for_child: bool,
    },
    Existing(Uuid),
}

impl Engine {
    /// Create a task from a registered template. With an idempotency key, a second create with
    /// the same key returns the first task.
    pub async fn create_task(&self, req: CreateTask) -> Result<TaskView, EngineError> {
        let checked = check(req, self.json_limits(), &String::new)?;
        let mut views = self.create_checked(vec![checked], false).await?;
        views
            .pop()
            .ok_or_else(|| EngineError::Internal("a create returned no task".to_string()))
    }

    /// Create many tasks in one transaction, returned in request order. Idempotency keys are
    /// honoured (a request whose key is taken, also by an earlier request of the same batch,
    /// returns that task). If one request is invalid, nothing is created and the error names
    /// the request by its index.
    pub async fn create_tasks(&self, reqs: Vec<CreateTask>) -> Result<Vec<TaskView>, EngineError> {
        let mut checked = Vec::with_capacity(reqs.len());
        for (i, r) in reqs.into_iter().enumerate() {
            checked.push(check(r, self.json_limits(), &|| format!("request {i}: "))?);
        }
        self.create_checked(checked, true).await
    }

    async fn create_checked(
        &self,
        reqs: Vec<Checked>,
        indexed: bool,
    ) -> Result<Vec<TaskView>, EngineError> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let reqs = Arc::new(reqs);
        let json = *self.json_limits();
        // Two creates with the same new idempotency key (or identity) raced: the loser sees
        // the winner's task on its next pass.
        let all = reqs.clone();
        let created = self
            .write_retrying(Retry::ConflictsAndDuplicates, move |tx, snapshots| {
                let r = all.clone();
                Box::pin(async move {
                    let (created, mut signals) = create_in_tx(tx, &r, &snapshots, indexed).await?;
                    // A first step that is a subtask step gets its child in this transaction.
                    let waiting: std::collections::BTreeSet<Uuid> = created
                        .iter()
                        .filter_map(|c| match c {
                            Created::New {
                                task,
                                waits_for_child: true,
                                ..
                            } => Some(*task),
                            _ => None,
                        })
                        .collect();
                    if !waiting.is_empty() {
                        let mut work = Work::default();
                        crate::children::spawn_waiting(
                            tx, &waiting, &snapshots, &json, "", &mut work,
                        )
                        .await?;
                        work.flush(tx).await?;
                        for s in work.signals {
                            if !signals.contains(&s) {
                                signals.push(s);
                            }
                        }
                    }
                    Ok((created, signals))
                })
            })
            .await?;
        let (created, signals) = created;
        self.events().emit(&signals);
        // Requests that found an existing task return it as it is now.
        let existing: Vec<Uuid> = created
            .iter()
            .filter_map(|c| match c {
                Created::Existing(u) => Some(*u),
                Created::New { .. } => None,
            })
            .collect();
        let mut found: HashMap<Uuid, TaskView> = HashMap::new();
        if !existing.is_empty() {
            let rows = run_read(self.store(), move |tx| {
                Box::pin(async move { tx.tasks(&existing).await })
            })
            .await?;
            for row in rows {
                found.insert(row.task_uuid, TaskView::from_row(&row)?);
            }
        }
        let mut views = Vec::with_capacity(created.len());
        for (c, r) in created.iter().zip(reqs.iter()) {
            views.push(match c {
                Created::New {
                    task,
                    state,
                    at,
                    identity_hash,
                    ..
                } => {
                    let mut view =
                        TaskView::new_created(*task, &r.req, r.priority, &r.metadata, *state, *at)?;
                    view.identity_hash = identity_hash.clone();
                    view
                }
                Created::Existing(u) => found.get(u).cloned().ok_or_else(|| {
                    EngineError::TaskNotFound(format!("task {u} vanished while being read"))
                })?,
            });
        }
        Ok(views)
    }

    pub(crate) fn snapshots_arc(&self) -> Arc<crate::templates::Snapshots> {
        self.snapshots.clone()
    }
}

pub(crate) async fn create_in_tx(
    tx: &mut dyn Tx,
    reqs: &[Checked],
    snapshots: &crate::templates::Snapshots,
    indexed: bool,
) -> Result<(Vec<Created>, Vec<Signal>), EngineError> {
    let label = |i: usize| {
        if indexed {
            format!("request {i}: ")
        } else {
            String::new()
        }
    };
    // Templates, as currently registered.
    let mut keys: Vec<TemplateKey> = reqs.iter().map(|r| r.req.key()).collect();
    keys.sort();
    keys.dedup();
    let current = tx.current_templates(&keys).await?;
    let mut templates: HashMap<TemplateKey, (String, Arc<Snapshot>)> = HashMap::new();
    for (key, digest, definition) in current {
        let snapshot = snapshots.insert(&digest, &definition)?;
        templates.insert(key, (digest, snapshot));
    }
    if let Some((i, r)) = reqs
        .iter()
        .enumerate()
        .find(|(_, r)| !templates.contains_key(&r.req.key()))
    {
        let known = registered_templates(tx).await?;
        return Err(EngineError::TemplateNotFound(format!(
            "{}no task template {} is registered in this database (registered: {known}); \
             start a worker whose templates include it",
            label(i),
            r.req.describe()
        )));
    }

    // Identity (docs/identity.md): an idempotency key when given; else, for a template whose
    // identity_strategy is strict, the hash of its key and context.
    let mut hashes: Vec<Option<String>> = vec![None; reqs.len()];
    for (i, r) in reqs.iter().enumerate() {
        if r.req.idempotency_key.is_some() || r.req.always_new {
            continue;
        }
        let strategy = templates[&r.req.key()].1.template.identity_strategy;
        match strategy {
            IdentityStrategy::AlwaysUnique => {}
            IdentityStrategy::Strict => {
                hashes[i] = Some(identity_hash(&r.req.key(), &r.req.context)?);
            }
            IdentityStrategy::CallerProvided => {
                return Err(EngineError::InvalidArgument(format!(
                    "{}the template {} has identity_strategy caller_provided: every create \
                     must give an idempotencyKey",
                    label(i),
                    r.req.describe()
                )))
            }
        }
    }
    // Keys and hashes already taken, and repeats within this batch.
    let keyed: Vec<(usize, (TemplateKey, String))> = reqs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.req.idempotency_key.clone().map(|k| (i, (r.req.key(), k))))
        .collect();
    let hashed: Vec<(usize, (TemplateKey, String))> = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.clone().map(|h| (i, (reqs[i].req.key(), h))))
        .collect();
    let mut outcome: Vec<Option<Created>> = (0..reqs.len()).map(|_| None).collect();
    if !keyed.is_empty() {
        let lookups: Vec<(TemplateKey, String)> = keyed.iter().map(|(_, k)| k.clone()).collect();
        for (j, task) in tx.tasks_by_idempotency_key(&lookups).await? {
            outcome[keyed[j].0] = Some(Created::Existing(task));
        }
    }
    if !hashed.is_empty() {
        let lookups: Vec<(TemplateKey, String)> = hashed.iter().map(|(_, k)| k.clone()).collect();
        for (j, task) in tx.tasks_by_identity_hash(&lookups).await? {
            outcome[hashed[j].0] = Some(Created::Existing(task));
        }
    }
    let mut first_with_key: HashMap<(bool, TemplateKey, String), usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let identities = keyed
        .iter()
        .map(|(i, k)| (*i, (false, k)))
        .chain(hashed.iter().map(|(i, k)| (*i, (true, k))));
    for (i, (is_hash, (template, k))) in identities {
        if outcome[i].is_some() {
            continue;
        }
        let identity = (is_hash, template.clone(), k.clone());
        match first_with_key.get(&identity) {
            Some(&first) => repeats.push((i, first)),
            None => {
                first_with_key.insert(identity, i);
            }
        }
    }
    let repeat_of: HashMap<usize, usize> = repeats.iter().copied().collect();
    // Duplicates that were asked to fail.
    for (i, r) in reqs.iter().enumerate() {
        if r.req.on_duplicate != OnDuplicate::Error {
            continue;
        }
        let what = match (&r.req.idempotency_key, &hashes[i]) {
            (Some(k), _) => format!("the idempotency key '{}'", echo(k)),
            _ => "the same context (identity_strategy strict)".to_string(),
        };
        if let Some(Created::Existing(task)) = &outcome[i] {
            return Err(EngineError::DuplicateTask(format!(
                "{}task {task} of {} already has {what} (onDuplicate: 'error')",
                label(i),
                r.req.describe()
            )));
        }
        if let Some(first) = repeat_of.get(&i) {
            return Err(EngineError::DuplicateTask(format!(
                "{}request {first} of the same call has {what} for {} (onDuplicate: 'error')",
                label(i),
                r.req.describe()
            )));
        }
    }

    // New tasks with their initial steps.
    let mut work = Work::default();
    let mut tasks = Vec::new();
    let mut steps = Vec::new();
    let mut edges = Vec::new();
    let mut planned: Vec<(usize, Uuid, TaskState, bool)> = Vec::new();
    let mut ready = false;
    for (i, r) in reqs.iter().enumerate() {
        if outcome[i].is_some() || repeat_of.contains_key(&i) {
            continue;
        }
        let (digest, snapshot) = &templates[&r.req.key()];
        let task_uuid = Uuid::now_v7();
        let initial = &snapshot.initial;
        let state = if initial.is_empty() {
            TaskState::Complete
        } else {
            TaskState::StepsInProcess
        };
        tasks.push(NewTask {
            task_uuid,
            namespace: r.req.namespace.clone(),
            name: r.req.name.clone(),
            version: r.req.version.clone(),
            template_digest: digest.clone(),
            state,
            context: r.req.context.clone(),
            idempotency_key: r.req.idempotency_key.clone(),
            total_steps: initial.len() as i64,
            trace_context: r.req.trace_context.clone(),
            priority: r.priority,
            metadata: r.metadata.clone(),
            identity_hash: hashes[i].clone(),
            lifecycle: crate::lifecycle::limits_of(snapshot.template.lifecycle.as_ref()),
        });
        let delay_ms = r.req.delay_ms.unwrap_or(0);
        work.task(task_uuid, None, TaskState::Pending, None);
        // Parsed only when a step resolves a limit key from it.
        let context = snapshot
            .template
            .steps
            .iter()
            .any(|d| d.limits.as_ref().is_some_and(|l| l.limit_key.is_some()))
            .then(|| serde_json::from_str::<serde_json::Value>(&r.req.context).ok())
            .flatten();
        work.task(
            task_uuid,
            Some(TaskState::Pending),
            state,
            Some(format!("{} steps created", initial.len())),
        );
        let mut waits_for_child = false;
        let uuids: HashMap<&str, Uuid> = initial
            .iter()
            .map(|&ix| (snapshot.template.steps[ix].name.as_str(), Uuid::now_v7()))
            .collect();
        for &ix in initial {
            let def = &snapshot.template.steps[ix];
            let step_uuid = uuids[def.name.as_str()];
            let deps: Vec<Uuid> = def
                .dependencies
                .iter()
                .filter_map(|d| uuids.get(d.as_str()).copied())
                .collect();
            for from in &deps {
                edges.push(Edge {
                    task_uuid,
                    from: *from,
                    to: step_uuid,
                });
            }
            let step_state = match (deps.is_empty(), def.step_type) {
                (false, _) => StepState::Pending,
                (true, StepType::Signal) => StepState::WaitingForSignal,
                (true, StepType::Subtask) => StepState::WaitingForChild,
                (true, _) => StepState::Enqueued,
            };
            steps.push(NewStep {
                step_uuid,
                task_uuid,
                name: def.name.clone(),
                template_step_name: def.name.clone(),
                handler_callable: def.handler.callable.clone(),
                step_type: def.step_type,
                state: step_state,
                dep_total: deps.len() as i64,
                pending_deps: deps.len() as i64,
                max_attempts: i64::from(def.retry.max_attempts),
                inputs: "{}".to_string(),
                ready_in_ms: i64::try_from(delay_ms).unwrap_or(i64::MAX),
                created_by: None,
                signal_timeout_ms: signal_timeout(def),
                limit: step_limit(def, context.as_ref()),
            });
            work.step(task_uuid, step_uuid, None, StepState::Pending, None, None);
            if step_state == StepState::WaitingForSignal {
                work.step(
                    task_uuid,
                    step_uuid,
                    Some(StepState::Pending),
                    StepState::WaitingForSignal,
                    None,
                    Some(crate::signals::waiting_reason(def, "no dependencies")),
                );
            }
            if step_state == StepState::WaitingForChild {
                waits_for_child |= delay_ms == 0;
                let why = if delay_ms == 0 {
                    "no dependencies".to_string()
                } else {
                    format!(
                        "no dependencies; its child task starts in {delay_ms} ms (delayed start)"
                    )
                };
                work.step(
                    task_uuid,
                    step_uuid,
                    Some(StepState::Pending),
                    StepState::WaitingForChild,
                    None,
                    Some(format!("{why}; {}", crate::children::WAITING_REASON)),
                );
                // Wakes the child sweep.
                ready = true;
            }
            if step_state == StepState::Enqueued {
                let why = if delay_ms == 0 {
                    "no dependencies".to_string()
                } else {
                    format!("no dependencies; claimable in {delay_ms} ms (delayed start)")
                };
                work.step(
                    task_uuid,
                    step_uuid,
                    Some(StepState::Pending),
                    StepState::Enqueued,
                    None,
                    Some(why),
                );
                ready = true;
            }
        }
        planned.push((i, task_uuid, state, waits_for_child));
    }
    let inserted: HashMap<Uuid, i64> = tx.insert_tasks(&tasks).await?.into_iter().collect();
    if inserted.len() != tasks.len() {
        // Another process took one of these idempotency keys meanwhile: start over (the next
        // pass finds its task).
        return Err(tasker_store::StoreError::Conflict(
            "a concurrent create took the same idempotency key".to_string(),
        )
        .into());
    }
    tx.insert_steps(&steps).await?;
    tx.insert_edges(&edges).await?;
    if ready {
        work.signal(Signal::StepsReady);
    }
    work.flush(tx).await?;
    for (i, task, state, waits_for_child) in planned {
        let at = inserted.get(&task).copied().unwrap_or_default();
        outcome[i] = Some(Created::New {
            task,
            state,
            at,
            identity_hash: hashes[i].clone(),
            waits_for_child,
        });
    }
    for (i, first) in repeats {
        let task = match &outcome[first] {
            Some(Created::New { task, .. }) | Some(Created::Existing(task)) => *task,
            None => continue,
        };
        outcome[i] = Some(Created::Existing(task));
    }
    let mut created = Vec::with_capacity(outcome.len());
    for c in outcome {
        created.push(c.ok_or_else(|| {
            EngineError::Internal("a create request was left without a task".to_string())
        })?);
    }
    Ok((created, work.signals))
}

/// Up to 20 registered templates as `namespace/name@version, …` (`none` when there is none),
/// for the messages that name a template nobody registered.
pub(crate) async fn registered_templates(tx: &mut dyn Tx) -> Result<String, EngineError> {
    let known = tx.template_keys(20).await?;
    if known.is_empty() {
        return Ok("none".to_string());
    }
    Ok(known
        .iter()
        .map(|k| format!("{}/{}@{}", k.namespace, k.name, k.version))
        .collect::<Vec<_>>()
        .join(", "))
}

/// A step's limit key and settings (`None`: unlimited). The key is the callable, followed by
/// `:` and the step's `limit_key` resolved against the task's `context` when it has one.
pub(crate) fn step_limit(
    def: &tasker_domain::StepDefinition,
    context: Option<&serde_json::Value>,
) -> Option<tasker_store::StepLimit> {
    let limits = def.limits.as_ref()?;
    let empty = serde_json::Value::Null;
    Some(limit_of(
        &def.handler.callable,
        limits,
        context.unwrap_or(&empty),
    ))
}

/// The stored limit of a step of handler `callable` limited by `limits`, for a task of
/// `context`.
pub(crate) fn limit_of(
    callable: &str,
    limits: &tasker_domain::StepLimits,
    context: &serde_json::Value,
) -> tasker_store::StepLimit {
    tasker_store::StepLimit {
        key: limits.resolve_key(callable, context),
        concurrency: limits.concurrency.map(i64::from),
        per_second: limits.rate_limit.map(|r| r.per_second),
        burst: limits.rate_limit.map(|r| i64::from(r.burst)),
    }
}

/// A signal step's timeout as stored with the step (`None`: none, or not a signal step).
pub(crate) fn signal_timeout(def: &tasker_domain::StepDefinition) -> Option<i64> {
    def.signal_timeout_ms()
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}
