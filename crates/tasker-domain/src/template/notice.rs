//! Notices: what a template that loads says its author should know. They come from templates
//! written for tasker-core: keys tasker-core ignores (ignored here too), its other spellings of
//! retry settings (read under our names), and settings whose meaning is narrower than they read
//! (`max_attempts: 0`, `retryable: false` with more attempts). See docs/templates.md, "Porting
//! tasker-core templates".
//!
//! One notice per file and key: a key found in several steps makes one notice naming them all.

use serde::Serialize;

use crate::text::echo;

/// One line for the operator about a template that loads. `Display` is the whole line, e.g.
/// `templates/order.yaml: ignoring 'loaded_from' (tasker-core ignores it too)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateNotice {
    pub message: String,
    /// The file, as it was named when loading.
    pub file: String,
    /// The key, with its block (`loaded_from`, `lifecycle`, `retry.limit`).
    pub field: String,
    /// The steps it is about, in template order (empty for a top-level key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

impl std::fmt::Display for TemplateNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What was noticed about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Note {
    /// A key tasker-core ignores (it is not in its template struct): ignored here too.
    Ignored,
    /// A tasker-core spelling read as one of our fields (`retry.limit` → `retry.max_attempts`).
    ReadAs(&'static str),
    /// A number of seconds read as one of our millisecond fields (`retry.initial_delay: 2` →
    /// `retry.backoff_base_ms: 2000`).
    SecondsAs(&'static str),
    /// A tasker-core spelling ignored because our field is set too (ours wins).
    Shadowed(&'static str),
    /// `max_attempts: 0` (or `limit: 0`): one attempt, as in tasker-core.
    ZeroAttempts,
    /// `retryable: false` with more than one attempt: one attempt, as in tasker-core.
    NotRetryable,
    /// A `lifecycle` choice of what befalls a stale task: here it always fails.
    AlwaysFails,
}

/// Notices of one file, kept as `(field, note, step)` until the file is done.
#[derive(Default)]
pub(super) struct Notes(Vec<(String, Note, Option<String>)>);

impl Notes {
    pub(super) fn push(&mut self, field: String, note: Note, step: Option<String>) {
        self.0.push((field, note, step));
    }

    /// One notice per field and kind, in the order they were first met, naming every step.
    pub(super) fn into_notices(self, source: &str) -> Vec<TemplateNotice> {
        let mut grouped: Vec<(String, Note, Vec<String>)> = Vec::new();
        for (field, note, step) in self.0 {
            let group = match grouped
                .iter_mut()
                .find(|(f, n, _)| *f == field && *n == note)
            {
                Some(g) => g,
                None => {
                    grouped.push((field, note, Vec::new()));
                    let last = grouped.len() - 1;
                    &mut grouped[last]
                }
            };
            if let Some(step) = step {
                if !group.2.contains(&step) {
                    group.2.push(step);
                }
            }
        }
        grouped
            .into_iter()
            .map(|(field, note, steps)| TemplateNotice {
                message: format!("{source}: {}", text(&field, note, &steps)),
                file: source.to_string(),
                field,
                steps,
            })
            .collect()
    }
}

/// Steps named in a notice: at most this many, then "and N more".
const MAX_NAMED_STEPS: usize = 5;

fn text(field: &str, note: Note, steps: &[String]) -> String {
    let key = echo(field);
    let place = where_(steps);
    match note {
        Note::Ignored => format!("ignoring '{key}'{place} (tasker-core ignores it too)"),
        Note::ReadAs(ours) => {
            format!("reading '{key}'{place} as '{ours}' (tasker-core's spelling)")
        }
        Note::SecondsAs(ours) => format!(
            "reading '{key}'{place} as '{ours}': seconds, times 1000 (tasker-core's spelling)"
        ),
        Note::Shadowed(ours) => {
            format!("ignoring '{key}'{place}: '{ours}' is set too, and wins as in tasker-core")
        }
        Note::ZeroAttempts => format!(
            "'{key}: 0'{place} means one attempt, as in tasker-core; write 'retry.max_attempts: 1'"
        ),
        Note::NotRetryable => format!(
            "'retry.retryable: false'{place} means one attempt whatever '{key}' says, as in \
             tasker-core; write 'retry.max_attempts: 1'"
        ),
        Note::AlwaysFails => format!(
            "ignoring '{key}'{place}: a task past a lifecycle limit always fails (state error, \
             with the limit as its reason; docs/lifecycle.md)"
        ),
    }
}

fn where_(steps: &[String]) -> String {
    let quoted = |s: &[String]| {
        s.iter()
            .map(|n| format!("'{}'", echo(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match steps.len() {
        0 => String::new(),
        1 => format!(" in step {}", quoted(steps)),
        n if n <= MAX_NAMED_STEPS => format!(" in steps {}", quoted(steps)),
        n => format!(
            " in steps {} and {} more",
            quoted(&steps[..MAX_NAMED_STEPS]),
            n - MAX_NAMED_STEPS
        ),
    }
}
