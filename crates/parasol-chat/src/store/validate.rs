//! The limits on what the store keeps, and the checks that enforce them.
//!
//! The chat server sets its own, smaller limits on what people send; these are the
//! ceilings that hold whatever the caller, so that no single row grows without bound.

use super::error::ValidationError;
use super::model::TokenUsage;

/// The longest thread title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest message text, in bytes.
pub const MAX_CONTENT_BYTES: usize = 1 << 20;
/// The longest rendered HTML, in bytes; rendering adds markup, so this is larger.
pub const MAX_HTML_BYTES: usize = 4 << 20;
/// The longest identity subject, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 255;
/// Display names longer than this many characters are cut.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
/// E-mail addresses longer than this many bytes are dropped: RFC 5321 allows no longer
/// path, so such a value is not an address.
pub const MAX_EMAIL_BYTES: usize = 320;
/// The longest tool name or tool call id, in bytes.
pub const MAX_TOOL_FIELD_BYTES: usize = 200;
/// The longest tool input, in bytes of JSON.
pub const MAX_STEP_INPUT_BYTES: usize = 256 << 10;
/// The longest tool output, in bytes.
pub const MAX_STEP_OUTPUT_BYTES: usize = 1 << 20;
/// Error texts longer than this many characters are cut.
pub const MAX_ERROR_CHARS: usize = 2000;
/// The largest page of threads.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// A title trimmed of surrounding whitespace, 1 to [`MAX_TITLE_CHARS`] characters.
pub(crate) fn title(title: &str) -> Result<&str, ValidationError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ValidationError::Empty { field: "title" });
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ValidationError::TooLong {
            field: "title",
            max: MAX_TITLE_CHARS,
            unit: "characters",
        });
    }
    Ok(title)
}

/// Refuses a text longer than `max` bytes.
pub(crate) fn at_most_bytes(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if text.len() > max {
        return Err(ValidationError::TooLong {
            field,
            max,
            unit: "bytes",
        });
    }
    Ok(())
}

/// Refuses an empty or blank text, or one longer than `max` bytes.
pub(crate) fn required(field: &'static str, text: &str, max: usize) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    at_most_bytes(field, text, max)
}

/// The first `max` characters of `text`.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
}

/// Checks a tool call's input: bounded, and JSON.
pub(crate) fn step_input(input_json: &str) -> Result<(), ValidationError> {
    at_most_bytes("step input", input_json, MAX_STEP_INPUT_BYTES)?;
    serde_json::from_str::<serde::de::IgnoredAny>(input_json)
        .map(|_| ())
        .map_err(|_| ValidationError::StepInput)
}

/// A page size in range, as the SQL `LIMIT` wants it.
pub(crate) fn page_limit(limit: u32) -> Result<i64, ValidationError> {
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(ValidationError::PageLimit {
            max: MAX_PAGE_LIMIT,
        });
    }
    Ok(i64::from(limit))
}

/// Token counts as the database stores them.
pub(crate) fn usage(
    usage: Option<TokenUsage>,
) -> Result<(Option<i64>, Option<i64>), ValidationError> {
    let Some(usage) = usage else {
        return Ok((None, None));
    };
    let input = i64::try_from(usage.input).map_err(|_| ValidationError::TokenCount)?;
    let output = i64::try_from(usage.output).map_err(|_| ValidationError::TokenCount)?;
    Ok((Some(input), Some(output)))
}
