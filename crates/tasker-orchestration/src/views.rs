//! Read models: tasks, steps and their audit trail, as the client sees them (snake_case JSON).
//! Task contexts, step results and metadata are returned as the JSON text that was stored (the
//! text `JSON.stringify` produced), never rebuilt: any nesting and any string round-trips.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tasker_domain::TaskState;
use tasker_store::{run_read, StepRow, StoreError, TaskFilter, TaskMetadata, TaskRow, Uuid};

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
    /// -1000..=1000, higher first (docs/priorities.md).
    pub priority: i64,
    /// The caller's, or a UUID v7 generated at creation (docs/task-metadata.md).
    pub correlation_id: String,
    pub parent_correlation_id: Option<String>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    /// Distinct, in the order given.
    pub tags: Vec<String>,
    /// Set when the template dedupes on the context (docs/identity.md).
    pub identity_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Vec<TransitionView>>,
    /// A child task's parent task (with details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_task_uuid: Option<String>,
    /// The subtask step of the parent that started this child (with details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step_name: Option<String>,
    /// The child tasks its subtask steps started, oldest first (with details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ChildView>>,
}

/// One child task of a task.
#[derive(Debug, Clone, Serialize)]
pub struct ChildView {
    pub task_uuid: String,
    /// The subtask step that started it.
    pub step_name: String,
    pub state: String,
    pub created_at: String,
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
    /// The names of the steps this one depends on (the task's edges into it, including those of
    /// steps created by decisions and batches), in the order of the task's steps.
    pub dependencies: Vec<String>,
    /// The decision or batchable step whose outcome created this one; `None` for the steps
    /// created with the task.
    pub created_by: Option<String>,
    /// Its task's priority.
    pub priority: i64,
    /// The step's own inputs (a batch worker's cursor range; `{}` for most steps).
    pub inputs: Box<RawValue>,
    /// The checkpoint the last attempt saved, if any.
    pub checkpoint: Option<Box<RawValue>>,
    /// A subtask step's current (latest) child task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_task_uuid: Option<String>,
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
    /// Only tasks created at or after this time (ms since the epoch).
    pub created_after: Option<i64>,
    /// Only tasks created before this time (ms since the epoch).
    pub created_before: Option<i64>,
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    /// Only tasks with every one of these tags.
    pub tags: Vec<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Counting stops at this many tasks per state unless told otherwise.
pub const DEFAULT_COUNT_CAP: i64 = 10_000;
/// The most a count may be asked to go to.
pub const MAX_COUNT_CAP: i64 = 1_000_000;
/// The longest window `step_activity` looks back over: one day.
pub const MAX_ACTIVITY_MINUTES: i64 = 24 * 60;

/// Step executions that ended in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActivityView {
    /// The minute's start (RFC 3339, UTC).
    pub minute: String,
    /// Executions that completed (including steps resolved by hand).
    pub completed: i64,
    /// Executions that failed for good (the step went to `error`).
    pub failed: i64,
    /// Executions that failed and will be retried (`waiting_for_retry`).
    pub retried: i64,
}

/// Stored JSON, parsed for a view.
fn json(what: &str, text: &str) -> Result<Value, EngineError> {
    serde_json::from_str(text).map_err(|e| {
        EngineError::Store(StoreError::Corrupt(format!(
            "{what} is not valid JSON: {e}"
        )))
    })
}

fn opt_json(what: &str, text: Option<&str>) -> Result<Option<Value>, EngineError> {
    text.map(|t| json(what, t)).transpose()
}

/// Stored JSON text, handed over as it is.
fn raw(what: &str, text: &str) -> Result<Box<RawValue>, EngineError> {
    RawValue::from_string(text.to_string()).map_err(|e| {
        EngineError::Store(StoreError::Corrupt(format!(
            "{what} is not readable JSON: {e}"
        )))
    })
}

fn opt_raw(what: &str, text: Option<&str>) -> Result<Option<Box<RawValue>>, EngineError> {
    text.map(|t| raw(what, t)).transpose()
}

impl TaskView {
    pub fn is_terminal(&self) -> bool {
        self.state
            .parse::<TaskState>()
            .map(TaskState::is_terminal)
            .unwrap_or(false)
    }

    pub(crate) fn new_created(
        task_uuid: Uuid,
        req: &CreateTask,
        priority: i64,
        metadata: &TaskMetadata,
        state: TaskState,
        at: i64,
    ) -> Result<TaskView, EngineError> {
        let m = metadata.clone();
        Ok(TaskView {
            task_uuid: task_uuid.to_string(),
            namespace: req.namespace.clone(),
            name: req.name.clone(),
            version: req.version.clone(),
            state: state.as_str().to_string(),
            context: raw("the task context", &req.context)?,
            idempotency_key: req.idempotency_key.clone(),
            priority,
            correlation_id: m.correlation_id,
            parent_correlation_id: m.parent_correlation_id,
            initiator: m.initiator,
            source_system: m.source_system,
            reason: m.reason,
            tags: m.tags,
            identity_hash: None,
            created_at: iso8601(at),
            updated_at: iso8601(at),
            completed_at: state.is_terminal().then(|| iso8601(at)),
            steps: None,
            transitions: None,
            parent_task_uuid: None,
            parent_step_uuid: None,
            parent_step_name: None,
            children: None,
        })
    }

    pub(crate) fn from_row(row: &TaskRow) -> Result<TaskView, EngineError> {
        Ok(TaskView {
            task_uuid: row.task_uuid.to_string(),
            namespace: row.namespace.clone(),
            name: row.name.clone(),
            version: row.version.clone(),
            state: row.state.as_str().to_string(),
            context: raw(
                &format!("the context of task {}", row.task_uuid),
                &row.context,
            )?,
            idempotency_key: row.idempotency_key.clone(),
            priority: row.priority,
            correlation_id: row.metadata.correlation_id.clone(),
            parent_correlation_id: row.metadata.parent_correlation_id.clone(),
            initiator: row.metadata.initiator.clone(),
            source_system: row.metadata.source_system.clone(),
            reason: row.metadata.reason.clone(),
            tags: row.metadata.tags.clone(),
            identity_hash: row.identity_hash.clone(),
            created_at: iso8601(row.created_at),
            updated_at: iso8601(row.updated_at),
            completed_at: row.completed_at.map(iso8601),
            steps: None,
            transitions: None,
            parent_task_uuid: None,
            parent_step_uuid: None,
            parent_step_name: None,
            children: None,
        })
    }
}

impl StepView {
    fn from_row(r: &StepRow) -> Result<StepView, EngineError> {
        let what = |field: &str| format!("the {field} of step '{}'", r.name);
        Ok(StepView {
            step_uuid: r.step_uuid.to_string(),
            name: r.name.clone(),
            state: r.state.as_str().to_string(),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            result: opt_raw(&what("result"), r.result.as_deref())?,
            error: opt_json(&what("error"), r.error.as_deref())?,
            metadata: opt_raw(&what("metadata"), r.metadata.as_deref())?,
            created_at: iso8601(r.created_at),
            updated_at: iso8601(r.updated_at),
            dependencies: r.dependencies.clone(),
            created_by: r.created_by.clone(),
            priority: r.priority,
            inputs: raw(&what("inputs"), &r.inputs)?,
            checkpoint: opt_raw(&what("checkpoint"), r.checkpoint.as_deref())?,
            child_task_uuid: None,
        })
    }
}

/// Each step's dependencies in the order of `steps` (the view's order: creation, then uuid).
fn order_dependencies(steps: &mut [StepView]) {
    let position: std::collections::HashMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    for step in steps.iter_mut() {
        step.dependencies.sort_by_key(|name| {
            (
                position.get(name).copied().unwrap_or(usize::MAX),
                name.clone(),
            )
        });
    }
}

impl Engine {
    /// A task; with `details`, its steps and its transitions too. `None` when there is no task
    /// with that uuid (including strings that are not uuids).
    pub async fn get_task(
        &self,
        task_uuid: &str,
        details: bool,
    ) -> Result<Option<TaskView>, EngineError> {
        let Ok(task) = Uuid::parse_str(task_uuid) else {
            return Ok(None);
        };
        let rows = run_read(self.store(), move |tx| {
            Box::pin(async move {
                let Some(row) = tx.task(task).await? else {
                    return Ok::<_, StoreError>(None);
                };
                if !details {
                    return Ok(Some((row, None)));
                }
                let steps = tx.steps_of(task).await?;
                let transitions = tx.transitions_of(task).await?;
                let family = tx.task_family(task).await?;
                Ok(Some((row, Some((steps, transitions, family)))))
            })
        })
        .await?;
        let Some((row, details)) = rows else {
            return Ok(None);
        };
        let mut view = TaskView::from_row(&row)?;
        if let Some((step_rows, transitions, family)) = details {
            let mut steps = step_rows
                .iter()
                .map(StepView::from_row)
                .collect::<Result<Vec<_>, _>>()?;
            order_dependencies(&mut steps);
            let mut children = Vec::with_capacity(family.children.len());
            for c in &family.children {
                let step_name = step_rows
                    .iter()
                    .find(|s| s.step_uuid == c.parent_step_uuid)
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                // Oldest first: the last one seen is the step's current child.
                if let Some(step) = steps
                    .iter_mut()
                    .find(|s| s.step_uuid == c.parent_step_uuid.to_string())
                {
                    step.child_task_uuid = Some(c.task_uuid.to_string());
                }
                children.push(ChildView {
                    task_uuid: c.task_uuid.to_string(),
                    step_name,
                    state: c.state.as_str().to_string(),
                    created_at: iso8601(c.created_at),
                });
            }
            view.children = Some(children);
            view.parent_task_uuid = family.parent_task_uuid.map(|u| u.to_string());
            view.parent_step_uuid = family.parent_step_uuid.map(|u| u.to_string());
            view.parent_step_name = family.parent_step_name;
            view.steps = Some(steps);
            view.transitions = Some(
                transitions
                    .into_iter()
                    .map(|t| TransitionView {
                        entity: if t.step_uuid.is_some() {
                            "step"
                        } else {
                            "task"
                        },
                        step_name: t.step_name,
                        from_state: t.from_state,
                        to_state: t.to_state,
                        at: iso8601(t.at),
                        worker_id: t.worker_id,
                        reason: t.reason,
                    })
                    .collect(),
            );
        }
        Ok(Some(view))
    }

    /// Tasks, newest first.
    pub async fn list_tasks(&self, filter: &ListTasks) -> Result<Vec<TaskView>, EngineError> {
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
        let f = TaskFilter {
            limit,
            offset,
            ..task_filter("listTasks", filter)?
        };
        let rows = run_read(self.store(), move |tx| {
            Box::pin(async move { tx.list_tasks(&f).await })
        })
        .await
        .map_err(EngineError::from)?;
        rows.iter().map(TaskView::from_row).collect()
    }

    /// How many tasks match the filter (its limit and offset are ignored), per state: every
    /// state, or only the filter's. Each count stops at `cap` (then it reads "at least").
    pub async fn count_tasks(
        &self,
        filter: &ListTasks,
        cap: Option<i64>,
    ) -> Result<Vec<(String, i64)>, EngineError> {
        let cap = cap.unwrap_or(DEFAULT_COUNT_CAP);
        if !(1..=MAX_COUNT_CAP).contains(&cap) {
            return Err(EngineError::InvalidArgument(format!(
                "countTasks: max must be between 1 and {MAX_COUNT_CAP}, got {cap}"
            )));
        }
        let f = task_filter("countTasks", filter)?;
        let states: Vec<TaskState> = match f.state {
            Some(s) => vec![s],
            None => TaskState::ALL.to_vec(),
        };
        let counts = run_read(self.store(), move |tx| {
            Box::pin(async move {
                let mut counts = Vec::with_capacity(states.len());
                for state in states {
                    let one = TaskFilter {
                        state: Some(state),
                        ..f.clone()
                    };
                    counts.push((
                        state.as_str().to_string(),
                        tx.count_matching_tasks(&one, cap).await?,
                    ));
                }
                Ok::<_, StoreError>(counts)
            })
        })
        .await?;
        Ok(counts)
    }

    /// Step executions that ended in each of the last `minutes` minutes (the current one
    /// included, oldest first, minutes with none included as zeros).
    pub async fn step_activity(&self, minutes: i64) -> Result<Vec<ActivityView>, EngineError> {
        if !(1..=MAX_ACTIVITY_MINUTES).contains(&minutes) {
            return Err(EngineError::InvalidArgument(format!(
                "stepActivity: minutes must be between 1 and {MAX_ACTIVITY_MINUTES}, got {minutes}"
            )));
        }
        const MINUTE: i64 = 60_000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let last = now - now.rem_euclid(MINUTE);
        let first = last - (minutes - 1) * MINUTE;
        // From the start of the first minute, by the database clock (a clock a little off from
        // ours only moves executions between neighbouring minutes).
        let window = now - first;
        let rows = run_read(self.store(), move |tx| {
            Box::pin(async move { tx.step_activity(window).await })
        })
        .await?;
        let mut by_minute: std::collections::BTreeMap<i64, ActivityView> = (0..minutes)
            .map(|i| {
                let at = first + i * MINUTE;
                (
                    at,
                    ActivityView {
                        minute: iso8601(at),
                        ..ActivityView::default()
                    },
                )
            })
            .collect();
        for row in rows {
            let at = row.minute.clamp(first, last);
            let Some(view) = by_minute.get_mut(&at) else {
                continue; // not a minute's start: cannot happen with the drivers' bucketing
            };
            match row.to_state.as_str() {
                "complete" | "resolved_manually" => view.completed += row.count,
                "error" => view.failed += row.count,
                "waiting_for_retry" => view.retried += row.count,
                _ => {}
            }
        }
        Ok(by_minute.into_values().collect())
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
        let Ok(task) = Uuid::parse_str(task_uuid) else {
            return Err(not_found());
        };
        loop {
            // Only the state while waiting; steps and transitions once, at the end.
            let state = run_read(self.store(), move |tx| {
                Box::pin(async move { tx.task_state(task).await })
            })
            .await
            .map_err(EngineError::from)?
            .ok_or_else(not_found)?;
            if state.is_terminal() {
                return self.get_task(task_uuid, true).await?.ok_or_else(not_found);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Timeout(format!(
                    "task {task_uuid} did not finish within {} ms (state: {})",
                    timeout.as_millis(),
                    state.as_str()
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

/// The store's filter for a caller's: the state parsed, the time range checked.
fn task_filter(what: &str, filter: &ListTasks) -> Result<TaskFilter, EngineError> {
    let state = match &filter.state {
        None => None,
        Some(s) => Some(s.parse::<TaskState>().map_err(|_| {
            EngineError::InvalidArgument(format!(
                "{what}: state must be one of {}, got '{s}'",
                TaskState::ALL.map(TaskState::as_str).join(", ")
            ))
        })?),
    };
    let mut tags: Vec<String> = Vec::with_capacity(filter.tags.len());
    for (i, tag) in filter.tags.iter().enumerate() {
        if let Some(problem) = crate::metadata::tag_problem(tag) {
            return Err(EngineError::InvalidArgument(format!(
                "{what}: tag {i} {problem}"
            )));
        }
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    if tags.len() > crate::metadata::MAX_TAGS {
        return Err(EngineError::InvalidArgument(format!(
            "{what}: {} distinct tags; a task has at most {}",
            tags.len(),
            crate::metadata::MAX_TAGS
        )));
    }
    if let (Some(after), Some(before)) = (filter.created_after, filter.created_before) {
        if after > before {
            return Err(EngineError::InvalidArgument(format!(
                "{what}: createdAfter ({}) is later than createdBefore ({})",
                iso8601(after),
                iso8601(before)
            )));
        }
    }
    Ok(TaskFilter {
        namespace: filter.namespace.clone(),
        name: filter.name.clone(),
        state,
        created_after: filter.created_after,
        created_before: filter.created_before,
        correlation_id: filter.correlation_id.clone(),
        parent_correlation_id: filter.parent_correlation_id.clone(),
        tags,
        limit: 0,
        offset: 0,
    })
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
