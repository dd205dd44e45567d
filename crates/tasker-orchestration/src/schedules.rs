//! Schedules: registering a worker's schedules, and creating the task of each fire time that
//! is due, exactly once whichever processes race for it.
//!
//! A schedule's row remembers the latest fire time it handled (`last_fire_at`). Firing is one
//! transaction per schedule: it reads the row and the database's clock, works out the fire
//! times due since `last_fire_at` (and which of them run, by the missed-fire policy), advances
//! `last_fire_at` with a compare-and-set, and only if that succeeded creates the tasks, each
//! with the idempotency key `schedule:<name>:<fire time>`. A process that loses the race finds
//! its compare failing and creates nothing; the key is a second guard. Times are the
//! database's clock, so processes with skewed clocks agree.

use std::sync::Arc;

use tasker_domain::echo;
use tasker_domain::schedule::{
    due_fire_times, fires_for, CronSchedule, Missed, ScheduleSpec, MAX_MISSED_FIRES,
};
use tasker_store::{
    run_read, run_write, Millis, ScheduleAdvance, ScheduleRecord, ScheduleRow, Signal, TemplateKey,
    Tx, Uuid,
};

use crate::create::{check, create_in_tx, object_problem, Created};
use crate::views::iso8601;
use crate::{CreateTask, Engine, EngineError, Retry};

/// The source system of the tasks schedules create (their initiator is the schedule's name,
/// their reason `fire time <RFC 3339 time>`).
pub const SCHEDULE_SOURCE_SYSTEM: &str = "schedule";

/// The most schedules [`Engine::list_schedules`] returns.
pub const MAX_LISTED_SCHEDULES: i64 = 1000;

/// A task a schedule created (or found already created) for one fire time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub schedule: String,
    pub fire_at: Millis,
    pub task_uuid: Uuid,
}

/// What one round of firing did.
#[derive(Debug, Default)]
pub struct FireReport {
    pub fired: Vec<Fired>,
    /// Due fire times that created no task by the missed-fire policy: `(schedule, how many)`;
    /// [`MAX_MISSED_FIRES`] means that many or more.
    pub skipped: Vec<(String, usize)>,
    /// Schedules that could not fire, with why; their fire times stay due.
    pub failed: Vec<(String, EngineError)>,
    /// Milliseconds from now (the database's clock) to the next fire time of these schedules.
    pub next_in_ms: Option<i64>,
}

/// A schedule as stored, with its next fire time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub namespace: String,
    pub task_name: String,
    pub version: String,
    pub context: String,
    pub missed: String,
    pub last_fire_at: Option<Millis>,
    /// `None` when the stored expression has no next fire time (or cannot be parsed).
    pub next_fire_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The key of the task a schedule creates for a fire time.
pub fn schedule_idempotency_key(schedule: &str, fire_at: Millis) -> String {
    format!("schedule:{schedule}:{}", iso8601(fire_at))
}

fn record(spec: &ScheduleSpec) -> ScheduleRecord {
    ScheduleRecord {
        name: spec.name.clone(),
        cron: spec.cron.clone(),
        timezone: spec.timezone.clone(),
        namespace: spec.namespace.clone(),
        task_name: spec.task_name.clone(),
        version: spec.version.clone(),
        context: spec.context.clone(),
        missed: spec.missed.as_str().to_string(),
    }
}

/// A stored schedule, parsed (a row another version wrote that this one cannot read is
/// refused with a message naming it).
fn parsed(row: &ScheduleRow) -> Result<(CronSchedule, Missed), EngineError> {
    let s = &row.schedule;
    let cron = CronSchedule::parse(&s.cron, &s.timezone).map_err(|e| {
        EngineError::Internal(format!(
            "schedule '{}' is stored with cron '{}' in time zone '{}', which this version \
             cannot read ({e:?})",
            echo(&s.name),
            echo(&s.cron),
            echo(&s.timezone)
        ))
    })?;
    let missed = s.missed.parse::<Missed>().map_err(|e| {
        EngineError::Internal(format!("schedule '{}' as stored: {e}", echo(&s.name)))
    })?;
    Ok((cron, missed))
}

/// The fire times of `row` due at `now` (oldest first) and those of them that run.
fn due_at(row: &ScheduleRow, now: Millis) -> Result<(Vec<Millis>, Vec<Millis>), EngineError> {
    let (cron, missed) = parsed(row)?;
    let after = row.last_fire_at.unwrap_or(row.created_at);
    // Up to the latest MAX_MISSED_FIRES whatever the policy, so that those not run are counted
    // (on time, this is one fire time and two lookups).
    let due = due_fire_times(&cron, after, now, MAX_MISSED_FIRES);
    let runs = fires_for(missed, &due, now);
    Ok((due, runs))
}

impl Engine {
    /// Store these schedules (a worker's, at its start): each names a registered template and
    /// has a context within the JSON limits. A schedule that exists gets the new definition and
    /// keeps its fire state; an empty list does nothing.
    pub async fn register_schedules(&self, specs: &[ScheduleSpec]) -> Result<(), EngineError> {
        if specs.is_empty() {
            return Ok(());
        }
        let limits = self.json_limits();
        for s in specs {
            if let Some(problem) = object_problem(
                &s.context,
                limits.max_context_bytes,
                limits.max_depth,
                "maxContextBytes",
            ) {
                return Err(EngineError::InvalidArgument(format!(
                    "schedule '{}': context {problem}",
                    echo(&s.name)
                )));
            }
        }
        let specs: Vec<ScheduleSpec> = specs.to_vec();
        run_write(self.store(), move |tx| {
            Box::pin(async move { register_in_tx(tx, &specs).await })
        })
        .await
    }

    /// Create the tasks of the fire times now due of these schedules (by name; names not
    /// stored are left out), one transaction per due schedule.
    pub async fn fire_schedules(&self, names: &[String]) -> Result<FireReport, EngineError> {
        let mut report = FireReport::default();
        if names.is_empty() {
            return Ok(report);
        }
        let wanted = names.to_vec();
        let (now, rows) = run_read(self.store(), move |tx| {
            Box::pin(async move {
                let now = tx.now().await?;
                let rows = tx.schedules(&wanted).await?;
                Ok::<_, EngineError>((now, rows))
            })
        })
        .await?;
        let mut next: Option<Millis> = None;
        for row in &rows {
            let name = row.schedule.name.clone();
            let due = match due_at(row, now) {
                Ok((due, _)) => !due.is_empty(),
                Err(e) => {
                    report.failed.push((name, e));
                    continue;
                }
            };
            if due {
                match self.fire_one(&name).await {
                    Ok((fired, skipped)) => {
                        report.fired.extend(fired);
                        if skipped > 0 {
                            report.skipped.push((name.clone(), skipped));
                        }
                    }
                    Err(e) => {
                        report.failed.push((name, e));
                        continue;
                    }
                }
            }
            if let Ok((cron, _)) = parsed(row) {
                if let Some(at) = cron.next_after(now) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        report.next_in_ms = next.map(|at| (at - now).max(1));
        Ok(report)
    }

    /// Fire one schedule's due fire times (retried when it races another create).
    async fn fire_one(&self, name: &str) -> Result<(Vec<Fired>, usize), EngineError> {
        let name: Arc<str> = name.into();
        let limits = *self.json_limits();
        let (fired, skipped, signals) = self
            .write_retrying(Retry::ConflictsAndDuplicates, move |tx, snapshots| {
                let name = name.clone();
                Box::pin(async move { fire_in_tx(tx, &name, &snapshots, &limits).await })
            })
            .await?;
        self.events().emit(&signals);
        Ok((fired, skipped))
    }

    /// Every stored schedule (at most [`MAX_LISTED_SCHEDULES`]), by name, with its next fire
    /// time by the database's clock.
    /// Delete the stored schedule of this name (a worker that still declares it stores it again
    /// when it starts); whether there was one.
    pub async fn delete_schedule(&self, name: &str) -> Result<bool, EngineError> {
        let name = name.to_string();
        run_write(self.store(), move |tx| {
            Box::pin(async move { Ok::<_, EngineError>(tx.delete_schedule(&name).await?) })
        })
        .await
    }

    pub async fn list_schedules(&self) -> Result<Vec<ScheduleView>, EngineError> {
        let (now, rows) = run_read(self.store(), move |tx| {
            Box::pin(async move {
                let now = tx.now().await?;
                let rows = tx.list_schedules(MAX_LISTED_SCHEDULES).await?;
                Ok::<_, EngineError>((now, rows))
            })
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let next_fire_at = parsed(&row).ok().and_then(|(cron, _)| {
                    let after = row.last_fire_at.unwrap_or(row.created_at).max(now);
                    cron.next_after(after)
                });
                let s = row.schedule;
                ScheduleView {
                    name: s.name,
                    cron: s.cron,
                    timezone: s.timezone,
                    namespace: s.namespace,
                    task_name: s.task_name,
                    version: s.version,
                    context: s.context,
                    missed: s.missed,
                    last_fire_at: row.last_fire_at,
                    next_fire_at,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                }
            })
            .collect())
    }
}

async fn register_in_tx(tx: &mut dyn Tx, specs: &[ScheduleSpec]) -> Result<(), EngineError> {
    let mut keys: Vec<TemplateKey> = specs
        .iter()
        .map(|s| TemplateKey {
            namespace: s.namespace.clone(),
            name: s.task_name.clone(),
            version: s.version.clone(),
        })
        .collect();
    keys.sort();
    keys.dedup();
    let found = tx.current_templates(&keys).await?;
    let missing = specs.iter().find(|s| {
        !found.iter().any(|(k, _, _)| {
            k.namespace == s.namespace && k.name == s.task_name && k.version == s.version
        })
    });
    if let Some(s) = missing {
        let known = crate::create::registered_templates(tx).await?;
        return Err(EngineError::TemplateNotFound(format!(
            "schedule '{}': task {} is not a registered task template (registered: {known}); \
             add its template to the worker's templates, or fix task.namespace, task.name or \
             task.version",
            echo(&s.name),
            s.task_key()
        )));
    }
    let records: Vec<ScheduleRecord> = specs.iter().map(record).collect();
    tx.put_schedules(&records).await?;
    Ok(())
}

type FireResult = (Vec<Fired>, usize, Vec<Signal>);

async fn fire_in_tx(
    tx: &mut dyn Tx,
    name: &str,
    snapshots: &Arc<crate::templates::Snapshots>,
    limits: &tasker_domain::JsonLimits,
) -> Result<FireResult, EngineError> {
    let now = tx.now().await?;
    let names = [name.to_string()];
    let Some(row) = tx.schedules(&names).await?.pop() else {
        return Ok((Vec::new(), 0, Vec::new()));
    };
    let (due, runs) = due_at(&row, now)?;
    let Some(&latest) = due.last() else {
        return Ok((Vec::new(), 0, Vec::new()));
    };
    let advanced = tx
        .advance_schedules(&[ScheduleAdvance {
            name: name.to_string(),
            expect: row.last_fire_at,
            to: latest,
        }])
        .await?;
    if advanced.is_empty() {
        // Another process handled these fire times first.
        return Ok((Vec::new(), 0, Vec::new()));
    }
    let skipped = due.len() - runs.len();
    if runs.is_empty() {
        return Ok((Vec::new(), skipped, Vec::new()));
    }
    let s = &row.schedule;
    let mut checked = Vec::with_capacity(runs.len());
    for &at in &runs {
        let req = CreateTask {
            namespace: s.namespace.clone(),
            name: s.task_name.clone(),
            version: s.version.clone(),
            context: s.context.clone(),
            idempotency_key: Some(schedule_idempotency_key(name, at)),
            delay_ms: None,
            trace_context: None,
            priority: None,
            // A generated correlation id; where it came from (docs/task-metadata.md).
            metadata: crate::TaskMetadataInput {
                // (A name with control characters, which no initiator may have, is left out.)
                initiator: Some(name.to_string()).filter(|n| !n.contains(char::is_control)),
                source_system: Some(SCHEDULE_SOURCE_SYSTEM.to_string()),
                reason: Some(format!("fire time {}", iso8601(at))),
                ..crate::TaskMetadataInput::default()
            },
            // The key makes each fire time one task; a process that lost the race gets it.
            on_duplicate: crate::OnDuplicate::Return,
            always_new: false,
        };
        checked.push(check(req, limits, &|| {
            format!("schedule '{}': ", echo(name))
        })?);
    }
    let (created, signals) =
        create_in_tx(tx, &checked, snapshots, false)
            .await
            .map_err(|e| match e {
                EngineError::TemplateNotFound(m) => {
                    EngineError::TemplateNotFound(format!("schedule '{}': {m}", echo(name)))
                }
                other => other,
            })?;
    let fired = created
        .iter()
        .zip(&runs)
        .map(|(c, &fire_at)| Fired {
            schedule: name.to_string(),
            fire_at,
            task_uuid: match c {
                Created::New { task, .. } => *task,
                Created::Existing(task) => *task,
            },
        })
        .collect();
    Ok((fired, skipped, signals))
}
