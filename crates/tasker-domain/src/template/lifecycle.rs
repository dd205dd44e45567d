//! The template's `lifecycle` block (docs/lifecycle.md): how long an open task may take, and
//! how long it may go without progress, before it fails.

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::error::{Ctx, TemplateError};
use super::fields::{check_keys, describe, get};
use super::notice::{Note, Notes};

/// The limits of a `lifecycle` block, in minutes (fractions allowed: 0.5 is 30 s). Each is
/// optional; a task fails with the first it exceeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Lifecycle {
    /// From the task's creation until it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_minutes: Option<f64>,
    /// Without progress while one of its steps is ready or running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps_in_process_minutes: Option<f64>,
    /// Without progress while none of its steps is ready or running (each waits for a
    /// dependency, a signal, a child task or a delayed start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting_for_dependencies_minutes: Option<f64>,
    /// In `waiting_for_retry` (every unfinished step is out a backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting_for_retry_minutes: Option<f64>,
}

/// One limit in milliseconds, or `None` when unset.
fn to_ms(minutes: Option<f64>) -> Option<i64> {
    // At most 43200 minutes: far inside i64 milliseconds.
    minutes.map(|m| (m * 60_000.0).round().max(1.0) as i64)
}

impl Lifecycle {
    pub fn max_duration_ms(&self) -> Option<i64> {
        to_ms(self.max_duration_minutes)
    }
    pub fn max_steps_in_process_ms(&self) -> Option<i64> {
        to_ms(self.max_steps_in_process_minutes)
    }
    pub fn max_waiting_for_dependencies_ms(&self) -> Option<i64> {
        to_ms(self.max_waiting_for_dependencies_minutes)
    }
    pub fn max_waiting_for_retry_ms(&self) -> Option<i64> {
        to_ms(self.max_waiting_for_retry_minutes)
    }
}

/// The longest `max_duration_minutes` (30 days), as in tasker-core.
pub const MAX_DURATION_MINUTES: f64 = 43_200.0;
/// The longest of the other limits (7 days), as in tasker-core.
pub const MAX_WAIT_MINUTES: f64 = 10_080.0;

/// The limits, each with its most.
const LIMITS: &[(&str, f64)] = &[
    ("max_duration_minutes", MAX_DURATION_MINUTES),
    ("max_steps_in_process_minutes", MAX_WAIT_MINUTES),
    ("max_waiting_for_dependencies_minutes", MAX_WAIT_MINUTES),
    ("max_waiting_for_retry_minutes", MAX_WAIT_MINUTES),
];
/// tasker-core's choices of what happens to a stale task. Here it always fails (state
/// `error`, reason recorded), which is also what tasker-core does to the task besides its
/// dead-letter entry: read, and ignored with a notice.
const ACTIONS: &[&str] = &[
    "staleness_action",
    "auto_fail_on_timeout",
    "auto_dlq_on_timeout",
];

/// Read a `lifecycle` block (`ctx` is nested under `lifecycle.`).
pub(super) fn parse_lifecycle(
    ctx: &Ctx,
    map: &Mapping,
    notes: &mut Notes,
) -> Result<Lifecycle, TemplateError> {
    let known: Vec<&str> = LIMITS.iter().map(|(k, _)| *k).collect();
    check_keys(ctx, map, &known, ACTIONS)?;
    let mut values = [None; 4];
    for (slot, (key, most)) in values.iter_mut().zip(LIMITS) {
        *slot = match get(map, key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                let m = n.as_f64().unwrap_or(f64::NAN);
                // Written so that NaN fails too.
                if m > 0.0 && m <= *most {
                    Some(m)
                } else {
                    return Err(ctx.field_err(key, format!("must be > 0 and <= {most}, got {n}")));
                }
            }
            Some(other) => {
                return Err(ctx.field_err(
                    key,
                    format!("expected a number of minutes, got {}", describe(other)),
                ))
            }
        };
    }
    for key in ACTIONS {
        if map.contains_key(*key) {
            ctx.note(notes, key, Note::AlwaysFails);
        }
    }
    let [max_duration_minutes, max_steps_in_process_minutes, max_waiting_for_dependencies_minutes, max_waiting_for_retry_minutes] =
        values;
    Ok(Lifecycle {
        max_duration_minutes,
        max_steps_in_process_minutes,
        max_waiting_for_dependencies_minutes,
        max_waiting_for_retry_minutes,
    })
}
