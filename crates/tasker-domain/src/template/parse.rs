//! One template file's YAML to a validated `TaskTemplate`.

use serde_yaml::{Mapping, Value};

use super::env_overrides::apply_environment;
use super::error::{Ctx, Problems, TemplateError};
use super::fields::{
    alias_key, check_keys, describe, get, int_in_range, lookup, names, opt_str, required_str,
    to_json, unknown_keys,
};
use super::lifecycle::{parse_lifecycle, Lifecycle};
use super::limits::{
    check_size, MAX_BACKOFF_SETTING_MS, MAX_SIGNAL_TIMEOUT_SECONDS, MAX_TEMPLATE_DEPTH,
    MAX_TIMEOUT_SECONDS,
};
use super::model::{
    check_limit_key, empty_object, BackoffKind, ChildContext, HandlerSpec, IdentityStrategy,
    RateLimit, RetryConfig, StepDefinition, StepLimits, StepType, SubtaskSpec, TaskTemplate,
};
use super::notice::{Note, Notes};
use super::validate::validate_dependencies;
use crate::text::echo;

const TOP_KEYS: &[&str] = &[
    "name",
    "namespace_name",
    "version",
    "description",
    "steps",
    "environments",
    "identity_strategy",
    "lifecycle",
];
/// Reference keys we accept and ignore.
const TOP_IGNORED: &[&str] = &[
    "metadata",
    "system_dependencies",
    "domain_events",
    "input_schema",
];
/// Keys that tasker-core itself ignores (they are not in its template struct) but that its
/// files carry: ignored, with a notice. `loaded_from` is where tasker-rb's loader records a
/// template's file.
const TOP_TASKER_CORE_IGNORED: &[&str] = &["loaded_from"];
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
    "on_timeout",
    "concurrency",
    "rate_limit",
    "limit_key",
    "task",
    "context",
];
const SUBTASK_KEYS: &[&str] = &["namespace", "name", "version"];
const CHILD_CONTEXTS: &[(&str, ChildContext)] = &[
    ("merge", ChildContext::Merge),
    ("parent", ChildContext::Parent),
    ("dependencies", ChildContext::Dependencies),
];
pub(super) const LIMIT_KEYS: &[&str] = &["concurrency", "rate_limit", "limit_key"];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];
const STEP_IGNORED: &[&str] = &[
    "publishes_events",
    "system_dependency",
    "result_schema",
    "composition",
];
/// Step keys tasker-core ignores (a step-level `lifecycle`; tasker-core's lifecycle is a
/// template-level block): ignored, with a notice.
const STEP_TASKER_CORE_IGNORED: &[&str] = &["lifecycle"];
const ON_TIMEOUT_KEYS: &[&str] = &["result"];
const HANDLER_KEYS: &[&str] = &["callable", "method", "resolver", "initialization"];
const RETRY_KEYS: &[&str] = &[
    "retryable",
    "max_attempts",
    "backoff",
    "backoff_base_ms",
    "max_backoff_ms",
];
/// tasker-core's other spellings of retry settings: `limit` (tasker-rb's name for
/// `max_attempts`), `initial_delay` and `max_delay` (seconds). Read under our names with a
/// notice; never suggested for a typo.
const RETRY_TASKER_CORE: &[&str] = &["limit", "initial_delay", "max_delay"];
const STEP_TYPES: &[(&str, StepType)] = &[
    ("standard", StepType::Standard),
    ("decision", StepType::Decision),
    ("deferred_convergence", StepType::DeferredConvergence),
    ("batchable", StepType::Batchable),
    ("batch_worker", StepType::BatchWorker),
    ("signal", StepType::Signal),
    ("subtask", StepType::Subtask),
];
const IDENTITY_STRATEGIES: &[(&str, IdentityStrategy)] = &[
    ("always_unique", IdentityStrategy::AlwaysUnique),
    ("strict", IdentityStrategy::Strict),
    ("caller_provided", IdentityStrategy::CallerProvided),
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
    check_template_for_env(yaml, source, env).map_err(|mut errors| errors.swap_remove(0))
}

/// `parse_template_for_env`, finding every error instead of the first: each top-level field,
/// each step (each of its fields, the first error of its `handler` and `retry` blocks), and the
/// cross-step rules. The first error of the list is the one `parse_template_for_env` returns.
/// A file that cannot be read as a YAML mapping at all gives that one error. On error the list
/// is never empty.
pub fn check_template_for_env(
    yaml: &str,
    source: &str,
    env: Option<&str>,
) -> Result<TaskTemplate, Vec<TemplateError>> {
    let ctx = Ctx::new(source);
    let one = |e: TemplateError| vec![e];
    check_size(&ctx, yaml.len() as u64).map_err(one)?;
    // A UTF-8 byte order mark is not part of the document.
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    if let Some((line, column)) = crate::yaml_depth::first_past(yaml, MAX_TEMPLATE_DEPTH) {
        return Err(one(ctx.err(format!(
            "lists and mappings are nested more than {MAX_TEMPLATE_DEPTH} levels deep \
             (at line {line} column {column}); a template may nest them at most \
             {MAX_TEMPLATE_DEPTH} levels deep"
        ))));
    }
    let mut doc: Value =
        serde_yaml::from_str(yaml).map_err(|e| one(ctx.err(format!("invalid YAML: {e}"))))?;
    doc.apply_merge()
        .map_err(|e| one(ctx.err(format!("invalid YAML merge key: {e}"))))?;
    let map = match &doc {
        Value::Mapping(map) => map,
        Value::Null => return Err(one(ctx.err("the template is empty"))),
        other => {
            return Err(one(ctx.err(format!(
                "expected a mapping of template fields, got {}",
                describe(other)
            ))))
        }
    };
    let mut p = Problems::default();
    p.0.extend(unknown_keys(
        &ctx,
        map,
        TOP_KEYS,
        &[TOP_IGNORED, TOP_TASKER_CORE_IGNORED].concat(),
    ));
    note_ignored(&ctx, map, TOP_TASKER_CORE_IGNORED, &mut p.1);
    let overridden;
    let map = match env.map(|env| apply_environment(&ctx, map, env)) {
        Some(Ok(m)) => {
            overridden = m;
            &overridden
        }
        Some(Err(e)) => {
            p.push(e);
            map
        }
        None => map,
    };
    let name = p.keep(required_str(&ctx, map, "name", 255));
    let namespace_name = p.keep(required_str(&ctx, map, "namespace_name", 255));
    let version = p.keep(required_str(&ctx, map, "version", 50));
    let description = p
        .keep(opt_str(&ctx, map, "description"))
        .flatten()
        .map(str::to_string);
    let identity_strategy = p
        .keep(opt_str(&ctx, map, "identity_strategy"))
        .flatten()
        .and_then(|s| {
            p.keep(lookup(IDENTITY_STRATEGIES, s).ok_or_else(|| {
                ctx.field_err(
                    "identity_strategy",
                    format!(
                        "must be one of {}, got '{}'",
                        names(IDENTITY_STRATEGIES),
                        echo(s)
                    ),
                )
            }))
        })
        .unwrap_or_default();
    let lifecycle = match get(map, "lifecycle") {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => {
            let l = parse_lifecycle(&ctx.nested("lifecycle."), m, &mut p.1);
            p.keep(l).filter(|l| *l != Lifecycle::default())
        }
        Some(other) => {
            p.push(ctx.field_err(
                "lifecycle",
                format!("expected a mapping of limits, got {}", describe(other)),
            ));
            None
        }
    };
    let raw_steps = match get(map, "steps") {
        None => Some(&[][..]),
        Some(Value::Sequence(seq)) => Some(&seq[..]),
        Some(other) => {
            p.push(ctx.field_err(
                "steps",
                format!("expected a list of steps, got {}", describe(other)),
            ));
            None
        }
    };
    let mut parsed = Vec::new();
    let mut all_named = true;
    if let Some(raw_steps) = raw_steps {
        if raw_steps.is_empty() {
            p.push(ctx.err("template has no steps"));
        }
        for (i, v) in raw_steps.iter().enumerate() {
            match parse_step(source, i, v, &mut p) {
                Some(step) => parsed.push(step),
                None => all_named = false,
            }
        }
    }
    validate_dependencies(source, &parsed, all_named, &mut p);
    let Problems(errors, notes) = p;
    match (name, namespace_name, version) {
        (Some(name), Some(namespace_name), Some(version)) if errors.is_empty() => {
            Ok(TaskTemplate {
                name,
                namespace_name,
                version,
                description,
                steps: parsed.into_iter().map(|p| p.step).collect(),
                identity_strategy,
                lifecycle,
                source: source.to_string(),
                notices: notes.into_notices(source),
            })
        }
        _ => Err(errors),
    }
}

/// A step as parsed, plus the key its dependencies were given under (for messages).
pub(super) struct ParsedStep {
    pub(super) step: StepDefinition,
    pub(super) index: usize,
    pub(super) deps_key: &'static str,
}

/// One step, its errors kept in `p`. `None` when its name or its dependencies could not be
/// read (the cross-step rules need both); otherwise fields that had errors hold defaults, and
/// the template is not returned anyway.
fn parse_step(source: &str, index: usize, value: &Value, p: &mut Problems) -> Option<ParsedStep> {
    let ctx = match value.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            Ctx::new(source).for_step_named(name)
        }
        _ => Ctx::new(source).for_step_at(index),
    };
    let Value::Mapping(map) = value else {
        p.push(ctx.err(format!(
            "expected a mapping of step fields, got {}",
            describe(value)
        )));
        return None;
    };
    p.0.extend(unknown_keys(
        &ctx,
        map,
        STEP_KEYS,
        &[STEP_IGNORED, STEP_TASKER_CORE_IGNORED].concat(),
    ));
    note_ignored(&ctx, map, STEP_TASKER_CORE_IGNORED, &mut p.1);
    let name = p.keep(required_str(&ctx, map, "name", 255));

    let step_type = p
        .keep(alias_key(&ctx, map, "type", "step_type"))
        .and_then(|type_key| {
            let s = p.keep(opt_str(&ctx, map, type_key))??;
            p.keep(lookup(STEP_TYPES, s).ok_or_else(|| {
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
            }))
        })
        .unwrap_or_default();

    let deps_key = p.keep(alias_key(&ctx, map, "dependencies", "depends_on"));
    let dependencies = deps_key.and_then(|deps_key| match get(map, deps_key) {
        None => Some(Vec::new()),
        Some(Value::Sequence(seq)) => p.keep(
            seq.iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ctx.field_err(
                        deps_key,
                        format!("expected step names, got {}", describe(other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>(),
        ),
        Some(other) => {
            p.push(ctx.field_err(
                deps_key,
                format!("expected a list of step names, got {}", describe(other)),
            ));
            None
        }
    });

    let is_signal = step_type == StepType::Signal;
    let is_subtask = step_type == StepType::Subtask;
    let handler = match get(map, "handler") {
        None if is_signal || is_subtask => None,
        Some(_) if is_subtask => {
            p.push(ctx.field_err(
                "handler",
                "a subtask step has no handler: it runs the child task named by 'task' and \
                 completes with its results; remove 'handler' or use another step type",
            ));
            None
        }
        None => {
            p.push(ctx.err_about("handler", "missing required field 'handler'"));
            None
        }
        Some(_) if is_signal => {
            p.push(ctx.field_err(
                "handler",
                "a signal step has no handler: it completes when a signal is sent to it \
                 (client.sendSignal); remove 'handler' or use another step type",
            ));
            None
        }
        Some(Value::Mapping(h)) => p.keep(parse_handler(&ctx.nested("handler."), h)),
        Some(other) => {
            p.push(ctx.field_err(
                "handler",
                format!(
                    "expected a mapping with 'callable', got {}",
                    describe(other)
                ),
            ));
            None
        }
    };

    let retry = match get(map, "retry") {
        None => None,
        Some(Value::Mapping(r)) => {
            let r = parse_retry(&ctx.nested("retry."), r, &mut p.1);
            p.keep(r)
        }
        Some(other) => {
            p.push(ctx.field_err(
                "retry",
                format!("expected a mapping, got {}", describe(other)),
            ));
            None
        }
    };

    let timeout_seconds = match get(map, "timeout_seconds") {
        None => None,
        Some(_) if is_subtask => {
            p.push(ctx.field_err(
                "timeout_seconds",
                "a subtask step has no timeout of its own: its child task's steps have theirs",
            ));
            None
        }
        Some(Value::Number(n)) => {
            let t = n.as_f64().unwrap_or(f64::NAN);
            // A signal may take days (a person's approval); an attempt of a handler may not.
            let (max, what) = if is_signal {
                (MAX_SIGNAL_TIMEOUT_SECONDS, " for a signal step (30 days)")
            } else {
                (MAX_TIMEOUT_SECONDS, "")
            };
            // Written so that NaN fails too.
            if t > 0.0 && t <= max {
                Some(t)
            } else {
                p.push(ctx.field_err(
                    "timeout_seconds",
                    format!("must be > 0 and <= {max}{what}, got {n}"),
                ));
                None
            }
        }
        Some(other) => {
            p.push(ctx.field_err(
                "timeout_seconds",
                format!("expected a number of seconds, got {}", describe(other)),
            ));
            None
        }
    };

    // Kept as given (its fields are read by batch processing), but it must be a mapping.
    let batch_config = match get(map, "batch_config") {
        None => None,
        Some(v @ Value::Mapping(_)) => p.keep(to_json(&ctx, "batch_config", v)),
        Some(other) => {
            p.push(ctx.field_err(
                "batch_config",
                format!("expected a mapping, got {}", describe(other)),
            ));
            None
        }
    };
    let on_timeout_result = match get(map, "on_timeout") {
        None => None,
        Some(_) if !is_signal => {
            p.push(ctx.field_err(
                "on_timeout",
                "only a signal step (type: signal) has an on_timeout",
            ));
            None
        }
        Some(Value::Mapping(_)) if get(map, "timeout_seconds").is_none() => {
            p.push(ctx.field_err(
                "on_timeout",
                "needs 'timeout_seconds': without a timeout the step waits for its signal for ever",
            ));
            None
        }
        Some(Value::Mapping(m)) => p.keep(parse_on_timeout(&ctx.nested("on_timeout."), m)),
        Some(other) => {
            p.push(ctx.field_err(
                "on_timeout",
                format!("expected a mapping with 'result', got {}", describe(other)),
            ));
            None
        }
    };
    let limits = p
        .keep(parse_limits(&ctx, map, is_signal || is_subtask))
        .flatten();
    let subtask = p.keep(parse_subtask(&ctx, map, is_subtask)).flatten();
    let description = p
        .keep(opt_str(&ctx, map, "description"))
        .flatten()
        .map(str::to_string);

    Some(ParsedStep {
        step: StepDefinition {
            name: name?,
            description,
            handler: handler.unwrap_or_else(|| HandlerSpec {
                callable: String::new(),
                method: None,
                resolver: None,
                initialization: empty_object(),
            }),
            step_type,
            dependencies: dependencies?,
            retry: retry.unwrap_or_default(),
            timeout_seconds,
            batch_config,
            on_timeout_result,
            limits,
            subtask,
        },
        index,
        deps_key: deps_key?,
    })
}

/// `task: { namespace, name, version }` and `context:` of a subtask step (both refused on any
/// other step).
fn parse_subtask(
    ctx: &Ctx,
    map: &Mapping,
    is_subtask: bool,
) -> Result<Option<SubtaskSpec>, TemplateError> {
    if !is_subtask {
        for field in ["task", "context"] {
            if get(map, field).is_some() {
                return Err(ctx.field_err(
                    field,
                    format!("only a subtask step (type: subtask) has a '{field}'"),
                ));
            }
        }
        return Ok(None);
    }
    let task = match get(map, "task") {
        None => {
            return Err(ctx.err_about(
                "task",
                "missing required field 'task': a subtask step names the template of its \
                 child task as task: { namespace, name, version }",
            ))
        }
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            return Err(ctx.field_err(
                "task",
                format!(
                    "expected a mapping with 'namespace', 'name' and 'version', got {}",
                    describe(other)
                ),
            ))
        }
    };
    let tctx = ctx.nested("task.");
    check_keys(&tctx, task, SUBTASK_KEYS, &[])?;
    let namespace = required_str(&tctx, task, "namespace", 255)?;
    let name = required_str(&tctx, task, "name", 255)?;
    let version = required_str(&tctx, task, "version", 50)?;
    let context = match opt_str(ctx, map, "context")? {
        None => ChildContext::default(),
        Some(s) => lookup(CHILD_CONTEXTS, s).ok_or_else(|| {
            ctx.field_err(
                "context",
                format!(
                    "must be one of {}, got '{}'",
                    names(CHILD_CONTEXTS),
                    echo(s)
                ),
            )
        })?,
    };
    Ok(Some(SubtaskSpec {
        namespace,
        name,
        version,
        context,
    }))
}

/// `on_timeout: { result: {…} }` of a signal step: the result it completes with when its
/// timeout passes.
fn parse_on_timeout(ctx: &Ctx, map: &Mapping) -> Result<serde_json::Value, TemplateError> {
    check_keys(ctx, map, ON_TIMEOUT_KEYS, &[])?;
    let result = match map.get("result") {
        None => return Err(ctx.err_about("result", "missing required field 'on_timeout.result'")),
        Some(v @ Value::Mapping(_)) => to_json(ctx, "result", v)?,
        Some(other) => {
            return Err(ctx.field_err(
                "result",
                format!(
                    "expected a mapping (the step's result), got {}",
                    describe(other)
                ),
            ))
        }
    };
    Ok(result)
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

/// Largest accepted `concurrency` and `rate_limit.burst`.
const MAX_LIMIT: u64 = 1_000_000;

/// A step's `concurrency`, `rate_limit` and `limit_key` (all optional; `limit_key` needs one
/// of the other two).
pub(super) fn parse_limits(
    ctx: &Ctx,
    map: &Mapping,
    is_signal: bool,
) -> Result<Option<StepLimits>, TemplateError> {
    let concurrency = int_in_range(ctx, map, "concurrency", 1, MAX_LIMIT)?.map(|n| n as u32);
    let rate_limit = match get(map, "rate_limit") {
        None => None,
        Some(Value::Mapping(m)) => Some(parse_rate_limit(&ctx.nested("rate_limit."), m)?),
        Some(other) => {
            return Err(ctx.field_err(
                "rate_limit",
                format!(
                    "expected a mapping with 'per_second' (and optionally 'burst'), got {}",
                    describe(other)
                ),
            ))
        }
    };
    let limit_key = match get(map, "limit_key") {
        None => None,
        Some(Value::String(s)) => {
            if let Err(problem) = check_limit_key(s) {
                return Err(ctx.field_err("limit_key", format!("{problem}, got '{}'", echo(s))));
            }
            Some(s.clone())
        }
        Some(other) => {
            return Err(ctx.field_err(
                "limit_key",
                format!(
                    "expected a string such as \"customer:{{{{customer_id}}}}\" or \"$.customer_id\", got {}",
                    describe(other)
                ),
            ))
        }
    };
    if concurrency.is_none() && rate_limit.is_none() {
        if limit_key.is_some() {
            return Err(ctx.field_err(
                "limit_key",
                "needs 'concurrency' or 'rate_limit': a key without a limit limits nothing",
            ));
        }
        return Ok(None);
    }
    if is_signal {
        let field = if concurrency.is_some() {
            "concurrency"
        } else {
            "rate_limit"
        };
        return Err(ctx.field_err(
            field,
            "a signal or subtask step runs no handler, so it has no limits",
        ));
    }
    Ok(Some(StepLimits {
        concurrency,
        rate_limit,
        limit_key,
    }))
}

fn parse_rate_limit(ctx: &Ctx, map: &Mapping) -> Result<RateLimit, TemplateError> {
    check_keys(ctx, map, RATE_LIMIT_KEYS, &[])?;
    let per_second = match get(map, "per_second") {
        None => {
            return Err(ctx.err_about(
                "per_second",
                "missing required field 'rate_limit.per_second'",
            ))
        }
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if v > 0.0 && v <= MAX_LIMIT as f64 {
                v
            } else {
                return Err(ctx.field_err(
                    "per_second",
                    format!("must be > 0 and <= {MAX_LIMIT}, got {n}"),
                ));
            }
        }
        Some(other) => {
            return Err(ctx.field_err(
                "per_second",
                format!(
                    "expected a number of starts per second, got {}",
                    describe(other)
                ),
            ))
        }
    };
    let burst = match int_in_range(ctx, map, "burst", 1, MAX_LIMIT)? {
        Some(b) => b as u32,
        None => per_second.ceil() as u32,
    };
    Ok(RateLimit { per_second, burst })
}

/// Missing keys take the defaults of [`RetryConfig::default`], except that `retryable: false`
/// means one attempt. tasker-core's spellings (`limit`, `initial_delay`, `max_delay`) are read
/// under our names, and `max_attempts: 0` means one attempt, each with a notice.
fn parse_retry(ctx: &Ctx, map: &Mapping, notes: &mut Notes) -> Result<RetryConfig, TemplateError> {
    check_keys(ctx, map, RETRY_KEYS, RETRY_TASKER_CORE)?;
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
    let attempts = read_attempts(ctx, map, notes)?;
    let backoff = match opt_str(ctx, map, "backoff")? {
        None => defaults.backoff,
        Some(s) => lookup(BACKOFF_KINDS, s).ok_or_else(|| {
            ctx.field_err(
                "backoff",
                format!("must be one of {}, got '{}'", names(BACKOFF_KINDS), echo(s)),
            )
        })?,
    };
    let base = read_millis(ctx, map, BASE_DELAY, notes)?;
    let max = read_millis(ctx, map, MAX_DELAY, notes)?;
    let backoff_base_ms = base.map_or(defaults.backoff_base_ms, |(ms, _)| ms);
    let max_backoff_ms = match max {
        Some((ms, _)) => ms,
        // tasker-core's `initial_delay` past our default cap, with no cap given: the cap is
        // that delay (tasker-core sets no cap of its own there).
        None if base
            .is_some_and(|(ms, key)| key == BASE_DELAY.seconds && ms > defaults.max_backoff_ms) =>
        {
            backoff_base_ms
        }
        None => defaults.max_backoff_ms,
    };
    if max_backoff_ms < backoff_base_ms {
        let base_key = base.map_or(BASE_DELAY.millis, |(_, key)| key);
        let (key, got) = match max {
            Some((_, key)) => (key, format!("got {}", show_delay(key, max_backoff_ms))),
            None => (
                MAX_DELAY.millis,
                format!("got the default {max_backoff_ms}; set it explicitly"),
            ),
        };
        return Err(ctx.field_err(
            key,
            format!(
                "must be >= retry.{base_key} ({}), {got}",
                show_delay(base_key, backoff_base_ms)
            ),
        ));
    }
    let max_attempts = match attempts {
        // As in tasker-core, a step that is not retryable runs once, whatever its count says.
        Some((n, key)) if !retryable && n > 1 => {
            ctx.note(notes, key, Note::NotRetryable);
            1
        }
        Some((n, _)) => n,
        None if !retryable => 1,
        None => defaults.max_attempts,
    };
    Ok(RetryConfig {
        retryable,
        max_attempts,
        backoff,
        backoff_base_ms,
        max_backoff_ms,
    })
}

/// The attempt count and the key it was read from: `max_attempts`, or tasker-core's `limit`
/// (ignored when `max_attempts` is set). `0` means one attempt, as in tasker-core, whose
/// readiness check always allows the first one.
fn read_attempts(
    ctx: &Ctx,
    map: &Mapping,
    notes: &mut Notes,
) -> Result<Option<(u32, &'static str)>, TemplateError> {
    let key = match (get(map, "max_attempts"), get(map, "limit")) {
        (Some(_), Some(_)) => {
            ctx.note(notes, "limit", Note::Shadowed("retry.max_attempts"));
            "max_attempts"
        }
        (None, Some(_)) => "limit",
        _ => "max_attempts",
    };
    // One notice per key: a zero says all there is to say.
    if matches!(get(map, key), Some(Value::Number(n)) if n.as_u64() == Some(0)) {
        ctx.note(notes, key, Note::ZeroAttempts);
        return Ok(Some((1, key)));
    }
    if key == "limit" {
        ctx.note(notes, key, Note::ReadAs("retry.max_attempts"));
    }
    Ok(int_in_range(ctx, map, key, 1, 100)?.map(|n| (n as u32, key)))
}

/// A delay setting: our key in milliseconds, and tasker-core's in seconds.
#[derive(Clone, Copy)]
struct DelayKeys {
    millis: &'static str,
    seconds: &'static str,
    /// `retry.<millis>`, for notices.
    ours: &'static str,
}

const BASE_DELAY: DelayKeys = DelayKeys {
    millis: "backoff_base_ms",
    seconds: "initial_delay",
    ours: "retry.backoff_base_ms",
};
const MAX_DELAY: DelayKeys = DelayKeys {
    millis: "max_backoff_ms",
    seconds: "max_delay",
    ours: "retry.max_backoff_ms",
};

/// A delay in milliseconds and the key it was read from: ours, or tasker-core's spelling in
/// seconds (ignored when ours is set).
fn read_millis(
    ctx: &Ctx,
    map: &Mapping,
    keys: DelayKeys,
    notes: &mut Notes,
) -> Result<Option<(u64, &'static str)>, TemplateError> {
    let seconds = get(map, keys.seconds);
    if let Some(ms) = int_in_range(ctx, map, keys.millis, 0, MAX_BACKOFF_SETTING_MS)? {
        if seconds.is_some() {
            ctx.note(notes, keys.seconds, Note::Shadowed(keys.ours));
        }
        return Ok(Some((ms, keys.millis)));
    }
    let Some(v) = seconds else {
        return Ok(None);
    };
    let max_seconds = MAX_BACKOFF_SETTING_MS / 1000;
    let (s, shown) = match v {
        Value::Number(n) => (
            n.as_f64().unwrap_or(f64::NAN),
            echo(&n.to_string()).to_string(),
        ),
        other => {
            return Err(ctx.field_err(
                keys.seconds,
                format!("expected a number of seconds, got {}", describe(other)),
            ))
        }
    };
    // NaN is in no range.
    if !(0.0..=max_seconds as f64).contains(&s) {
        return Err(ctx.field_err(
            keys.seconds,
            format!("must be between 0 and {max_seconds} seconds, got {shown}"),
        ));
    }
    ctx.note(notes, keys.seconds, Note::SecondsAs(keys.ours));
    Ok(Some(((s * 1000.0).round() as u64, keys.seconds)))
}

/// A delay as its key writes it: seconds for tasker-core's keys, milliseconds for ours.
fn show_delay(key: &str, ms: u64) -> String {
    if key == BASE_DELAY.seconds || key == MAX_DELAY.seconds {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        ms.to_string()
    }
}

/// Notices for the keys of `keys` present in `map` (keys tasker-core ignores).
fn note_ignored(ctx: &Ctx, map: &Mapping, keys: &[&str], notes: &mut Notes) {
    for key in keys {
        if map.contains_key(*key) {
            ctx.note(notes, key, Note::Ignored);
        }
    }
}
