//! Limits on templates: sizes, nesting and the ranges of settings.

use super::error::{Ctx, TemplateError};

/// Largest accepted `retry.backoff_base_ms` / `retry.max_backoff_ms` (one hour).
pub const MAX_BACKOFF_SETTING_MS: u64 = 3_600_000;
/// Largest accepted `timeout_seconds` (one day).
pub const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;
/// Largest accepted `timeout_seconds` of a signal step (30 days).
pub const MAX_SIGNAL_TIMEOUT_SECONDS: f64 = 2_592_000.0;
/// Largest template file, in bytes (1 MiB): a larger file is rejected before it is read.
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of lists and mappings in a template (the top-level mapping is level 1; a
/// step's `handler.initialization` is level 5). Checked before the YAML is parsed, whose cost
/// grows with the square of the nesting.
pub const MAX_TEMPLATE_DEPTH: usize = 64;

pub(super) fn check_size(ctx: &Ctx, bytes: u64) -> Result<(), TemplateError> {
    if bytes > MAX_TEMPLATE_BYTES {
        return Err(ctx.err(format!(
            "the file is {bytes} bytes; a template may be at most {MAX_TEMPLATE_BYTES} bytes (1 MiB)"
        )));
    }
    Ok(())
}
