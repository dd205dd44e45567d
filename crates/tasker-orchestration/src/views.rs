//! Read models: tasks, steps and their audit trail, as the client sees them (snake_case JSON).
//! Task contexts, step results and metadata are returned as the JSON text that was stored (the
//! text `JSON.stringify` produced), never rebuilt: any nesting and any string round-trips.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tasker_domain::{echo, TaskState};
use tasker_storage::{placeholders, AnyRow, Row, Sql};

use crate::create::CreateTask;
use crate::{Engine, EngineError};

#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub task_uuid: String,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub state: String,
    /// The JSON text given to `create_task`.
    pub context: Box<RawValue>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Vec<TransitionView>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub step_uuid: String,
    pub name: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// The JSON text the handler returned.
    pub result: Option<Box<RawValue>>,
    /// The engine's record of the last failure (`message`, `error_type`, `retryable`, …).
    pub error: Option<Value>,
    /// Handler metadata (JSON text) reported with the last result.
    pub metadata: Option<Box<RawValue>>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransitionView {
    pub entity: &'static str,
    pub step_name: Option<String>,
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: String,
    pub worker_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListTasks {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl TaskView {
    pub fn is_terminal(&self) -> bool {
        self.state
            .parse::<TaskState>()
            .map(TaskState::is_terminal)
            .unwrap_or(false)
    }

    pub(crate) fn new_created(
        task_uuid: String,
        req: &CreateTask,
        context: Box<RawValue>,
        state: TaskState,
        now: i64,
    ) -> TaskView {
        TaskView {
            task_uuid,
            namespace: req.namespace.clone(),
            name: req.name.clone(),
            version: req.version.clone(),
            state: state.as_str().to_string(),
            context,
            idempotency_key: req.idempotency_key.clone(),
            created_at: iso8601(now),
            updated_at: iso8601(now),
            completed_at: state.is_terminal().then(|| iso8601(now)),
            steps: None,
            transitions: None,
        }
    }

    fn from_row(row: &AnyRow) -> Result<TaskView, EngineError> {
        let task_uuid: String = row.try_get("task_uuid")?;
        let context = stored(&task_uuid, "context", row.try_get("context")?)?;
        Ok(TaskView {
            task_uuid,
            namespace: row.try_get("namespace")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            state: row.try_get("state")?,
            context,
            idempotency_key: row.try_get("idempotency_key")?,
            created_at: iso8601(row.try_get("created_at")?),
            updated_at: iso8601(row.try_get("updated_at")?),
            completed_at: row.try_get::<Option<i64>, _>("completed_at")?.map(iso8601),
            steps: None,
            transitions: None,
        })
    }
}

const TASK_COLUMNS: &str = "task_uuid, namespace, name, version, state, context, idempotency_key, \
                            created_at, updated_at, completed_at";

/// Stored JSON text, as it is. Text that is not JSON (which the engine never stores) is an error
/// naming the task and the value, not a silent `null`.
fn stored(task_uuid: &str, what: &str, text: String) -> Result<Box<RawValue>, EngineError> {
    RawValue::from_string(text).map_err(|e| {
        EngineError::InvalidArgument(format!(
            "task {task_uuid}: the stored {what} is not readable JSON: {e}"
        ))
    })
}

fn stored_opt(
    task_uuid: &str,
    what: impl FnOnce() -> String,
    text: Option<String>,
) -> Result<Option<Box<RawValue>>, EngineError> {
    text.map(|t| stored(task_uuid, &what(), t)).transpose()
}

impl Engine {
    /// A task; with `details`, its steps and its transitions too.
    pub async fn get_task(
        &self,
        task_uuid: &str,
        details: bool,
    ) -> Result<Option<TaskView>, EngineError> {
        static TASK: Sql = Sql::new(
            "SELECT task_uuid, namespace, name, version, state, context, idempotency_key,
                    created_at, updated_at, completed_at
             FROM tasker_tasks WHERE task_uuid = $1",
        );
        static STEPS: Sql = Sql::new(
            "SELECT step_uuid, name, state, attempts, max_attempts, result, error, metadata, created_at, updated_at
             FROM tasker_steps WHERE task_uuid = $1 ORDER BY created_at, step_uuid",
        );
        static TRANSITIONS: Sql = Sql::new(
            "SELECT t.step_uuid, s.name AS step_name, t.from_state, t.to_state, t.at, t.worker_id, t.reason
             FROM tasker_transitions t LEFT JOIN tasker_steps s ON s.step_uuid = t.step_uuid
             WHERE t.task_uuid = $1 ORDER BY t.at, t.transition_uuid",
        );
        let d = self.dialect();
        let pool = self.db().pool();
        let Some(row) = sqlx::query(TASK.for_dialect(d))
            .bind(task_uuid)
            .fetch_optional(pool)
            .await?
        else {
            return Ok(None);
        };
        let mut task = TaskView::from_row(&row)?;
        if details {
            let rows = sqlx::query(STEPS.for_dialect(d))
                .bind(task_uuid)
                .fetch_all(pool)
                .await?;
            let mut steps = Vec::with_capacity(rows.len());
            for r in rows {
                let name: String = r.try_get("name")?;
                let of = |what: &str| format!("{what} of step '{}'", echo(&name));
                let error = stored_opt(task_uuid, || of("error"), r.try_get("error")?)?
                    .map(|raw| serde_json::from_str::<Value>(raw.get()))
                    .transpose()
                    .map_err(|e| {
                        EngineError::InvalidArgument(format!(
                            "task {task_uuid}: the stored {} is not readable: {e}",
                            of("error")
                        ))
                    })?;
                steps.push(StepView {
                    step_uuid: r.try_get("step_uuid")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    max_attempts: r.try_get("max_attempts")?,
                    result: stored_opt(task_uuid, || of("result"), r.try_get("result")?)?,
                    error,
                    metadata: stored_opt(task_uuid, || of("metadata"), r.try_get("metadata")?)?,
                    name,
                    created_at: iso8601(r.try_get("created_at")?),
                    updated_at: iso8601(r.try_get("updated_at")?),
                });
            }
            task.steps = Some(steps);
            let rows = sqlx::query(TRANSITIONS.for_dialect(d))
                .bind(task_uuid)
                .fetch_all(pool)
                .await?;
            let mut transitions = Vec::with_capacity(rows.len());
            for r in rows {
                let step_uuid: Option<String> = r.try_get("step_uuid")?;
                transitions.push(TransitionView {
                    entity: if step_uuid.is_some() { "step" } else { "task" },
                    step_name: r.try_get("step_name")?,
                    from_state: r.try_get("from_state")?,
                    to_state: r.try_get("to_state")?,
                    at: iso8601(r.try_get("at")?),
                    worker_id: r.try_get("worker_id")?,
                    reason: r.try_get("reason")?,
                });
            }
            task.transitions = Some(transitions);
        }
        Ok(Some(task))
    }

    /// Tasks, newest first.
    pub async fn list_tasks(&self, filter: &ListTasks) -> Result<Vec<TaskView>, EngineError> {
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM tasker_tasks WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        for (col, value) in [
            ("namespace", &filter.namespace),
            ("name", &filter.name),
            ("state", &filter.state),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        }
        let limit = filter.limit.unwrap_or(50);
        let offset = filter.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(EngineError::InvalidArgument(format!(
                "listTasks: limit must be between 1 and 1000, got {limit}"
            )));
        }
        if offset < 0 {
            return Err(EngineError::InvalidArgument(format!(
                "listTasks: offset must be >= 0, got {offset}"
            )));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, task_uuid DESC LIMIT {limit} OFFSET {offset}"
        ));
        let sql = placeholders(self.dialect(), &sql);
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.db().pool()).await?;
        rows.iter().map(TaskView::from_row).collect()
    }

    /// Wait until the task is complete, error or cancelled (event driven, with a slow
    /// fallback poll for changes made by processes we cannot hear).
    pub async fn wait_for_task(
        &self,
        task_uuid: &str,
        timeout: Duration,
    ) -> Result<TaskView, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut finished = self.events().subscribe_finished();
        let not_found = || EngineError::TaskNotFound(format!("task {task_uuid} does not exist"));
        loop {
            // Only the state while waiting; steps and transitions once, at the end.
            let task = self
                .get_task(task_uuid, false)
                .await?
                .ok_or_else(not_found)?;
            if task.is_terminal() {
                return self.get_task(task_uuid, true).await?.ok_or_else(not_found);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Timeout(format!(
                    "task {task_uuid} did not finish within {} ms (state: {})",
                    timeout.as_millis(),
                    task.state
                )));
            }
            let until = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
            loop {
                tokio::select! {
                    msg = finished.recv() => match msg {
                        Ok(t) if t != task_uuid => continue,
                        _ => break, // ours, lagged or closed: re-check
                    },
                    _ = tokio::time::sleep_until(until) => break,
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC timestamp.
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn formats_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_795_689_045_001), "2026-11-26T10:30:45.001Z");
    }
}
