//! Per-handler limits given to a worker (`createWorker({ limits })`) rather than in a
//! template: the same fields as a template step's (`concurrency`, `rate_limit`, `limit_key`),
//! checked the same way, keyed by the handler's callable.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::error::{Ctx, TemplateError};
use super::fields::{check_keys, describe};
use super::model::StepLimits;
use super::parse::{parse_limits, LIMIT_KEYS};

/// Parse the JSON text of a worker's `limits` option: an object of callable → limits. `source`
/// names the option in messages (`createWorker limits: handler 'Billing.Charge': field …`).
/// A handler given no limit at all (`{}`) is an error: it limits nothing.
pub fn parse_worker_limits(
    json: &str,
    source: &str,
) -> Result<BTreeMap<String, StepLimits>, TemplateError> {
    let ctx = Ctx::new(source);
    // JSON is YAML: the template parser's readers apply unchanged.
    let value: Value = serde_yaml::from_str(json)
        .map_err(|e| ctx.err(format!("expected an object of handler → limits ({e})")))?;
    let Value::Mapping(map) = value else {
        return Err(ctx.err(format!(
            "expected an object of handler → limits, got {}",
            describe(&value)
        )));
    };
    let mut out = BTreeMap::new();
    for (callable, limits) in &map {
        let Value::String(callable) = callable else {
            return Err(ctx.err(format!("unexpected key {}", describe(callable))));
        };
        let ctx = ctx.for_handler(callable);
        let Value::Mapping(limits) = limits else {
            return Err(ctx.err(format!(
                "expected a mapping of 'concurrency', 'rate_limit' and 'limit_key', got {}",
                describe(limits)
            )));
        };
        out.insert(callable.clone(), parse_one(&ctx, limits)?);
    }
    Ok(out)
}

fn parse_one(ctx: &Ctx, map: &Mapping) -> Result<StepLimits, TemplateError> {
    check_keys(ctx, map, LIMIT_KEYS, &[])?;
    parse_limits(ctx, map, false)?.ok_or_else(|| {
        ctx.err("needs 'concurrency' or 'rate_limit': an empty limit limits nothing")
    })
}
