//! Task templates (reference §1): YAML parsing, defaults and validation.
//!
//! CONTRACT (used by storage/orchestration/worker and the napi bridge — do not change the public
//! signatures without updating them):
//! - `parse_template(yaml, source)` parses and validates one template; `source` is the file name
//!   used in error messages.
//! - `load_templates(paths)` loads every `*.yaml`/`*.yml` file from the given files/directories
//!   (directories non-recursively is fine; sorted order), validates each, and rejects duplicate
//!   `(namespace_name, name, version)` triples across files.
//! - Every error names the file, and where relevant the step and the field (in its message, and
//!   in `file`, `step` and `field`).
//! - `check_templates(paths)` / `check_template_for_env` find every error instead of the first
//!   (for `tasker validate`); the first of their errors is the one the functions above return.
//!
//! The module is split along its seams: `model` (the validated types), `parse` (one file's
//! YAML to a `TaskTemplate`), `fields` (reading typed YAML fields, with messages), `env_overrides`
//! (`environments.<env>`), `validate` (cross-step rules), `limits` (sizes and ranges), `load`
//! (files and directories), `error` (`TemplateError` and where it happened) and `notice`
//! (`TemplateNotice`: what a template that loads says about tasker-core keys).

mod env_overrides;
mod error;
mod fields;
mod lifecycle;
mod limits;
mod load;
mod model;
mod notice;
mod parse;
mod subtasks;
mod validate;
mod worker_limits;

pub use error::TemplateError;
pub use lifecycle::{Lifecycle, MAX_DURATION_MINUTES, MAX_WAIT_MINUTES};
pub use limits::{
    MAX_BACKOFF_SETTING_MS, MAX_SIGNAL_TIMEOUT_SECONDS, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH,
    MAX_TIMEOUT_SECONDS,
};
pub use load::{check_templates, load_templates, TemplateReport};
pub use model::{
    check_limit_key, render_key, BackoffKind, ChildContext, HandlerSpec, IdentityStrategy,
    RateLimit, RetryConfig, StepDefinition, StepLimits, StepType, SubtaskSpec, TaskTemplate,
    TemplateSet, DEFAULT_TIMEOUT_MS,
};
pub use notice::TemplateNotice;
pub use parse::{check_template_for_env, parse_template, parse_template_for_env};
pub use subtasks::{subtask_cycles, unknown_child_templates};
pub use worker_limits::parse_worker_limits;
