//! `TemplateError`, and `Ctx`: where in a template file an error happened.

use std::fmt::Display;

/// A template that could not be loaded. `Display` is the full user-facing message, e.g.
/// `templates/order.yaml: step 'charge': field 'dependencies': unknown step 'validate_x'`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
}

impl TemplateError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
        }
    }
}

/// Where an error happened: the file, the step (already formatted, e.g. `step 'charge'`) and a
/// field prefix for nested blocks (`handler.`, `retry.`).
pub(super) struct Ctx<'a> {
    source: &'a str,
    step: Option<String>,
    pub(super) prefix: &'static str,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(source: &'a str) -> Self {
        Ctx {
            source,
            step: None,
            prefix: "",
        }
    }

    pub(super) fn for_step(&self, label: String) -> Self {
        Ctx {
            source: self.source,
            step: Some(label),
            prefix: "",
        }
    }

    pub(super) fn nested(&self, prefix: &'static str) -> Self {
        Ctx {
            source: self.source,
            step: self.step.clone(),
            prefix,
        }
    }

    pub(super) fn err(&self, msg: impl Display) -> TemplateError {
        TemplateError::new(match &self.step {
            Some(step) => format!("{}: {step}: {msg}", self.source),
            None => format!("{}: {msg}", self.source),
        })
    }

    pub(super) fn field_err(&self, key: &str, msg: impl Display) -> TemplateError {
        self.err(format_args!("field '{}{key}': {msg}", self.prefix))
    }
}
