//! Lifecycle limits (docs/lifecycle.md): an open task past one of its template's `lifecycle`
//! limits fails. Its steps that have not finished are cancelled, and the workers running any of
//! them abort their handlers. Every worker sweeps; each task is failed once.

use tasker_domain::{Lifecycle, TaskState};
use tasker_store::{run_read, run_write, LifecycleDue, LifecycleLimits, Signal, Uuid};

use crate::work::Work;
use crate::{Engine, EngineError};

/// The most tasks one sweep looks at.
const SWEEP_BATCH: i64 = 100;

/// A template's limits as a task keeps them.
pub(crate) fn limits_of(lifecycle: Option<&Lifecycle>) -> LifecycleLimits {
    lifecycle.map_or_else(LifecycleLimits::default, |l| LifecycleLimits {
        max_duration_ms: l.max_duration_ms(),
        max_in_process_ms: l.max_steps_in_process_ms(),
        max_dependencies_ms: l.max_waiting_for_dependencies_ms(),
        max_retry_wait_ms: l.max_waiting_for_retry_ms(),
    })
}

/// Why `d` fails, if it has passed one of its limits: the one that applies to it now.
/// `max_duration_minutes` counts from its start (its creation, or the last time an operator
/// retried it out of `error`); the others from when it last made progress
/// (one of its steps completed, or it changed state), each while the task is in its situation:
/// out a retry backoff (`waiting_for_retry`), with a step ready or running, or with none.
pub(crate) fn exceeded(d: &LifecycleDue) -> Option<String> {
    let l = &d.limits;
    if let Some(max) = l.max_duration_ms.filter(|max| d.age_ms > *max) {
        return Some(format!(
            "lifecycle.max_duration_minutes ({}) exceeded: the task has been open for {}",
            minutes(max),
            span(d.age_ms)
        ));
    }
    let (key, max, doing) = match (d.state, d.busy) {
        (TaskState::WaitingForRetry, _) => (
            "max_waiting_for_retry_minutes",
            l.max_retry_wait_ms,
            "while it waited to retry a step",
        ),
        (_, true) => (
            "max_steps_in_process_minutes",
            l.max_in_process_ms,
            "while its steps were ready or running",
        ),
        (_, false) => (
            "max_waiting_for_dependencies_minutes",
            l.max_dependencies_ms,
            "while its steps waited (for dependencies, signals, child tasks or a delayed start)",
        ),
    };
    let max = max.filter(|max| d.idle_ms > *max)?;
    Some(format!(
        "lifecycle.{key} ({}) exceeded: no progress for {} {doing}",
        minutes(max),
        span(d.idle_ms)
    ))
}

/// A limit as written: `2 min`, `0.05 min`.
fn minutes(ms: i64) -> String {
    let text = format!("{:.3}", ms as f64 / 60_000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} min")
}

/// A time that passed: `3.2 s`, `31.0 min`.
fn span(ms: i64) -> String {
    if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{:.1} min", ms as f64 / 60_000.0)
    }
}

impl Engine {
    /// Fail the open tasks past a lifecycle limit (docs/lifecycle.md). Safe to run from every
    /// process at once: each task is locked and looked at again before it fails. Returns how
    /// many tasks failed.
    pub async fn enforce_lifecycles(&self) -> Result<usize, EngineError> {
        let due = run_read(self.store(), |tx| {
            Box::pin(async move { tx.lifecycle_due(None, SWEEP_BATCH).await })
        })
        .await
        .map_err(EngineError::from)?;
        let mut failed = 0;
        for task in due
            .iter()
            .filter(|d| exceeded(d).is_some())
            .map(|d| d.task_uuid)
        {
            if self.expire(task).await? {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Fail `task` if it is still past a limit once locked.
    async fn expire(&self, task: Uuid) -> Result<bool, EngineError> {
        let signals = run_write(self.store(), move |tx| {
            Box::pin(async move {
                if tx.lock_task(task).await?.is_none() {
                    return Ok::<_, EngineError>(None);
                }
                let Some(d) = tx.lifecycle_due(Some(task), 1).await?.pop() else {
                    return Ok(None);
                };
                let Some(why) = exceeded(&d) else {
                    return Ok(None);
                };
                let mut work = Work::default();
                // Its running steps too: their workers abort the handlers.
                crate::cancel::fail_task(tx, &mut work, task, d.state, why, &crate::cancel::OPEN)
                    .await?;
                work.signal(Signal::TaskExpired(task));
                work.flush(tx).await?;
                Ok(Some(work.signals))
            })
        })
        .await?;
        let Some(signals) = signals else {
            return Ok(false);
        };
        self.events().emit(&signals);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(state: TaskState, busy: bool, age_ms: i64, idle_ms: i64) -> LifecycleDue {
        LifecycleDue {
            task_uuid: Uuid::nil(),
            state,
            age_ms,
            idle_ms,
            busy,
            limits: LifecycleLimits {
                max_duration_ms: Some(600_000),
                max_in_process_ms: Some(120_000),
                max_dependencies_ms: Some(3_000),
                max_retry_wait_ms: Some(30_000),
            },
        }
    }

    #[test]
    fn the_limit_that_applies_to_the_tasks_situation_decides() {
        let running = TaskState::StepsInProcess;
        assert_eq!(
            exceeded(&due(running, true, 600_001, 0)).as_deref(),
            Some("lifecycle.max_duration_minutes (10 min) exceeded: the task has been open for 10.0 min")
        );
        // Busy: 2 min without progress is allowed, the 3 s limit of waiting ones does not apply.
        assert_eq!(exceeded(&due(running, true, 200_000, 119_000)), None);
        assert_eq!(
            exceeded(&due(running, true, 200_000, 130_000)).as_deref(),
            Some(
                "lifecycle.max_steps_in_process_minutes (2 min) exceeded: no progress for 2.2 min \
                 while its steps were ready or running"
            )
        );
        assert_eq!(
            exceeded(&due(running, false, 200_000, 3_500)).as_deref(),
            Some(
                "lifecycle.max_waiting_for_dependencies_minutes (0.05 min) exceeded: no progress \
                 for 3.5 s while its steps waited (for dependencies, signals, child tasks or a \
                 delayed start)"
            )
        );
        let retrying = TaskState::WaitingForRetry;
        assert_eq!(exceeded(&due(retrying, false, 200_000, 29_000)), None);
        assert_eq!(
            exceeded(&due(retrying, false, 200_000, 31_000)).as_deref(),
            Some(
                "lifecycle.max_waiting_for_retry_minutes (0.5 min) exceeded: no progress for \
                 31.0 s while it waited to retry a step"
            )
        );
    }

    #[test]
    fn an_unset_limit_never_fails_a_task() {
        let mut d = due(TaskState::StepsInProcess, true, i64::MAX, i64::MAX);
        d.limits = LifecycleLimits::default();
        assert_eq!(exceeded(&d), None);
        assert_eq!(limits_of(None), LifecycleLimits::default());
    }
}
