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
//! (files and directories) and `error` (`TemplateError` and where it happened).

mod env_overrides;
mod error;
mod fields;
mod limits;
mod load;
mod model;
mod parse;
mod validate;

pub use error::TemplateError;
pub use limits::{
    MAX_BACKOFF_SETTING_MS, MAX_SIGNAL_TIMEOUT_SECONDS, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH,
    MAX_TIMEOUT_SECONDS,
};
pub use load::{check_templates, load_templates, TemplateReport};
pub use model::{
    render_key, BackoffKind, HandlerSpec, IdentityStrategy, RateLimit, RetryConfig, StepDefinition,
    StepLimits, StepType, TaskTemplate, TemplateSet, DEFAULT_TIMEOUT_MS,
};
pub use parse::{check_template_for_env, parse_template, parse_template_for_env};
