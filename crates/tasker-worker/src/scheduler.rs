//! The scheduler loop: while the worker runs, it sleeps until the next fire time of the
//! worker's schedules and then has the engine create the tasks that are due (exactly once
//! across every process, see `tasker-orchestration`'s `schedules`). It stops when claiming
//! stops (phase 1 of shutdown).

use std::sync::Arc;
use std::time::Duration;

use tasker_orchestration::{iso8601, MAX_MISSED_FIRES};

use crate::diagnostics::{db_failed, db_ok, tell, Backoff, MAX_RETRY};
use crate::worker::Inner;
use crate::{LogLevel, LogLine};

/// The longest sleep between two looks at the schedules (a definition changed by another
/// worker, or a clock that drifted, is noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// When a schedule failed to fire for another reason than an unreachable database.
const FAILED_RETRY: Duration = Duration::from_secs(30);

pub(crate) async fn schedule_loop(inner: Arc<Inner>) {
    let names: Vec<String> = inner
        .config
        .schedules
        .iter()
        .map(|s| s.name.clone())
        .collect();
    if names.is_empty() {
        return;
    }
    let mut backoff = Backoff::new(MAX_RETRY);
    loop {
        let wait =
            match inner.engine.fire_schedules(&names).await {
                Ok(report) => {
                    db_ok(&inner);
                    for f in &report.fired {
                        tell(
                            &inner,
                            LogLine::new(
                                LogLevel::Info,
                                format!(
                                    "schedule '{}' fired for {}: task {}",
                                    f.schedule,
                                    iso8601(f.fire_at),
                                    f.task_uuid
                                ),
                            )
                            .field("schedule", f.schedule.as_str())
                            .field("fireAt", iso8601(f.fire_at))
                            .field("taskUuid", f.task_uuid.to_string()),
                        );
                    }
                    for (name, n) in &report.skipped {
                        tell(
                            &inner,
                            LogLine::new(
                                LogLevel::Info,
                                format!(
                                "schedule '{name}': {}{n} missed fire time{} not run (missed: {})",
                                if *n >= MAX_MISSED_FIRES { "at least " } else { "" },
                                if *n == 1 { "" } else { "s" },
                                inner
                                    .config
                                    .schedules
                                    .iter()
                                    .find(|s| &s.name == name)
                                    .map_or("?", |s| s.missed.as_str())
                            ),
                            )
                            .field("schedule", name.as_str())
                            .field("skipped", *n),
                        );
                    }
                    let mut wait = report
                        .next_in_ms
                        .map_or(MAX_SLEEP, |ms| {
                            Duration::from_millis(u64::try_from(ms).unwrap_or(1))
                        })
                        .min(MAX_SLEEP);
                    if !report.failed.is_empty() {
                        for (name, e) in &report.failed {
                            if e.is_unavailable() {
                                db_failed(&inner, &format!("firing schedule '{name}'"), e);
                            } else {
                                tell(
                                    &inner,
                                    LogLine::new(
                                        LogLevel::Error,
                                        format!("schedule '{name}' could not fire: {e}"),
                                    )
                                    .field("schedule", name.as_str())
                                    .field("cause", e.to_string()),
                                );
                            }
                        }
                        // Unreachable database: retry soon. Anything else (a template no longer
                        // registered, say) is told again at most twice a minute.
                        let retry = if report.failed.iter().any(|(_, e)| e.is_unavailable()) {
                            backoff.next_wait()
                        } else {
                            FAILED_RETRY
                        };
                        wait = wait.min(retry);
                    } else {
                        backoff = Backoff::new(MAX_RETRY);
                    }
                    wait
                }
                Err(e) => {
                    db_failed(&inner, "reading schedules", &e);
                    backoff.next_wait()
                }
            };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.stop_claiming.cancelled() => return,
        }
    }
}
