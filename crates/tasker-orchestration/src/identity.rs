//! Task identity (docs/identity.md): which creates are the same task. A template's
//! `identity_strategy` decides: `always_unique` (the default: every create is a new task, unless
//! it has an idempotency key), `strict` (the same template and the same context are the same
//! task: a hash of both dedupes, unless an idempotency key is given, which then does) and
//! `caller_provided` (an idempotency key is required). What a duplicate create gets is the
//! caller's choice: the existing task (`return`, the default) or an error (`error`).

use sha2::{Digest, Sha256};
use tasker_store::TemplateKey;

use crate::EngineError;

/// What a create that duplicates an existing task gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnDuplicate {
    /// The existing task, as it is now.
    #[default]
    Return,
    /// A `DUPLICATE_TASK` error naming the existing task.
    Error,
}

impl OnDuplicate {
    /// `return` or `error`, as callers spell it.
    pub fn parse(s: &str) -> Result<OnDuplicate, EngineError> {
        match s {
            "return" => Ok(OnDuplicate::Return),
            "error" => Ok(OnDuplicate::Error),
            other => Err(EngineError::InvalidArgument(format!(
                "onDuplicate must be 'return' or 'error', got '{}'",
                tasker_domain::echo(other)
            ))),
        }
    }
}

/// The identity hash of a task of template `key` with `context` (JSON text of an object): the
/// sha256, in hex, of the RFC 8785 canonical JSON of `[namespace, name, version, context]`, so
/// that key order and number spelling do not matter (`{"a":1,"b":2}` and `{"b":2.0,"a":1}` are
/// the same context).
pub(crate) fn identity_hash(key: &TemplateKey, context: &str) -> Result<String, EngineError> {
    let context: serde_json::Value = serde_json::from_str(context).map_err(|e| {
        EngineError::InvalidArgument(format!("the task context is not valid JSON: {e}"))
    })?;
    let canonical = serde_jcs::to_string(&serde_json::json!([
        key.namespace,
        key.name,
        key.version,
        context
    ]))
    .map_err(|e| EngineError::Internal(format!("canonicalizing a task context: {e}")))?;
    let digest = Sha256::digest(canonical.as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str) -> TemplateKey {
        TemplateKey {
            namespace: "ns".into(),
            name: "flow".into(),
            version: version.into(),
        }
    }

    #[test]
    fn key_order_whitespace_and_number_spelling_do_not_matter() {
        let a = identity_hash(&key("1"), r#"{"a":1,"b":{"x":[1,2],"y":"é"}}"#).unwrap();
        let b = identity_hash(
            &key("1"),
            r#"{ "b": {"y":"\u00e9", "x":[1.0, 2]}, "a": 1e0 }"#,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn on_duplicate_is_return_or_error() {
        assert_eq!(OnDuplicate::parse("return").unwrap(), OnDuplicate::Return);
        assert_eq!(OnDuplicate::parse("error").unwrap(), OnDuplicate::Error);
        assert_eq!(
            OnDuplicate::parse("fail").unwrap_err().to_string(),
            "onDuplicate must be 'return' or 'error', got 'fail'"
        );
    }

    #[test]
    fn the_template_and_every_value_matter() {
        let a = identity_hash(&key("1"), r#"{"a":1}"#).unwrap();
        assert_ne!(a, identity_hash(&key("2"), r#"{"a":1}"#).unwrap());
        assert_ne!(a, identity_hash(&key("1"), r#"{"a":2}"#).unwrap());
        assert_ne!(a, identity_hash(&key("1"), r#"{"a":"1"}"#).unwrap());
        assert_ne!(a, identity_hash(&key("1"), r#"{"a":1,"b":null}"#).unwrap());
    }
}
