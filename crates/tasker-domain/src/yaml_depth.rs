//! How deeply a YAML document nests its lists and mappings, found without building it.
//!
//! The YAML parser's cost grows with the square of the nesting (100,000 nested `[` took it
//! minutes), so templates are checked first by walking the same parser's event stream (libyaml,
//! which serde_yaml uses) and stopping at the first collection past the limit: the check costs
//! no more than parsing a document nested exactly that deep.

use std::mem::MaybeUninit;

/// Where the first list or mapping nested deeper than `limit` starts (1-based line and column),
/// or `None` when there is none. A syntax error ends the walk with `None`: reporting it is left
/// to the real parse.
pub(crate) fn first_past(yaml: &str, limit: usize) -> Option<(u64, u64)> {
    let mut parser = Parser::new(yaml)?;
    let mut depth = 0usize;
    loop {
        let (kind, line, column) = parser.next()?;
        match kind {
            unsafe_libyaml::YAML_SEQUENCE_START_EVENT
            | unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                depth += 1;
                if depth > limit {
                    return Some((line + 1, column + 1));
                }
            }
            unsafe_libyaml::YAML_SEQUENCE_END_EVENT | unsafe_libyaml::YAML_MAPPING_END_EVENT => {
                depth = depth.saturating_sub(1);
            }
            unsafe_libyaml::YAML_STREAM_END_EVENT => return None,
            _ => {}
        }
    }
}

/// A libyaml parser over a borrowed string, freed on drop.
struct Parser<'a> {
    // Boxed: libyaml keeps pointers into its parser state, which must not move.
    sys: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    _input: &'a str,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Option<Parser<'a>> {
        let mut sys = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        // SAFETY: `yaml_parser_initialize` initialises the parser in place (it only fails when
        // out of memory, and then leaves nothing to free); the input outlives the parser, which
        // reads it through the pointer given here and never writes to it.
        unsafe {
            if unsafe_libyaml::yaml_parser_initialize(sys.as_mut_ptr()).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_encoding(
                sys.as_mut_ptr(),
                unsafe_libyaml::YAML_UTF8_ENCODING,
            );
            unsafe_libyaml::yaml_parser_set_input_string(
                sys.as_mut_ptr(),
                input.as_ptr(),
                input.len() as u64,
            );
        }
        Some(Parser { sys, _input: input })
    }

    /// The next event's type and start (0-based line and column); `None` on a syntax error
    /// (after which the parser must not be asked again).
    fn next(&mut self) -> Option<(unsafe_libyaml::yaml_event_type_t, u64, u64)> {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; a successful `yaml_parser_parse` fills
        // `event`, which is read and then freed exactly once; a failed one leaves nothing to free.
        unsafe {
            let parser = self.sys.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                return None;
            }
            let event = event.as_mut_ptr();
            let found = (
                (*event).type_,
                (*event).start_mark.line,
                (*event).start_mark.column,
            );
            unsafe_libyaml::yaml_event_delete(event);
            Some(found)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (a parser that failed to initialise is never built).
        unsafe { unsafe_libyaml::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::first_past;

    #[test]
    fn finds_the_first_collection_past_the_limit() {
        assert_eq!(first_past("a: [[1]]\n", 3), None);
        assert_eq!(first_past("a: [[1]]\n", 2), Some((1, 5)));
        assert_eq!(first_past("a:\n  b:\n    c: 1\n", 2), Some((3, 5)));
        assert_eq!(first_past(&"[".repeat(100_000), 10), Some((1, 11)));
        // Quoted brackets are text, not nesting.
        assert_eq!(first_past(&format!("a: '{}'\n", "[".repeat(1000)), 2), None);
        // Syntax errors are left to the real parse.
        assert_eq!(first_past("a: [\n", 5), None);
        assert_eq!(first_past("", 0), None);
    }
}
