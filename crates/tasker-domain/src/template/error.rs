//! `TemplateError`, and `Ctx`: where in a template file an error happened.

use std::fmt::Display;

use serde::Serialize;

use super::notice::{Note, Notes};
use crate::text::echo;

/// A template that could not be loaded. `Display` is the full user-facing message, e.g.
/// `templates/order.yaml: step 'charge': field 'dependencies': unknown step 'validate_x'`;
/// `file`, `step` and `field` say the same where in structured form, when known.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// The file (as it was named when loading), when the error is about one file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The step's name, or `#3` (its position) when it has no usable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The field, with its block (`retry.max_attempts`, `handler.callable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl TemplateError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
            file: None,
            step: None,
            field: None,
        }
    }

    /// An error about the file `file`; `message` already names it.
    pub(super) fn in_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        TemplateError {
            file: Some(file.into()),
            ..TemplateError::new(message)
        }
    }
}

/// Where an error happened: the file, the step (its label as messages show it, e.g.
/// `step 'charge'`, and its name or `#n`) and a field prefix for nested blocks (`handler.`,
/// `retry.`).
pub(super) struct Ctx<'a> {
    source: &'a str,
    step: Option<(String, String)>,
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

    /// Errors about the step named `name`.
    pub(super) fn for_step_named(&self, name: &str) -> Self {
        let name = echo(name);
        self.for_step(format!("step '{name}'"), name.to_string())
    }

    /// Errors about the limits given for handler `callable` (`createWorker({ limits })`).
    pub(super) fn for_handler(&self, callable: &str) -> Self {
        let name = echo(callable);
        self.for_step(format!("handler '{name}'"), name.to_string())
    }

    /// Errors about the step at `index` (0-based) that has no usable name.
    pub(super) fn for_step_at(&self, index: usize) -> Self {
        self.for_step(format!("step #{}", index + 1), format!("#{}", index + 1))
    }

    fn for_step(&self, label: String, name: String) -> Self {
        Ctx {
            source: self.source,
            step: Some((label, name)),
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
        let message = match &self.step {
            Some((label, _)) => format!("{}: {label}: {msg}", self.source),
            None => format!("{}: {msg}", self.source),
        };
        TemplateError {
            step: self.step.as_ref().map(|(_, name)| name.clone()),
            ..TemplateError::in_file(self.source, message)
        }
    }

    /// `err`, recording `key` (in this block) as the field; the message does not name it.
    pub(super) fn err_about(&self, key: &str, msg: impl Display) -> TemplateError {
        TemplateError {
            field: Some(format!("{}{key}", self.prefix)),
            ..self.err(msg)
        }
    }

    pub(super) fn field_err(&self, key: &str, msg: impl Display) -> TemplateError {
        self.err_about(key, format_args!("field '{}{key}': {msg}", self.prefix))
    }

    /// Keep a notice about `key` (in this block, of this step) in `notes`.
    pub(super) fn note(&self, notes: &mut Notes, key: &str, note: Note) {
        notes.push(
            format!("{}{key}", self.prefix),
            note,
            self.step.as_ref().map(|(_, name)| name.clone()),
        );
    }
}

/// Problems found so far in one file, and its notices.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<TemplateError>, pub(super) Notes);

impl Problems {
    pub(super) fn push(&mut self, e: TemplateError) {
        self.0.push(e);
    }

    /// The value, or `None` with the error kept.
    pub(super) fn keep<T>(&mut self, r: Result<T, TemplateError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
}
