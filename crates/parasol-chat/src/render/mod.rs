//! Markdown to safe HTML, for text from people and models alike.
//!
//! The pipeline: pulldown-cmark parses CommonMark with tables, strikethrough and task
//! lists; an event filter turns raw HTML into text, drops links to anything but `http`,
//! `https` and `mailto` addresses, turns images into links, highlights fenced code with
//! syntect and bounds nesting; pulldown-cmark writes HTML; ammonia sanitizes it against an
//! allowlist. Either the filter or the sanitizer alone should stop markup in the input;
//! both run so that a bug in one is not a hole.
//!
//! Highlighted code carries `hl-` classes; [`HIGHLIGHT_CSS`] colours them.

mod escape;
mod events;
mod highlight;
mod sanitize;

use pulldown_cmark::{Options, Parser};

use events::{Code, SafeEvents};

pub use highlight::HIGHLIGHT_CSS;

/// The `rel` every rendered link carries.
pub const LINK_REL: &str = sanitize::LINK_REL;

/// Texts longer than this many bytes are not parsed as markdown but shown whole as
/// escaped preformatted text. Parsing and sanitizing are linear on ordinary text but not
/// on every pathological one, and the store keeps no longer message anyway.
pub const MAX_MARKDOWN_BYTES: usize = crate::store::MAX_CONTENT_BYTES;

/// Renders a complete markdown text, such as a finished answer, to sanitized HTML with
/// highlighted code.
pub fn render_markdown(markdown: &str) -> String {
    render(markdown, Code::Highlighted)
}

/// Renders text that is still arriving, such as an answer mid-stream.
///
/// Any prefix of a text renders safely: an unclosed code fence runs to the end, unclosed
/// emphasis or a half-written link stays literal text. Code is shown without
/// highlighting, because this is called again on every new piece of an answer and
/// highlighting every block each time would be the bulk of the cost; the final
/// [`render_markdown`] adds the colours.
pub fn render_partial_markdown(markdown: &str) -> String {
    render(markdown, Code::Plain)
}

fn render(markdown: &str, code: Code) -> String {
    if markdown.len() > MAX_MARKDOWN_BYTES {
        return highlight::plain_code_block("", markdown);
    }
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = SafeEvents::new(Parser::new_ext(markdown, options), code);

    let mut html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    sanitize::clean(&html)
}
