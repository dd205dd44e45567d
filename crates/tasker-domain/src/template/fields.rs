//! Reading typed fields of a YAML mapping, with messages that name the field.

use serde_yaml::{Mapping, Value};

use super::error::{Ctx, TemplateError};
use crate::text::echo;

/// Rejects keys that are neither known nor known-and-ignored, suggesting a close known key (the
/// first such key; see `unknown_keys` for all of them).
pub(super) fn check_keys(
    ctx: &Ctx,
    map: &Mapping,
    known: &[&str],
    ignored: &[&str],
) -> Result<(), TemplateError> {
    match unknown_keys(ctx, map, known, ignored).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One error per key that is neither known nor known-and-ignored, in the mapping's order.
pub(super) fn unknown_keys(
    ctx: &Ctx,
    map: &Mapping,
    known: &[&str],
    ignored: &[&str],
) -> Vec<TemplateError> {
    let mut errors = Vec::new();
    for key in map.keys() {
        let Value::String(key) = key else {
            errors.push(ctx.err(format!("unexpected key {}", describe(key))));
            continue;
        };
        if known.contains(&key.as_str()) || ignored.contains(&key.as_str()) {
            continue;
        }
        let prefix = ctx.prefix;
        // `:name:` in YAML is the key ':name', a Ruby symbol (tasker-core rejects it too).
        if let Some(bare) = key
            .strip_prefix(':')
            .filter(|k| known.contains(k) || ignored.contains(k))
        {
            errors.push(ctx.err_about(
                &echo(key),
                format!(
                    "unknown field '{prefix}{}' (a Ruby symbol key; write '{prefix}{}')",
                    echo(key),
                    echo(bare)
                ),
            ));
            continue;
        }
        let hint = known
            .iter()
            .map(|k| (edit_distance(k, key), k))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, k)| format!(" (did you mean '{prefix}{k}'?)"))
            .unwrap_or_default();
        errors.push(ctx.err_about(
            &echo(key),
            format!("unknown field '{prefix}{}'{hint}", echo(key)),
        ));
    }
    errors
}

/// Which of two alias keys is used (`first` when neither); both at once is an error.
pub(super) fn alias_key(
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
pub(super) fn get<'v>(map: &'v Mapping, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) fn opt_str<'v>(
    ctx: &Ctx,
    map: &'v Mapping,
    key: &str,
) -> Result<Option<&'v str>, TemplateError> {
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

pub(super) fn required_str(
    ctx: &Ctx,
    map: &Mapping,
    key: &str,
    max_chars: usize,
) -> Result<String, TemplateError> {
    let Some(s) = opt_str(ctx, map, key)? else {
        return Err(ctx.err_about(key, format!("missing required field '{}{key}'", ctx.prefix)));
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

pub(super) fn int_in_range(
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

pub(super) fn to_json(ctx: &Ctx, key: &str, v: &Value) -> Result<serde_json::Value, TemplateError> {
    serde_json::to_value(v)
        .map_err(|e| ctx.field_err(key, format!("cannot be represented as JSON: {e}")))
}

pub(super) fn lookup<T: Copy>(table: &[(&str, T)], s: &str) -> Option<T> {
    table.iter().find(|(name, _)| *name == s).map(|(_, v)| *v)
}

pub(super) fn names<T>(table: &[(&str, T)]) -> String {
    table
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn describe(v: &Value) -> String {
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
