//! Repeating user-supplied values in messages without repeating all of a huge one.

use std::borrow::Cow;

/// The most characters of a user-supplied value that a message repeats.
pub const ECHO_CHARS: usize = 100;

/// `value` as a message repeats it: whole when it has at most [`ECHO_CHARS`] characters, else
/// its first [`ECHO_CHARS`] characters, an ellipsis and its length, e.g.
/// `nnnn… (1000000 characters)`. Every message that repeats a template's, a result's or a
/// caller's value goes through this.
pub fn echo(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(ECHO_CHARS) {
        None => Cow::Borrowed(value),
        Some((cut, _)) => Cow::Owned(format!(
            "{}… ({} characters)",
            &value[..cut],
            value.chars().count()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_repeated_whole_and_long_ones_cut() {
        assert_eq!(echo("charge"), "charge");
        let exact = "é".repeat(ECHO_CHARS);
        assert_eq!(echo(&exact), exact.as_str());
        let long = format!("{}xyz", "é".repeat(ECHO_CHARS));
        assert_eq!(
            echo(&long),
            format!("{}… (103 characters)", "é".repeat(ECHO_CHARS))
        );
        assert_eq!(echo(&"n".repeat(1_000_000)).chars().count(), 122);
    }
}
