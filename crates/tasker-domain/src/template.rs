//! Task templates (reference §1): YAML parsing, defaults and validation.
//!
//! CONTRACT (used by storage/orchestration/worker and the napi bridge — do not change the public
//! signatures without updating them):
//! - `parse_template(yaml, source)` parses and validates one template; `source` is the file name
//!   used in error messages.
//! - `load_templates(paths)` loads every `*.yaml`/`*.yml` file from the given files/directories
//!   (directories non-recursively is fine; sorted order), validates each, and rejects duplicate
//!   `(namespace_name, name, version)` triples across files.
//! - Every error names the file, and where relevant the step and the field.

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::text::echo;

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

    /// Every handler callable used by any step of any template, with where it is used.
    pub fn callables(&self) -> Vec<(&str, &TaskTemplate, &StepDefinition)> {
        self.templates
            .iter()
            .flat_map(|t| {
                t.steps
                    .iter()
                    .map(move |s| (s.handler.callable.as_str(), t, s))
            })
            .collect()
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
    /// The file the template was loaded from (for error messages); not part of the YAML.
    #[serde(default)]
    pub source: String,
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
}

impl StepDefinition {
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

fn empty_object() -> serde_json::Value {
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
}

impl StepType {
    pub const ALL: [StepType; 5] = [
        StepType::Standard,
        StepType::Decision,
        StepType::DeferredConvergence,
        StepType::Batchable,
        StepType::BatchWorker,
    ];

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

/// A template that could not be loaded. `Display` is the full user-facing message, e.g.
/// `templates/order.yaml: step 'charge': field 'dependencies': unknown step 'validate_x'`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
}

impl TemplateError {
    fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
        }
    }
}

/// Largest accepted `retry.backoff_base_ms` / `retry.max_backoff_ms` (one hour).
pub const MAX_BACKOFF_SETTING_MS: u64 = 3_600_000;
/// Largest accepted `timeout_seconds` (one day).
pub const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;
/// Largest template file, in bytes (1 MiB): a larger file is rejected before it is read.
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of lists and mappings in a template (the top-level mapping is level 1; a
/// step's `handler.initialization` is level 5). Checked before the YAML is parsed, whose cost
/// grows with the square of the nesting.
pub const MAX_TEMPLATE_DEPTH: usize = 64;

const TOP_KEYS: &[&str] = &[
    "name",
    "namespace_name",
    "version",
    "description",
    "steps",
    "environments",
];
/// Reference keys we accept and ignore.
const TOP_IGNORED: &[&str] = &[
    "metadata",
    "system_dependencies",
    "domain_events",
    "input_schema",
    "lifecycle",
];
const STEP_KEYS: &[&str] = &[
    "name",
    "description",
    "handler",
    "type",
    "step_type",
    "dependencies",
    "depends_on",
    "retry",
    "timeout_seconds",
    "batch_config",
];
const STEP_IGNORED: &[&str] = &[
    "publishes_events",
    "system_dependency",
    "result_schema",
    "composition",
];
const HANDLER_KEYS: &[&str] = &["callable", "method", "resolver", "initialization"];
const RETRY_KEYS: &[&str] = &[
    "retryable",
    "max_attempts",
    "backoff",
    "backoff_base_ms",
    "max_backoff_ms",
];
const STEP_TYPES: &[(&str, StepType)] = &[
    ("standard", StepType::Standard),
    ("decision", StepType::Decision),
    ("deferred_convergence", StepType::DeferredConvergence),
    ("batchable", StepType::Batchable),
    ("batch_worker", StepType::BatchWorker),
];
const BACKOFF_KINDS: &[(&str, BackoffKind)] = &[
    ("none", BackoffKind::None),
    ("linear", BackoffKind::Linear),
    ("exponential", BackoffKind::Exponential),
    ("fibonacci", BackoffKind::Fibonacci),
];

/// Parse and validate one template. `source` names the file in messages.
///
/// Every error message starts with `source`, then (where relevant) `step '<name>'` (or
/// `step #<n>` when the step has no usable name) and `field '<field>'`, e.g.
/// `templates/order.yaml: step 'charge': field 'retry.max_attempts': must be between 1 and 100, got 0`.
pub fn parse_template(yaml: &str, source: &str) -> Result<TaskTemplate, TemplateError> {
    parse_template_for_env(yaml, source, None)
}

/// `parse_template`, with the overrides of `environments.<env>` applied first (reference §1.1):
/// for each override (`name` is a step name or `ALL`), `handler.initialization` is merged into
/// the step's key by key, `timeout_seconds` replaces the step's, and `retry` replaces the whole
/// retry block. The result is then validated as usual. An override naming an unknown step or
/// field is an error.
pub fn parse_template_for_env(
    yaml: &str,
    source: &str,
    env: Option<&str>,
) -> Result<TaskTemplate, TemplateError> {
    let ctx = Ctx::new(source);
    check_size(&ctx, yaml.len() as u64)?;
    // A UTF-8 byte order mark is not part of the document.
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    if let Some((line, column)) = crate::yaml_depth::first_past(yaml, MAX_TEMPLATE_DEPTH) {
        return Err(ctx.err(format!(
            "lists and mappings are nested more than {MAX_TEMPLATE_DEPTH} levels deep \
             (at line {line} column {column}); a template may nest them at most \
             {MAX_TEMPLATE_DEPTH} levels deep"
        )));
    }
    let mut doc: Value =
        serde_yaml::from_str(yaml).map_err(|e| ctx.err(format!("invalid YAML: {e}")))?;
    doc.apply_merge()
        .map_err(|e| ctx.err(format!("invalid YAML merge key: {e}")))?;
    let map = match &doc {
        Value::Mapping(map) => map,
        Value::Null => return Err(ctx.err("the template is empty")),
        other => {
            return Err(ctx.err(format!(
                "expected a mapping of template fields, got {}",
                describe(other)
            )))
        }
    };
    check_keys(&ctx, map, TOP_KEYS, TOP_IGNORED)?;
    let overridden;
    let map = match env {
        Some(env) => {
            overridden = apply_environment(&ctx, map, env)?;
            &overridden
        }
        None => map,
    };
    let name = required_str(&ctx, map, "name", 255)?;
    let namespace_name = required_str(&ctx, map, "namespace_name", 255)?;
    let version = required_str(&ctx, map, "version", 50)?;
    let description = opt_str(&ctx, map, "description")?.map(str::to_string);
    let raw_steps = match get(map, "steps") {
        None => &[][..],
        Some(Value::Sequence(seq)) => &seq[..],
        Some(other) => {
            return Err(ctx.field_err(
                "steps",
                format!("expected a list of steps, got {}", describe(other)),
            ))
        }
    };
    if raw_steps.is_empty() {
        return Err(ctx.err("template has no steps"));
    }
    let parsed = raw_steps
        .iter()
        .enumerate()
        .map(|(i, v)| parse_step(source, i, v))
        .collect::<Result<Vec<_>, _>>()?;
    validate_dependencies(source, &parsed)?;
    Ok(TaskTemplate {
        name,
        namespace_name,
        version,
        description,
        steps: parsed.into_iter().map(|p| p.step).collect(),
        source: source.to_string(),
    })
}

/// Load and validate every template under `paths` (files or directories).
///
/// A directory contributes the `*.yaml` / `*.yml` files directly inside it, in sorted order; a
/// file is loaded whatever its extension. The same file reached twice is loaded once.
pub fn load_templates<P: AsRef<Path>>(paths: &[P]) -> Result<TemplateSet, TemplateError> {
    // Environment overrides (`environments.<TASKER_ENV>`) apply when TASKER_ENV is set.
    let env = std::env::var("TASKER_ENV").ok().filter(|e| !e.is_empty());
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if !meta.is_dir() {
            files.push(path.to_path_buf());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| io_error(path, e))? {
            let file = entry.map_err(|e| io_error(path, e))?.path();
            if has_yaml_extension(&file) && file.is_file() {
                found.push(file);
            }
        }
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        let looked: Vec<String> = paths
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect();
        return Err(TemplateError::new(format!(
            "no task templates (*.yaml, *.yml) found in {}",
            if looked.is_empty() {
                "(no paths given)".to_string()
            } else {
                looked.join(", ")
            }
        )));
    }

    let mut set = TemplateSet::default();
    let mut seen = HashSet::new();
    for file in files {
        if !seen.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
            continue;
        }
        let source = file.display().to_string();
        // Checked before reading: a huge file is never loaded into memory.
        let size = std::fs::metadata(&file)
            .map_err(|e| io_error(&file, e))?
            .len();
        check_size(&Ctx::new(&source), size)?;
        let yaml = std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))?;
        let template = parse_template_for_env(&yaml, &source, env.as_deref())?;
        if let Some(prev) = set.find(&template.namespace_name, &template.name, &template.version) {
            return Err(TemplateError::new(format!(
                "{source}: template {} is already defined in {}",
                template.key(),
                prev.source
            )));
        }
        set.templates.push(template);
    }
    Ok(set)
}

fn check_size(ctx: &Ctx, bytes: u64) -> Result<(), TemplateError> {
    if bytes > MAX_TEMPLATE_BYTES {
        return Err(ctx.err(format!(
            "the file is {bytes} bytes; a template may be at most {MAX_TEMPLATE_BYTES} bytes (1 MiB)"
        )));
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> TemplateError {
    let what = if e.kind() == std::io::ErrorKind::NotFound {
        "no such file or directory".to_string()
    } else {
        format!("cannot read: {e}")
    };
    TemplateError::new(format!("{}: {what}", path.display()))
}

fn has_yaml_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Where an error happened: the file, the step (already formatted, e.g. `step 'charge'`) and a
/// field prefix for nested blocks (`handler.`, `retry.`).
struct Ctx<'a> {
    source: &'a str,
    step: Option<String>,
    prefix: &'static str,
}

impl<'a> Ctx<'a> {
    fn new(source: &'a str) -> Self {
        Ctx {
            source,
            step: None,
            prefix: "",
        }
    }

    fn for_step(&self, label: String) -> Self {
        Ctx {
            source: self.source,
            step: Some(label),
            prefix: "",
        }
    }

    fn nested(&self, prefix: &'static str) -> Self {
        Ctx {
            source: self.source,
            step: self.step.clone(),
            prefix,
        }
    }

    fn err(&self, msg: impl Display) -> TemplateError {
        TemplateError::new(match &self.step {
            Some(step) => format!("{}: {step}: {msg}", self.source),
            None => format!("{}: {msg}", self.source),
        })
    }

    fn field_err(&self, key: &str, msg: impl Display) -> TemplateError {
        self.err(format_args!("field '{}{key}': {msg}", self.prefix))
    }
}

/// A step as parsed, plus the key its dependencies were given under (for messages).
struct ParsedStep {
    step: StepDefinition,
    index: usize,
    deps_key: &'static str,
}

fn parse_step(source: &str, index: usize, value: &Value) -> Result<ParsedStep, TemplateError> {
    let label = match value.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => format!("step '{}'", echo(name)),
        _ => format!("step #{}", index + 1),
    };
    let ctx = Ctx::new(source).for_step(label);
    let Value::Mapping(map) = value else {
        return Err(ctx.err(format!(
            "expected a mapping of step fields, got {}",
            describe(value)
        )));
    };
    check_keys(&ctx, map, STEP_KEYS, STEP_IGNORED)?;
    let name = required_str(&ctx, map, "name", 255)?;

    let type_key = alias_key(&ctx, map, "type", "step_type")?;
    let step_type = match opt_str(&ctx, map, type_key)? {
        None => StepType::default(),
        Some(s) => lookup(STEP_TYPES, s).ok_or_else(|| {
            let hint = if s == "deferred" {
                " ('deferred' is spelled 'deferred_convergence')"
            } else {
                ""
            };
            ctx.field_err(
                type_key,
                format!(
                    "unknown step type '{}', expected one of {}{hint}",
                    echo(s),
                    names(STEP_TYPES)
                ),
            )
        })?,
    };

    let deps_key = alias_key(&ctx, map, "dependencies", "depends_on")?;
    let dependencies = match get(map, deps_key) {
        None => Vec::new(),
        Some(Value::Sequence(seq)) => seq
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(ctx.field_err(
                    deps_key,
                    format!("expected step names, got {}", describe(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ctx.field_err(
                deps_key,
                format!("expected a list of step names, got {}", describe(other)),
            ))
        }
    };

    let handler = match get(map, "handler") {
        None => return Err(ctx.err("missing required field 'handler'")),
        Some(Value::Mapping(h)) => parse_handler(&ctx.nested("handler."), h)?,
        Some(other) => {
            return Err(ctx.field_err(
                "handler",
                format!(
                    "expected a mapping with 'callable', got {}",
                    describe(other)
                ),
            ))
        }
    };

    let retry = match get(map, "retry") {
        None => RetryConfig::default(),
        Some(Value::Mapping(r)) => parse_retry(&ctx.nested("retry."), r)?,
        Some(other) => {
            return Err(ctx.field_err(
                "retry",
                format!("expected a mapping, got {}", describe(other)),
            ))
        }
    };

    let timeout_seconds = match get(map, "timeout_seconds") {
        None => None,
        Some(Value::Number(n)) => {
            let t = n.as_f64().unwrap_or(f64::NAN);
            // Written so that NaN fails too.
            if !(t > 0.0 && t <= MAX_TIMEOUT_SECONDS) {
                return Err(ctx.field_err(
                    "timeout_seconds",
                    format!("must be > 0 and <= {MAX_TIMEOUT_SECONDS}, got {n}"),
                ));
            }
            Some(t)
        }
        Some(other) => {
            return Err(ctx.field_err(
                "timeout_seconds",
                format!("expected a number of seconds, got {}", describe(other)),
            ))
        }
    };

    // Kept as given (its fields are read by batch processing), but it must be a mapping.
    let batch_config = match get(map, "batch_config") {
        None => None,
        Some(v @ Value::Mapping(_)) => Some(to_json(&ctx, "batch_config", v)?),
        Some(other) => {
            return Err(ctx.field_err(
                "batch_config",
                format!("expected a mapping, got {}", describe(other)),
            ))
        }
    };

    Ok(ParsedStep {
        step: StepDefinition {
            name,
            description: opt_str(&ctx, map, "description")?.map(str::to_string),
            handler,
            step_type,
            dependencies,
            retry,
            timeout_seconds,
            batch_config,
        },
        index,
        deps_key,
    })
}

fn parse_handler(ctx: &Ctx, map: &Mapping) -> Result<HandlerSpec, TemplateError> {
    check_keys(ctx, map, HANDLER_KEYS, &[])?;
    let initialization = match get(map, "initialization") {
        None => empty_object(),
        Some(v @ Value::Mapping(_)) => to_json(ctx, "initialization", v)?,
        Some(other) => {
            return Err(ctx.field_err(
                "initialization",
                format!("expected a mapping, got {}", describe(other)),
            ))
        }
    };
    Ok(HandlerSpec {
        callable: required_str(ctx, map, "callable", 500)?,
        method: opt_str(ctx, map, "method")?.map(str::to_string),
        resolver: opt_str(ctx, map, "resolver")?.map(str::to_string),
        initialization,
    })
}

/// Missing keys take the defaults of [`RetryConfig::default`], except that `retryable: false`
/// without `max_attempts` means one attempt.
fn parse_retry(ctx: &Ctx, map: &Mapping) -> Result<RetryConfig, TemplateError> {
    check_keys(ctx, map, RETRY_KEYS, &[])?;
    let defaults = RetryConfig::default();
    let retryable = match get(map, "retryable") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ctx.field_err(
                "retryable",
                format!("expected true or false, got {}", describe(other)),
            ))
        }
    };
    let max_attempts = int_in_range(ctx, map, "max_attempts", 1, 100)?;
    let backoff = match opt_str(ctx, map, "backoff")? {
        None => defaults.backoff,
        Some(s) => lookup(BACKOFF_KINDS, s).ok_or_else(|| {
            ctx.field_err(
                "backoff",
                format!("must be one of {}, got '{}'", names(BACKOFF_KINDS), echo(s)),
            )
        })?,
    };
    let base = int_in_range(ctx, map, "backoff_base_ms", 0, MAX_BACKOFF_SETTING_MS)?;
    let max = int_in_range(ctx, map, "max_backoff_ms", 0, MAX_BACKOFF_SETTING_MS)?;
    let backoff_base_ms = base.unwrap_or(defaults.backoff_base_ms);
    let max_backoff_ms = max.unwrap_or(defaults.max_backoff_ms);
    if max_backoff_ms < backoff_base_ms {
        let got = match max {
            Some(_) => format!("got {max_backoff_ms}"),
            None => format!("got the default {max_backoff_ms}; set it explicitly"),
        };
        return Err(ctx.field_err(
            "max_backoff_ms",
            format!("must be >= retry.backoff_base_ms ({backoff_base_ms}), {got}"),
        ));
    }
    let max_attempts = match max_attempts {
        Some(n) => n as u32, // within 1..=100
        None if !retryable => 1,
        None => defaults.max_attempts,
    };
    if !retryable && max_attempts > 1 {
        return Err(ctx.field_err(
            "max_attempts",
            format!("retryable: false means one attempt; set max_attempts: 1 (got {max_attempts})"),
        ));
    }
    Ok(RetryConfig {
        retryable,
        max_attempts,
        backoff,
        backoff_base_ms,
        max_backoff_ms,
    })
}

/// Cross-step rules: unique names, known dependencies (no self, no duplicates), decision steps
/// have a dependency, and no cycles.
fn validate_dependencies(source: &str, steps: &[ParsedStep]) -> Result<(), TemplateError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for p in steps {
        if let Some(first) = index.insert(&p.step.name, p.index) {
            return Err(Ctx::new(source).err(format!(
                "step '{}': duplicate step name (steps #{} and #{})",
                echo(&p.step.name),
                first + 1,
                p.index + 1
            )));
        }
    }
    for p in steps {
        let ctx = Ctx::new(source).for_step(format!("step '{}'", echo(&p.step.name)));
        let mut listed = HashSet::new();
        for dep in &p.step.dependencies {
            let problem = if *dep == p.step.name {
                "a step cannot depend on itself".to_string()
            } else if !listed.insert(dep.as_str()) {
                format!("step '{}' is listed more than once", echo(dep))
            } else if !index.contains_key(dep.as_str()) {
                format!("unknown step '{}'", echo(dep))
            } else {
                continue;
            };
            return Err(ctx.field_err(p.deps_key, problem));
        }
        if p.step.step_type == StepType::Decision && p.step.dependencies.is_empty() {
            return Err(ctx.field_err(
                p.deps_key,
                "a decision step must have at least one dependency",
            ));
        }
    }
    if let Some(cycle) = find_cycle(steps, &index) {
        let mut names: Vec<_> = cycle.iter().map(|&i| echo(&steps[i].step.name)).collect();
        names.push(names[0].clone());
        return Err(Ctx::new(source).err(format!("dependency cycle: {}", names.join(" -> "))));
    }
    Ok(())
}

/// A dependency cycle as step indices, each depending on the next (the last on the first),
/// starting at the cycle's earliest step in the template. Iterative DFS (no recursion limits).
fn find_cycle(steps: &[ParsedStep], index: &HashMap<&str, usize>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let deps = |i: usize| -> Vec<usize> {
        steps[i]
            .step
            .dependencies
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect()
    };
    let mut mark = vec![Mark::New; steps.len()];
    for root in 0..steps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (step, its dependencies, next dependency to visit)
        let mut path: Vec<(usize, Vec<usize>, usize)> = vec![(root, deps(root), 0)];
        mark[root] = Mark::OnPath;
        while let Some((node, node_deps, next)) = path.last_mut() {
            let Some(&dep) = node_deps.get(*next) else {
                mark[*node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[dep] {
                Mark::Done => {}
                Mark::New => {
                    mark[dep] = Mark::OnPath;
                    path.push((dep, deps(dep), 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|(n, _, _)| *n == dep)?;
                    let mut cycle: Vec<usize> = path[start..].iter().map(|(n, _, _)| *n).collect();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    return Some(cycle);
                }
            }
        }
    }
    None
}

/// Rejects keys that are neither known nor known-and-ignored, suggesting a close known key.
fn check_keys(
    ctx: &Ctx,
    map: &Mapping,
    known: &[&str],
    ignored: &[&str],
) -> Result<(), TemplateError> {
    for key in map.keys() {
        let Value::String(key) = key else {
            return Err(ctx.err(format!("unexpected key {}", describe(key))));
        };
        if known.contains(&key.as_str()) || ignored.contains(&key.as_str()) {
            continue;
        }
        let prefix = ctx.prefix;
        let hint = known
            .iter()
            .map(|k| (edit_distance(k, key), k))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, k)| format!(" (did you mean '{prefix}{k}'?)"))
            .unwrap_or_default();
        return Err(ctx.err(format!("unknown field '{prefix}{}'{hint}", echo(key))));
    }
    Ok(())
}

/// Which of two alias keys is used (`first` when neither); both at once is an error.
fn alias_key(
    ctx: &Ctx,
    map: &Mapping,
    first: &'static str,
    second: &'static str,
) -> Result<&'static str, TemplateError> {
    match (map.contains_key(first), map.contains_key(second)) {
        (true, true) => Err(ctx.err(format!(
            "fields '{first}' and '{second}' are aliases; use only one"
        ))),
        (false, true) => Ok(second),
        _ => Ok(first),
    }
}

/// A key's value; an explicit `null` counts as absent.
/// The template with `environments.<env>` applied to its steps (see `parse_template_for_env`).
fn apply_environment(ctx: &Ctx, map: &Mapping, env: &str) -> Result<Mapping, TemplateError> {
    let mut out = map.clone();
    let Some(envs) = get(map, "environments") else {
        return Ok(out);
    };
    let Value::Mapping(envs) = envs else {
        return Err(ctx.field_err(
            "environments",
            format!(
                "expected a mapping of environment names, got {}",
                describe(envs)
            ),
        ));
    };
    let Some(this) = envs.get(env).filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let field = format!("environments.{env}.steps");
    let overrides = match this.get("steps") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Sequence(seq)) => seq.clone(),
        Some(other) => {
            return Err(ctx.field_err(&field, format!("expected a list, got {}", describe(other))))
        }
    };
    let Some(Value::Sequence(steps)) = out.get_mut("steps") else {
        return Ok(out);
    };
    for (i, o) in overrides.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let Value::Mapping(o) = o else {
            return Err(ctx.field_err(&f, format!("expected a mapping, got {}", describe(o))));
        };
        for key in o.keys() {
            let k = key.as_str().unwrap_or("?");
            if !["name", "handler", "timeout_seconds", "retry"].contains(&k) {
                return Err(ctx.field_err(&f, format!("unknown field '{}' (overrides may set handler.initialization, timeout_seconds and retry)", echo(k))));
            }
        }
        let target = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ctx.field_err(&f, "missing 'name' (a step name or ALL)"))?;
        let mut matched = false;
        for step in steps.iter_mut() {
            let Value::Mapping(step) = step else { continue };
            let step_name = step
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if target != "ALL" && target != step_name {
                continue;
            }
            matched = true;
            if let Some(init) = o.get("handler").and_then(|h| h.get("initialization")) {
                let Value::Mapping(init) = init else {
                    return Err(
                        ctx.field_err(&format!("{f}.handler.initialization"), "expected a mapping")
                    );
                };
                if let Some(Value::Mapping(handler)) = step.get_mut("handler") {
                    let entry = handler
                        .entry(Value::String("initialization".into()))
                        .or_insert_with(|| Value::Mapping(Mapping::new()));
                    if entry.is_null() {
                        *entry = Value::Mapping(Mapping::new());
                    }
                    if let Value::Mapping(existing) = entry {
                        for (k, v) in init {
                            existing.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            for key in ["timeout_seconds", "retry"] {
                if let Some(v) = o.get(key) {
                    step.insert(Value::String(key.into()), v.clone());
                }
            }
        }
        if !matched {
            return Err(ctx.field_err(
                &f,
                format!(
                    "override names step '{}', which is not a step of this template",
                    echo(target)
                ),
            ));
        }
    }
    Ok(out)
}

fn get<'v>(map: &'v Mapping, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn opt_str<'v>(ctx: &Ctx, map: &'v Mapping, key: &str) -> Result<Option<&'v str>, TemplateError> {
    match get(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other @ Value::Number(_)) => Err(ctx.field_err(
            key,
            format!(
                "expected a string, got {} (put the value in quotes)",
                describe(other)
            ),
        )),
        Some(other) => {
            Err(ctx.field_err(key, format!("expected a string, got {}", describe(other))))
        }
    }
}

fn required_str(
    ctx: &Ctx,
    map: &Mapping,
    key: &str,
    max_chars: usize,
) -> Result<String, TemplateError> {
    let Some(s) = opt_str(ctx, map, key)? else {
        return Err(ctx.err(format!("missing required field '{}{key}'", ctx.prefix)));
    };
    let len = s.chars().count();
    if s.trim().is_empty() {
        return Err(ctx.field_err(key, "must not be empty"));
    }
    if len > max_chars {
        return Err(ctx.field_err(
            key,
            format!("must be at most {max_chars} characters, got {len}"),
        ));
    }
    Ok(s.to_string())
}

fn int_in_range(
    ctx: &Ctx,
    map: &Mapping,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, TemplateError> {
    let Some(v) = get(map, key) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => n,
        other => {
            return Err(ctx.field_err(
                key,
                format!("expected a whole number, got {}", describe(other)),
            ))
        }
    };
    match n.as_u64() {
        Some(u) if (min..=max).contains(&u) => Ok(Some(u)),
        _ => Err(ctx.field_err(key, format!("must be between {min} and {max}, got {n}"))),
    }
}

fn to_json(ctx: &Ctx, key: &str, v: &Value) -> Result<serde_json::Value, TemplateError> {
    serde_json::to_value(v)
        .map_err(|e| ctx.field_err(key, format!("cannot be represented as JSON: {e}")))
}

fn lookup<T: Copy>(table: &[(&str, T)], s: &str) -> Option<T> {
    table.iter().find(|(name, _)| *name == s).map(|(_, v)| *v)
}

fn names<T>(table: &[(&str, T)]) -> String {
    table
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {}", echo(&n.to_string())),
        Value::String(s) => format!("string '{}'", echo(s)),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", echo(&t.tag.to_string())),
    }
}

/// Levenshtein distance, for "did you mean" hints on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
