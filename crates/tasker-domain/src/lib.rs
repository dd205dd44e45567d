//! The tasker domain model. Pure: no I/O beyond reading template files, no clocks, no randomness
//! (callers pass `now` and jitter in), so everything here is table-testable.

pub mod backoff;
pub mod state;
pub mod template;

pub use backoff::{decide_failure, FailureDecision, FailureInput};
pub use state::{StepState, TaskState};
pub use template::{
    load_templates, parse_template, BackoffKind, HandlerSpec, RetryConfig, StepDefinition,
    StepType, TaskTemplate, TemplateError, TemplateSet,
};
