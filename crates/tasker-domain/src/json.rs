//! Limits on the JSON the engine accepts from handlers and callers (task contexts, step results
//! and metadata, checkpoints), checked without building the document: payloads are kept as the
//! text `JSON.stringify` produced, so any nesting up to the limit and lone surrogates (`"\ud800"`)
//! round-trip unchanged.
//!
//! What serde_json does with such text (serde_json 1.0.154, checked by the tests below):
//! `Value` and `String` reject a lone surrogate ("unexpected end of hex escape", "lone leading
//! surrogate in hex escape") and
//! stop at 128 levels ("recursion limit exceeded"); `RawValue` and `IgnoredAny` skip over
//! strings without decoding their escapes and walk nesting with a loop, so they accept both.

use serde_json::value::RawValue;

/// The most a depth limit may be set to.
pub const MAX_DEPTH_SETTING: usize = 100_000;
/// The most a size limit may be set to: 1,000,000,000 bytes, the longest value SQLite stores by
/// default (PostgreSQL's limit is 1 GiB).
pub const MAX_BYTES_SETTING: usize = 1_000_000_000;

/// Limits on JSON documents. Sizes are bytes of JSON text (UTF-8, as `JSON.stringify` wrote it);
/// depth counts nested arrays and objects (`{}` is 1 level, `{"a": [1]}` 2, a scalar 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of a task context, step result, metadata or checkpoint
    /// (`maxJsonDepth`, default 1000).
    pub max_depth: usize,
    /// Largest step result, and largest metadata or checkpoint (`maxResultBytes`, default 16 MiB).
    pub max_result_bytes: usize,
    /// Largest task context (`maxContextBytes`, default 16 MiB).
    pub max_context_bytes: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: 1000,
            max_result_bytes: 16 * 1024 * 1024,
            max_context_bytes: 16 * 1024 * 1024,
        }
    }
}

impl JsonLimits {
    /// Every limit within its range; the error names the option.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, max) in [
            ("maxJsonDepth", self.max_depth, MAX_DEPTH_SETTING),
            ("maxResultBytes", self.max_result_bytes, MAX_BYTES_SETTING),
            ("maxContextBytes", self.max_context_bytes, MAX_BYTES_SETTING),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!("{name} must be between 1 and {max}, got {value}"));
            }
        }
        Ok(())
    }
}

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonProblem {
    /// Not JSON (serde_json's description, with line and column).
    Invalid(String),
    /// Larger than the limit, in bytes.
    TooLarge { bytes: usize, limit: usize },
    /// Nested deeper than the limit.
    TooDeep { depth: usize, limit: usize },
}

/// Check JSON text against a size and a depth limit: size first (no need to read a huge
/// document), then syntax, then depth. Returns the text as a `RawValue`, for keeping it as is.
pub fn check_json(
    text: &str,
    max_bytes: usize,
    max_depth: usize,
) -> Result<&RawValue, JsonProblem> {
    if text.len() > max_bytes {
        return Err(JsonProblem::TooLarge {
            bytes: text.len(),
            limit: max_bytes,
        });
    }
    let raw =
        serde_json::from_str::<&RawValue>(text).map_err(|e| JsonProblem::Invalid(e.to_string()))?;
    let depth = json_depth(text);
    if depth > max_depth {
        return Err(JsonProblem::TooDeep {
            depth,
            limit: max_depth,
        });
    }
    Ok(raw)
}

/// How deeply valid JSON text nests arrays and objects (0 for a scalar). One pass, no recursion.
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// What kind of value valid JSON text holds: `an object`, `an array`, `a string`, `a number`,
/// `a boolean` or `null`.
pub fn json_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn what_serde_json_does_with_deep_documents_and_lone_surrogates() {
        let deep = nested(200);
        let lone = r#"{"s":"\ud800","t":"x\udc00y"}"#;
        // Value: refuses both.
        let e = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err();
        assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
        let e = serde_json::from_str::<serde_json::Value>(lone).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected end of hex escape at line 1 column 13"
        );
        let e = serde_json::from_str::<String>(r#""x\udc00y""#).unwrap_err();
        assert!(e.to_string().contains("lone leading surrogate"), "{e}");
        // RawValue: accepts both, and keeps the text as it was.
        let raw = serde_json::from_str::<&RawValue>(&deep).expect("deep raw");
        assert_eq!(raw.get(), deep);
        let raw = serde_json::from_str::<&RawValue>(lone).expect("lone raw");
        assert_eq!(raw.get(), lone);
        assert_eq!(serde_json::to_string(&raw).expect("serialize"), lone);
        // IgnoredAny: accepts both too.
        serde_json::from_str::<IgnoredAny>(&deep).expect("deep ignored");
        serde_json::from_str::<IgnoredAny>(lone).expect("lone ignored");
        // A million levels: no recursion anywhere.
        let very = nested(1_000_000);
        serde_json::from_str::<&RawValue>(&very).expect("very deep raw");
        assert_eq!(json_depth(&very), 1_000_000);
    }

    #[test]
    fn measures_depth_outside_strings() {
        for (text, depth) in [
            ("1", 0),
            ("\"[{\"", 0),
            ("{}", 1),
            (r#"{"a": [1, {"b": "]]]\"[["}]}"#, 3),
            (r#"[[], [[]], []]"#, 3),
            (r#""\\""#, 0),
        ] {
            assert_eq!(json_depth(text), depth, "{text}");
        }
    }

    #[test]
    fn checks_size_then_syntax_then_depth() {
        assert_eq!(
            check_json(&nested(10), 100, 10).map(RawValue::get),
            Ok(nested(10).as_str())
        );
        assert_eq!(
            check_json(&nested(11), 100, 10).map(RawValue::get),
            Err(JsonProblem::TooDeep {
                depth: 11,
                limit: 10
            })
        );
        assert_eq!(
            check_json(&nested(60), 100, 10).map(RawValue::get),
            Err(JsonProblem::TooLarge {
                bytes: 121,
                limit: 100
            })
        );
        assert!(matches!(
            check_json("{\"a\":", 100, 10),
            Err(JsonProblem::Invalid(e)) if e.contains("EOF while parsing")
        ));
        assert_eq!(
            check_json(r#""\ud800""#, 100, 0).map(RawValue::get),
            Ok(r#""\ud800""#)
        );
    }

    #[test]
    fn limits_are_validated_naming_the_option() {
        assert_eq!(JsonLimits::default().validate(), Ok(()));
        let bad = JsonLimits {
            max_depth: 0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate(),
            Err("maxJsonDepth must be between 1 and 100000, got 0".to_string())
        );
        let bad = JsonLimits {
            max_context_bytes: 2_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            bad.validate(),
            Err("maxContextBytes must be between 1 and 1000000000, got 2000000000".to_string())
        );
    }

    #[test]
    fn names_the_kind_of_value() {
        for (text, kind) in [
            (" {}", "an object"),
            ("[1]", "an array"),
            ("\"s\"", "a string"),
            ("-1.5", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            assert_eq!(json_kind(text), kind);
        }
    }
}
