//! One template file's YAML to a validated `TaskTemplate`.

use serde_yaml::{Mapping, Value};

use super::env_overrides::apply_environment;
use super::error::{Ctx, TemplateError};
use super::fields::{
    alias_key, check_keys, describe, get, int_in_range, lookup, names, opt_str, required_str,
    to_json,
};
use super::limits::{check_size, MAX_BACKOFF_SETTING_MS, MAX_TEMPLATE_DEPTH, MAX_TIMEOUT_SECONDS};
use super::model::{
    empty_object, BackoffKind, HandlerSpec, RetryConfig, StepDefinition, StepType, TaskTemplate,
};
use super::validate::validate_dependencies;
use crate::text::echo;

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

/// A step as parsed, plus the key its dependencies were given under (for messages).
pub(super) struct ParsedStep {
    pub(super) step: StepDefinition,
    pub(super) index: usize,
    pub(super) deps_key: &'static str,
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
