//! The JSON a handler runtime receives for a claimed step (`StepPayload` in `src/native.ts`).
//!
//! Written directly into one string: the JSON the store holds (contexts, inputs, results,
//! checkpoints) was validated when it was written and is copied as it is, never parsed again.

use std::collections::BTreeMap;
use std::fmt::Write;

use tasker_store::{ClaimedRow, DependencyResult, TaskMetadata};

use crate::templates::Snapshot;

/// `"…"`, escaped as JSON.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_key(out: &mut String, key: &str) {
    push_str(out, key);
    out.push(':');
}

/// `,"correlation_id":…,"parent_correlation_id":…,"initiator":…,"source_system":…,
/// "reason":…,"tags":[…]` (absent fields as `null`).
fn push_metadata(out: &mut String, m: &TaskMetadata) {
    out.push(',');
    push_key(out, "correlation_id");
    push_str(out, &m.correlation_id);
    for (key, value) in [
        ("parent_correlation_id", &m.parent_correlation_id),
        ("initiator", &m.initiator),
        ("source_system", &m.source_system),
        ("reason", &m.reason),
    ] {
        out.push(',');
        push_key(out, key);
        match value {
            Some(v) => push_str(out, v),
            None => out.push_str("null"),
        }
    }
    out.push(',');
    push_key(out, "tags");
    out.push('[');
    for (i, tag) in m.tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, tag);
    }
    out.push(']');
}

/// The payload of one claimed step, and apart from it its dependency results (the results of
/// its completed dependencies, `dependencies`): the runtime parses those only if the handler
/// reads them.
pub(crate) fn build(
    row: &ClaimedRow,
    snapshot: &Snapshot,
    timeout_ms: u64,
    dependencies: &[&DependencyResult],
) -> (String, Option<String>) {
    let (index, def) = match snapshot.step(&row.template_step_name) {
        Some(found) => found,
        None => unreachable!("checked by the caller"),
    };
    let mut out = String::with_capacity(256 + row.context.len() + row.inputs.len());
    out.push_str("{\"task\":{");
    push_key(&mut out, "task_uuid");
    push_str(&mut out, &row.task_uuid.to_string());
    out.push(',');
    push_key(&mut out, "namespace");
    push_str(&mut out, &row.task_namespace);
    out.push(',');
    push_key(&mut out, "name");
    push_str(&mut out, &row.task_name);
    out.push(',');
    push_key(&mut out, "version");
    push_str(&mut out, &row.task_version);
    out.push(',');
    push_key(&mut out, "context");
    out.push_str(&row.context);
    push_metadata(&mut out, &row.task_metadata);
    out.push_str("},\"step\":{");
    push_key(&mut out, "step_uuid");
    push_str(&mut out, &row.step_uuid.to_string());
    out.push(',');
    push_key(&mut out, "name");
    push_str(&mut out, &row.name);
    out.push(',');
    push_key(&mut out, "template_step_name");
    push_str(&mut out, &row.template_step_name);
    out.push(',');
    push_key(&mut out, "step_type");
    push_str(&mut out, row.step_type.as_str());
    out.push(',');
    push_key(&mut out, "handler_callable");
    push_str(&mut out, &def.handler.callable);
    out.push(',');
    push_key(&mut out, "handler_initialization");
    out.push_str(&snapshot.initialization[index]);
    out.push(',');
    push_key(&mut out, "inputs");
    out.push_str(&row.inputs);
    let _ = write!(
        out,
        ",\"attempts\":{},\"max_attempts\":{},\"timeout_ms\":{timeout_ms},",
        row.attempts - 1,
        row.max_attempts
    );
    push_key(&mut out, "checkpoint");
    out.push_str(row.checkpoint.as_deref().unwrap_or("null"));
    out.push(',');
    out.push_str(&snapshot.lineage[index]);
    out.push_str("}}");
    (out, results(dependencies))
}

/// The dependency results as one JSON object keyed by step name (`None` when there are none):
/// `{ "<name>": { "step_uuid", "name", "success": true, "result" } }`.
fn results(dependencies: &[&DependencyResult]) -> Option<String> {
    if dependencies.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(
        2 + dependencies
            .iter()
            .map(|a| a.result.as_ref().map_or(4, String::len) + 96)
            .sum::<usize>(),
    );
    out.push('{');
    let by_name: BTreeMap<&str, &DependencyResult> =
        dependencies.iter().map(|a| (a.name.as_str(), *a)).collect();
    for (i, (name, a)) in by_name.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_key(&mut out, name);
        out.push('{');
        push_key(&mut out, "step_uuid");
        push_str(&mut out, &a.step_uuid.to_string());
        out.push(',');
        push_key(&mut out, "name");
        push_str(&mut out, name);
        out.push_str(",\"success\":true,");
        push_key(&mut out, "result");
        out.push_str(a.result.as_deref().unwrap_or("null"));
        out.push('}');
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{push_metadata, push_str};
    use tasker_store::TaskMetadata;

    #[test]
    fn writes_metadata_as_json() {
        let mut s = String::from("{\"a\":1");
        push_metadata(
            &mut s,
            &TaskMetadata {
                correlation_id: "c\"1".into(),
                initiator: Some("me".into()),
                tags: vec!["x".into(), "y".into()],
                ..TaskMetadata::default()
            },
        );
        s.push('}');
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "a": 1, "correlation_id": "c\"1", "parent_correlation_id": null,
                "initiator": "me", "source_system": null, "reason": null, "tags": ["x", "y"] })
        );
    }

    #[test]
    fn escapes_strings() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
