//! Reading outcomes. Results are read as JSON text with serde_json's `RawValue`: only the
//! outcome's own fields are decoded, so the rest of the result (at any depth, with any string)
//! is never built. Every field of both shapes is checked for type and range here, at the step
//! that returned it; a message names the step, the field and the bad value.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::text::echo;

/// The fields of a JSON object, their values still as JSON text.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

fn fields(text: &str) -> Option<Fields<'_>> {
    serde_json::from_str(text).ok()
}

fn is_null(v: &RawValue) -> bool {
    v.get() == "null"
}

/// A JSON value as messages show it (its text, cut short when long).
pub(super) fn shown(v: &RawValue) -> String {
    echo(v.get()).into_owned()
}

/// A non-empty string (not only spaces).
pub(super) fn non_empty_string(v: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(v.get())
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A whole number, at least `min`.
fn whole_number(v: &RawValue, min: u64) -> Option<u64> {
    serde_json::from_str::<u64>(v.get())
        .ok()
        .filter(|n| *n >= min)
}

/// An outcome object being read: where it is (`decision step 'route':
/// decision_point_outcome`) and its fields.
pub(super) struct Outcome<'a> {
    pub(super) at: String,
    pub(super) fields: Fields<'a>,
}

impl<'a> Outcome<'a> {
    pub(super) fn new(at: String, raw: &'a RawValue) -> Result<Outcome<'a>, String> {
        match fields(raw.get()) {
            Some(fields) => Ok(Outcome { at, fields }),
            None => Err(format!("{at} must be an object, got {}", shown(raw))),
        }
    }

    /// `{at}.{field} {problem}`.
    pub(super) fn err(&self, field: &str, problem: impl std::fmt::Display) -> String {
        format!("{}.{field} {problem}", self.at)
    }

    /// A field that is present and not `null`.
    pub(super) fn get(&self, field: &str) -> Option<&'a RawValue> {
        self.fields.get(field).copied().filter(|v| !is_null(v))
    }

    pub(super) fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.fields.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "{} has an unknown field '{}'; its fields are {}",
                self.at,
                echo(k),
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// The outcome's tag, from `outcome_type` (seed form, `CreateSteps`) or `type` (reference
    /// form, `create_steps`), compared without case and underscores; when both are given they
    /// must agree. Returns the normalised tag, or an error naming `expected`.
    pub(super) fn kind(
        &self,
        expected: &str,
        known: &[&'static str],
    ) -> Result<&'static str, String> {
        let tag = |field: &str| -> Result<Option<(&'static str, &'a RawValue)>, String> {
            let Some(raw) = self.get(field) else {
                return Ok(None);
            };
            let normalised = serde_json::from_str::<String>(raw.get())
                .map(|s| s.to_ascii_lowercase().replace('_', ""))
                .ok();
            match known.iter().find(|k| Some(**k) == normalised.as_deref()) {
                Some(k) => Ok(Some((*k, raw))),
                None => Err(self.err(
                    field,
                    format!(
                        "is {}, an unknown outcome type; expected {expected}",
                        shown(raw)
                    ),
                )),
            }
        };
        match (tag("outcome_type")?, tag("type")?) {
            (None, None) => Err(format!(
                "{} has no outcome type; set outcome_type to {expected}",
                self.at
            )),
            (Some((a, a_raw)), Some((b, b_raw))) if a != b => Err(format!(
                "{}.type is {} but its outcome_type is {}; they must agree (set only one of them)",
                self.at,
                shown(b_raw),
                shown(a_raw),
            )),
            (Some((k, _)), _) | (None, Some((k, _))) => Ok(k),
        }
    }

    /// A field that must be a whole number of at least `min`.
    pub(super) fn whole_number(&self, field: &str, min: u64) -> Result<u64, String> {
        let raw = self.fields.get(field).copied();
        match raw {
            None => Err(self.err(
                field,
                format!("is missing; it must be a whole number >= {min}"),
            )),
            Some(raw) => whole_number(raw, min).ok_or_else(|| {
                self.err(
                    field,
                    format!("must be a whole number >= {min}, got {}", shown(raw)),
                )
            }),
        }
    }

    /// A field that must be absent, `null`, or the given empty value (`0`, `[]`).
    pub(super) fn empty(&self, field: &str, empty: &str, kind: &str) -> Result<(), String> {
        match self.get(field) {
            Some(raw) if raw.get().split_whitespace().collect::<String>() != empty => Err(self
                .err(
                    field,
                    format!("must be {empty} for {kind}, got {}", shown(raw)),
                )),
            _ => Ok(()),
        }
    }
}

/// The named outcome object of a result, or an error saying what to return instead.
pub(super) fn outcome_of<'a>(
    result: &'a str,
    step: &str,
    key: &str,
    returns: &str,
) -> Result<Outcome<'a>, String> {
    let Some(result) = fields(result) else {
        return Err(format!(
            "{step} returned a result that is not an object (no {key}); return {returns}"
        ));
    };
    let Some(raw) = result.get(key).copied().filter(|v| !is_null(v)) else {
        return Err(format!("{step} returned no {key}; return {returns}"));
    };
    Outcome::new(format!("{step}: {key}"), raw)
}
