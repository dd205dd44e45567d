//! `environments.<env>`: per-environment overrides of a template's steps (reference §1.1).

use serde_yaml::{Mapping, Value};

use super::error::{Ctx, TemplateError};
use super::fields::{describe, get};
use crate::text::echo;

/// The template with `environments.<env>` applied to its steps (see `parse_template_for_env`).
pub(super) fn apply_environment(
    ctx: &Ctx,
    map: &Mapping,
    env: &str,
) -> Result<Mapping, TemplateError> {
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
