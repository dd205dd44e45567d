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

/// The most bytes of a handler's stack trace that are stored with a failed step.
pub const MAX_STACK_BYTES: usize = 8 * 1024;

/// `stack` as stored: whole when it has at most `max` bytes, else its first lines that fit
/// (cut at a character boundary when one line alone is too long) and a line saying how much
/// was left out.
pub fn cap_stack(stack: &str, max: usize) -> Cow<'_, str> {
    if stack.len() <= max {
        return Cow::Borrowed(stack);
    }
    let mut cut = 0;
    for (i, _) in stack.match_indices('\n') {
        if i > max {
            break;
        }
        cut = i;
    }
    if cut == 0 {
        cut = (0..=max)
            .rev()
            .find(|&i| stack.is_char_boundary(i))
            .unwrap_or(0);
    }
    Cow::Owned(format!(
        "{}\n    … ({} more bytes of stack trace not stored)",
        &stack[..cut],
        stack.len() - cut
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_cut_at_a_line_within_the_cap() {
        assert_eq!(cap_stack("Error: x\n    at f", 100), "Error: x\n    at f");
        let lines: String = (0..100).map(|i| format!("    at frame{i:03}\n")).collect();
        let capped = cap_stack(&lines, 100);
        assert!(capped.starts_with("    at frame000\n"), "{capped}");
        let kept = capped.lines().filter(|l| l.contains("frame")).count();
        assert_eq!(kept, 6, "{capped}");
        assert!(
            capped.ends_with(&format!(
                "… ({} more bytes of stack trace not stored)",
                lines.len() - 6 * 16 + 1
            )),
            "{capped}"
        );
        let one_line = "é".repeat(100);
        let capped = cap_stack(&one_line, 51);
        assert!(capped.starts_with(&"é".repeat(25)) && !capped.starts_with(&"é".repeat(26)));
    }

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
