//! The tasker domain model. Pure: no I/O beyond reading template files, no clocks, no randomness
//! (callers pass `now` and jitter in), so everything here is table-testable.

pub mod backoff;
pub mod expansion;
pub mod json;
pub mod schedule;
pub mod state;
pub mod template;
pub mod text;
mod yaml_depth;

pub use backoff::{decide_failure, FailureDecision, FailureInput};
pub use expansion::{
    convergence_edges, parse_batch_outcome, parse_decision_outcome, plan_batches, plan_decision,
    plan_decision_with, BatchOutcome, CursorConfig, DecisionOutcome, ExpansionLimits, NewStep,
};
pub use json::{check_json, json_depth, json_kind, JsonLimits, JsonProblem};
pub use state::{StepState, TaskState};
pub use template::{
    check_limit_key, check_template_for_env, check_templates, load_templates, parse_template,
    parse_template_for_env, parse_worker_limits, render_key, subtask_cycles,
    unknown_child_templates, BackoffKind, ChildContext, HandlerSpec, IdentityStrategy, Lifecycle,
    RateLimit, RetryConfig, StepDefinition, StepLimits, StepType, SubtaskSpec, TaskTemplate,
    TemplateError, TemplateNotice, TemplateReport, TemplateSet, MAX_TEMPLATE_BYTES,
    MAX_TEMPLATE_DEPTH,
};
pub use text::{cap_stack, echo, MAX_STACK_BYTES};
