//! Task creation: the task, its initial steps and their dependency edges in one transaction.

use std::collections::{HashMap, HashSet};

use serde_json::value::RawValue;
use tasker_domain::{
    check_json, echo, json_kind, JsonProblem, StepDefinition, StepType, TaskState, TaskTemplate,
};
use tasker_storage::{now_ms, Sql, StorageError};

use crate::events::Effect;
use crate::steps::{NewRow, NewSteps};
use crate::transitions::Work;
use crate::views::TaskView;
use crate::{Engine, EngineError};

#[derive(Debug, Clone)]
pub struct CreateTask {
    pub namespace: String,
    pub name: String,
    pub version: String,
    /// JSON text of the task context; must be an object.
    pub context: String,
    pub idempotency_key: Option<String>,
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

impl Engine {
    /// Create a task from a registered template. With an idempotency key, a second create with
    /// the same key returns the first task.
    pub async fn create_task(&self, req: CreateTask) -> Result<TaskView, EngineError> {
        let context = self.check_context(&req)?;
        // A concurrent create with the same idempotency key loses the unique-index race; the
        // second pass then finds the winner's task.
        for _ in 0..3 {
            match self.try_create(&req, &context).await {
                Err(EngineError::Storage(e))
                    if req.idempotency_key.is_some() && e.is_unique_violation() =>
                {
                    continue
                }
                other => return other,
            }
        }
        Err(EngineError::InvalidArgument(format!(
            "could not create task {} with idempotency key {:?}: conflicting concurrent creates",
            template_key(&req),
            req.idempotency_key.as_deref().map(echo)
        )))
    }

    /// The task context, kept as the caller's JSON text: a JSON object within the size and
    /// depth limits.
    fn check_context(&self, req: &CreateTask) -> Result<Box<RawValue>, EngineError> {
        let limits = self.json_limits();
        let task = template_key(req);
        let problem = match check_json(&req.context, limits.max_context_bytes, limits.max_depth) {
            Ok(raw) if json_kind(raw.get()) == "an object" => return Ok(raw.to_owned()),
            Ok(raw) => format!("must be a JSON object, got {}", json_kind(raw.get())),
            Err(JsonProblem::Invalid(e)) => format!("is not valid JSON: {e}"),
            Err(JsonProblem::TooLarge { bytes, limit }) => {
                format!("is {bytes} bytes; the limit is {limit} bytes (maxContextBytes)")
            }
            Err(JsonProblem::TooDeep { depth, limit }) => {
                format!("is nested {depth} levels deep; the limit is {limit} (maxJsonDepth)")
            }
        };
        Err(EngineError::InvalidArgument(format!(
            "the task context for {task} {problem}"
        )))
    }

    async fn try_create(
        &self,
        req: &CreateTask,
        context: &RawValue,
    ) -> Result<TaskView, EngineError> {
        static TEMPLATE: Sql = Sql::new(
            "SELECT definition FROM tasker_templates WHERE namespace = $1 AND name = $2 AND version = $3",
        );
        static EXISTING: Sql = Sql::new(
            "SELECT task_uuid FROM tasker_tasks
             WHERE namespace = $1 AND name = $2 AND version = $3 AND idempotency_key = $4",
        );
        let dialect = self.dialect();
        let mut tx = self.db().begin().await?;
        let definition: Option<String> = sqlx::query_scalar(TEMPLATE.for_dialect(dialect))
            .bind(&req.namespace)
            .bind(&req.name)
            .bind(&req.version)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(definition) = definition else {
            drop(tx);
            return Err(self.template_not_found(req).await);
        };
        let template: TaskTemplate = serde_json::from_str(&definition).map_err(|e| {
            EngineError::InvalidArgument(format!(
                "stored template {}/{}@{} is unreadable: {e}",
                req.namespace, req.name, req.version
            ))
        })?;
        if let Some(key) = &req.idempotency_key {
            let existing: Option<String> = sqlx::query_scalar(EXISTING.for_dialect(dialect))
                .bind(&req.namespace)
                .bind(&req.name)
                .bind(&req.version)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(task_uuid) = existing {
                drop(tx);
                return self.get_task(&task_uuid, false).await?.ok_or_else(|| {
                    EngineError::TaskNotFound(format!("task {task_uuid} vanished"))
                });
            }
        }

        let now = now_ms();
        let task_uuid = uuid::Uuid::now_v7().to_string();
        let steps = initial_steps(&template);
        let created: HashSet<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        let uuids: HashMap<&str, String> = steps
            .iter()
            .map(|s| (s.name.as_str(), uuid::Uuid::now_v7().to_string()))
            .collect();
        let task_state = if steps.is_empty() {
            TaskState::Complete
        } else {
            TaskState::StepsInProcess
        };

        static INSERT_TASK: Sql = Sql::new(
            "INSERT INTO tasker_tasks (task_uuid, namespace, name, version, state, context,
                 idempotency_key, total_steps, completed_steps, created_at, updated_at, completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9, $10)",
        );
        sqlx::query(INSERT_TASK.for_dialect(dialect))
            .bind(&task_uuid)
            .bind(&req.namespace)
            .bind(&req.name)
            .bind(&req.version)
            .bind(task_state.as_str())
            .bind(&req.context)
            .bind(req.idempotency_key.clone())
            .bind(steps.len() as i64)
            .bind(now)
            .bind((task_state == TaskState::Complete).then_some(now))
            .execute(&mut *tx)
            .await?;

        let mut work = Work::default();
        work.task(&task_uuid, None, TaskState::Pending.as_str(), None);
        work.task(
            &task_uuid,
            Some(TaskState::Pending.as_str()),
            task_state.as_str(),
            Some(format!("{} steps created", steps.len())),
        );

        let mut new_steps = NewSteps::default();
        for s in &steps {
            let step_uuid = &uuids[s.name.as_str()];
            let deps: Vec<&str> = s
                .dependencies
                .iter()
                .map(String::as_str)
                .filter(|d| created.contains(d))
                .collect();
            for d in &deps {
                new_steps.edge(&task_uuid, &uuids[d], step_uuid);
            }
            new_steps.add(
                NewRow {
                    step_uuid,
                    task_uuid: &task_uuid,
                    name: &s.name,
                    template_step_name: &s.name,
                    step_type: s.step_type,
                    definition: s,
                    dep_total: deps.len(),
                    pending: deps.len(),
                    inputs: "{}".to_string(),
                },
                now,
                None,
                "no dependencies",
                &mut work,
            )?;
        }
        new_steps.insert(&mut tx, dialect).await?;
        if task_state == TaskState::Complete {
            work.effect(Effect::TaskFinished(task_uuid.clone()));
        }
        work.flush(&mut tx, dialect, now, self.events().origin())
            .await?;
        tx.commit().await.map_err(StorageError::from)?;
        self.events().emit(&work.effects);

        Ok(TaskView::new_created(
            task_uuid,
            req,
            context.to_owned(),
            task_state,
            now,
        ))
    }

    async fn template_not_found(&self, req: &CreateTask) -> EngineError {
        let known: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT namespace, name, version FROM tasker_templates ORDER BY namespace, name, version LIMIT 20",
        )
        .fetch_all(self.db().pool())
        .await
        .unwrap_or_default();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known
                .iter()
                .map(|(ns, n, v)| format!("{ns}/{n}@{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        EngineError::TemplateNotFound(format!(
            "no task template {} is registered in this database (registered: {known}); \
             start a worker whose templates include it",
            template_key(req)
        ))
    }
}

/// `namespace/name@version` of a request, its parts cut short when long.
fn template_key(req: &CreateTask) -> String {
    format!(
        "{}/{}@{}",
        echo(&req.namespace),
        echo(&req.name),
        echo(&req.version)
    )
}
