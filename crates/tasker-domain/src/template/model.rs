//! The validated template types: what parsing produces, and what the database stores (as JSON).

use serde::{Deserialize, Serialize};

use super::notice::TemplateNotice;

/// All templates loaded at startup, keyed by `(namespace, name, version)`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TemplateSet {
    pub templates: Vec<TaskTemplate>,
}

impl TemplateSet {
    pub fn find(&self, namespace: &str, name: &str, version: &str) -> Option<&TaskTemplate> {
        self.templates
            .iter()
            .find(|t| t.namespace_name == namespace && t.name == name && t.version == version)
    }

    /// Every handler callable used by any step of any template, with where it is used (signal
    /// and subtask steps have no handler).
    pub fn callables(&self) -> Vec<(&str, &TaskTemplate, &StepDefinition)> {
        self.templates
            .iter()
            .flat_map(|t| {
                t.steps
                    .iter()
                    .filter(|s| s.step_type.has_handler())
                    .map(move |s| (s.handler.callable.as_str(), t, s))
            })
            .collect()
    }

    /// The notices of every template, in load order.
    pub fn notices(&self) -> impl Iterator<Item = &TemplateNotice> {
        self.templates.iter().flat_map(|t| t.notices.iter())
    }

    pub fn namespaces(&self) -> Vec<String> {
        let mut ns: Vec<String> = self
            .templates
            .iter()
            .map(|t| t.namespace_name.clone())
            .collect();
        ns.sort();
        ns.dedup();
        ns
    }
}

/// Which creates of a template are the same task (`identity_strategy`, docs/identity.md).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStrategy {
    /// Every create is a new task, unless it has an idempotency key (the default).
    #[default]
    AlwaysUnique,
    /// The same template and context (canonical JSON) are the same task, unless an
    /// idempotency key is given, which then decides.
    Strict,
    /// Every create must have an idempotency key, which decides.
    CallerProvided,
}

impl IdentityStrategy {
    pub fn is_default(&self) -> bool {
        *self == IdentityStrategy::AlwaysUnique
    }

    /// As written in templates.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStrategy::AlwaysUnique => "always_unique",
            IdentityStrategy::Strict => "strict",
            IdentityStrategy::CallerProvided => "caller_provided",
        }
    }
}

/// One task template (validated). Serialized (JSON) form is stored in the database so that any
/// process can create tasks from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskTemplate {
    pub name: String,
    pub namespace_name: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepDefinition>,
    /// Which creates are the same task (docs/identity.md). Left out of the stored JSON when it
    /// is the default, so a template without it keeps its digest.
    #[serde(default, skip_serializing_if = "IdentityStrategy::is_default")]
    pub identity_strategy: IdentityStrategy,
    /// Its `lifecycle` limits (docs/lifecycle.md); left out of the stored JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<super::lifecycle::Lifecycle>,
    /// The file the template was loaded from (for error messages); not part of the YAML.
    #[serde(default)]
    pub source: String,
    /// What loading it noticed (tasker-core keys ignored or read under our names), one per
    /// key; for the operator's log, never stored with the template.
    #[serde(skip)]
    pub notices: Vec<TemplateNotice>,
}

impl TaskTemplate {
    pub fn step(&self, name: &str) -> Option<&StepDefinition> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// `namespace/name@version`, how templates are named in messages.
    pub fn key(&self) -> String {
        format!("{}/{}@{}", self.namespace_name, self.name, self.version)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepDefinition {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A signal step has none (its callable is empty).
    pub handler: HandlerSpec,
    #[serde(rename = "type", alias = "step_type", default)]
    pub step_type: StepType,
    #[serde(alias = "depends_on", default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-attempt time limit in seconds (fractions allowed). `None` → the worker default (30 s).
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Kept as given for batch processing (issue 3).
    #[serde(default)]
    pub batch_config: Option<serde_json::Value>,
    /// A signal step's default result when no signal arrives within `timeout_seconds`
    /// (`on_timeout: { result: … }`); without it the timeout fails the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout_result: Option<serde_json::Value>,
    /// `concurrency` / `rate_limit` / `limit_key`: how many steps of this handler (per key) may
    /// run at once and how fast they may start, across all workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<StepLimits>,
    /// A subtask step's child template and how its context is built (`task:` / `context:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<SubtaskSpec>,
}

/// What a subtask step starts: a task of another template (see docs/child-tasks.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubtaskSpec {
    pub namespace: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub context: ChildContext,
}

impl SubtaskSpec {
    /// `namespace/name@version`, how templates are named in messages.
    pub fn key(&self) -> String {
        format!("{}/{}@{}", self.namespace, self.name, self.version)
    }
}

/// How a child task's context is built from its parent step.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChildContext {
    /// The parent task's context, with each dependency's result added under the dependency's
    /// name (a dependency result replaces a context field of the same name).
    #[default]
    Merge,
    /// The parent task's context as it is.
    Parent,
    /// Only the dependency results, keyed by step name.
    Dependencies,
}

impl ChildContext {
    pub const ALL: [ChildContext; 3] = [
        ChildContext::Merge,
        ChildContext::Parent,
        ChildContext::Dependencies,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChildContext::Merge => "merge",
            ChildContext::Parent => "parent",
            ChildContext::Dependencies => "dependencies",
        }
    }
}

/// A step's limits (see docs/limits.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepLimits {
    /// At most this many steps of the key in progress at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// At most `per_second` starts a second on average, `burst` at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// `{{dotted.path}}` template over the task context, or a JSONPath (`$.customer.id`):
    /// one limit per distinct value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_key: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl StepLimits {
    /// The key a step of handler `callable` is limited under, for a task of `context`:
    /// `callable`, or `callable:<resolved limit_key>`. A field the context lacks resolves to
    /// an empty string (all such steps share one limit).
    pub fn resolve_key(&self, callable: &str, context: &serde_json::Value) -> String {
        match &self.limit_key {
            None => callable.to_string(),
            Some(t) => format!("{callable}:{}", render_key(t, context)),
        }
    }
}

/// Check a `limit_key`: a JSONPath (it starts with `$`) must parse, and any other key must
/// name at least one `{{field}}`. The message says what is wrong, without the field's name
/// or the key.
pub fn check_limit_key(key: &str) -> Result<(), String> {
    if key.starts_with('$') {
        return serde_json_path::JsonPath::parse(key)
            .map(|_| ())
            .map_err(|e| format!("is not a valid JSONPath ({e})"));
    }
    if !key.contains("{{") || !key.contains("}}") {
        return Err(
            "must name a field of the task context as {{field}} (e.g. \"customer:{{customer_id}}\") \
             or be a JSONPath (e.g. \"$.customer_id\")"
                .to_string(),
        );
    }
    Ok(())
}

/// A context value as it appears in a limit key: strings as they are, other values as JSON,
/// null or nothing as an empty string.
fn push_key_value(out: &mut String, v: Option<&serde_json::Value>) {
    match v {
        Some(serde_json::Value::String(s)) => out.push_str(s),
        Some(serde_json::Value::Null) | None => {}
        Some(other) => out.push_str(&other.to_string()),
    }
}

/// Replace each `{{a.b}}` of `template` with the context's value at `a.b` (strings as they
/// are, other values as JSON, a missing field as nothing).
/// A JSONPath `template` (it starts with `$`) resolves to the value of its first match (a
/// path that matches nothing, or does not parse, to an empty string).
pub fn render_key(template: &str, context: &serde_json::Value) -> String {
    let mut out = String::new();
    if template.starts_with('$') {
        let first = serde_json_path::JsonPath::parse(template)
            .ok()
            .and_then(|p| p.query(context).first());
        push_key_value(&mut out, first);
        return out;
    }
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = after[..end].trim();
        let mut v = Some(context);
        for part in path.split('.') {
            v = v.and_then(|v| match v {
                serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                other => other.get(part),
            });
        }
        push_key_value(&mut out, v);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

impl StepDefinition {
    /// How long a signal step waits for its signal (`None`: for ever).
    pub fn signal_timeout_ms(&self) -> Option<u64> {
        if self.step_type != StepType::Signal {
            return None;
        }
        self.timeout_seconds.map(|s| (s * 1000.0).round() as u64)
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_seconds
            .map(|s| (s * 1000.0).round() as u64)
            .unwrap_or(DEFAULT_TIMEOUT_MS)
    }
}

/// Default per-attempt timeout when a step does not set `timeout_seconds`.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandlerSpec {
    pub callable: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub resolver: Option<String>,
    #[serde(default = "empty_object")]
    pub initialization: serde_json::Value,
}

pub(super) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    #[default]
    Standard,
    Decision,
    DeferredConvergence,
    Batchable,
    BatchWorker,
    /// No handler: completed by a signal sent to it (`client.sendSignal`).
    Signal,
    /// No handler: runs a child task of another template and completes with its results.
    Subtask,
}

impl StepType {
    pub const ALL: [StepType; 7] = [
        StepType::Standard,
        StepType::Decision,
        StepType::DeferredConvergence,
        StepType::Batchable,
        StepType::BatchWorker,
        StepType::Signal,
        StepType::Subtask,
    ];

    /// Whether a worker runs a handler for it (signal and subtask steps have none).
    pub fn has_handler(self) -> bool {
        !matches!(self, StepType::Signal | StepType::Subtask)
    }

    /// Decision and batchable steps return an outcome that creates further steps.
    pub fn has_outcome(self) -> bool {
        matches!(self, StepType::Decision | StepType::Batchable)
    }

    /// The YAML / database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Standard => "standard",
            StepType::Decision => "decision",
            StepType::DeferredConvergence => "deferred_convergence",
            StepType::Batchable => "batchable",
            StepType::BatchWorker => "batch_worker",
            StepType::Signal => "signal",
            StepType::Subtask => "subtask",
        }
    }
}

impl std::str::FromStr for StepType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown step type '{s}'"))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    None,
    Linear,
    #[default]
    Exponential,
    Fibonacci,
}

/// Retry settings of one step. Unlike the reference, every field here is honoured by the
/// orchestration. `max_attempts` counts the first attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RetryConfig {
    #[serde(default = "default_true")]
    pub retryable: bool,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff: BackoffKind,
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            retryable: true,
            max_attempts: default_max_attempts(),
            backoff: BackoffKind::Exponential,
            backoff_base_ms: default_backoff_base_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_max_attempts() -> u32 {
    3
}
fn default_backoff_base_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
