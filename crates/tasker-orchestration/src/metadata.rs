//! Task metadata (docs/task-metadata.md): who and what a task is for. A correlation id (the
//! caller's, or a UUID v7 generated when it gives none), a parent correlation id, an initiator,
//! a source system, a reason and tags, checked here once for every caller (the client, the CLI,
//! schedules).

use tasker_domain::echo;
use tasker_store::{TaskMetadata, Uuid};

/// The longest correlation id (and parent correlation id) accepted, in characters.
pub const MAX_CORRELATION_ID_CHARS: usize = 128;
/// The longest initiator and source system accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 255;
/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The most tags a task may have.
pub const MAX_TAGS: usize = 32;
/// The longest tag accepted, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// The metadata a caller gives when it creates a task; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskMetadataInput {
    /// Generated (a UUID v7) when absent.
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    /// Repeats are dropped (the first of each is kept, in order).
    pub tags: Vec<String>,
}

/// What is wrong with a text field: `None` when it is non-empty, at most `max` characters and
/// (unless `multiline`) free of control characters; else the rest of a sentence.
fn text_problem(value: &str, max: usize, multiline: bool) -> Option<String> {
    let chars = value.chars().count();
    if value.is_empty() {
        return Some("must not be empty".to_string());
    }
    if chars > max {
        return Some(format!(
            "is {chars} characters long; at most {max} are accepted"
        ));
    }
    let bad = value
        .chars()
        .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    bad.map(|c| {
        format!(
            "must not contain control characters, got {} at character {}",
            c.escape_unicode(),
            value.chars().position(|x| x == c).unwrap_or(0) + 1
        )
    })
}

/// The metadata to store for `input`, or a message naming the field at fault (`of` ends the
/// field's name, e.g. ` of ns/flow@1.0.0`).
pub(crate) fn check_metadata(input: &TaskMetadataInput, of: &str) -> Result<TaskMetadata, String> {
    let field = |name: &str, value: &Option<String>, max: usize, multiline: bool| match value
        .as_deref()
        .and_then(|v| text_problem(v, max, multiline))
    {
        Some(problem) => Err(format!("{name}{of} {problem}")),
        None => Ok(value.clone()),
    };
    let correlation_id = field(
        "the correlationId",
        &input.correlation_id,
        MAX_CORRELATION_ID_CHARS,
        false,
    )?
    .unwrap_or_else(|| Uuid::now_v7().to_string());
    let parent_correlation_id = field(
        "the parentCorrelationId",
        &input.parent_correlation_id,
        MAX_CORRELATION_ID_CHARS,
        false,
    )?;
    let initiator = field("the initiator", &input.initiator, MAX_LABEL_CHARS, false)?;
    let source_system = field(
        "the sourceSystem",
        &input.source_system,
        MAX_LABEL_CHARS,
        false,
    )?;
    let reason = field("the reason", &input.reason, MAX_REASON_CHARS, true)?;
    let mut tags: Vec<String> = Vec::with_capacity(input.tags.len());
    for (i, tag) in input.tags.iter().enumerate() {
        if let Some(problem) = tag_problem(tag) {
            return Err(format!("tag {i}{of} {problem}"));
        }
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "the tags{of} are {} distinct tags; at most {MAX_TAGS} are accepted",
            tags.len()
        ));
    }
    Ok(TaskMetadata {
        correlation_id,
        parent_correlation_id,
        initiator,
        source_system,
        reason,
        tags,
    })
}

/// What is wrong with a tag (`None`: nothing): 1 to [`MAX_TAG_CHARS`] characters, none of them
/// whitespace or control characters.
pub(crate) fn tag_problem(tag: &str) -> Option<String> {
    if let Some(problem) = text_problem(tag, MAX_TAG_CHARS, false) {
        return Some(format!("'{}' {problem}", echo(tag)));
    }
    tag.contains(char::is_whitespace).then(|| {
        format!(
            "'{}' must not contain whitespace (use '-', '_', ':' or '.' to join words)",
            echo(tag)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_v7_correlation_id_when_absent() {
        let m = check_metadata(&TaskMetadataInput::default(), "").unwrap();
        let id = Uuid::parse_str(&m.correlation_id).unwrap();
        assert_eq!(id.get_version_num(), 7);
    }

    #[test]
    fn keeps_the_first_of_repeated_tags() {
        let m = check_metadata(
            &TaskMetadataInput {
                tags: vec!["b".into(), "a".into(), "b".into()],
                ..TaskMetadataInput::default()
            },
            "",
        )
        .unwrap();
        assert_eq!(m.tags, vec!["b", "a"]);
    }

    #[test]
    fn names_the_field_at_fault() {
        let long = "x".repeat(MAX_CORRELATION_ID_CHARS + 1);
        let e = check_metadata(
            &TaskMetadataInput {
                correlation_id: Some(long),
                ..TaskMetadataInput::default()
            },
            " of ns/f@1",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "the correlationId of ns/f@1 is 129 characters long; at most 128 are accepted"
        );
        let e = check_metadata(
            &TaskMetadataInput {
                tags: vec!["ok".into(), "two words".into()],
                ..TaskMetadataInput::default()
            },
            "",
        )
        .unwrap_err();
        assert!(
            e.starts_with("tag 1 'two words' must not contain whitespace"),
            "{e}"
        );
        let e = check_metadata(
            &TaskMetadataInput {
                reason: Some("line\nbreak is fine, a bell \u{7} is not".into()),
                ..TaskMetadataInput::default()
            },
            "",
        )
        .unwrap_err();
        assert!(
            e.starts_with("the reason must not contain control characters"),
            "{e}"
        );
    }
}
