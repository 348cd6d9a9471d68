//! Reading a response body within the size cap and turning it into what the model reads.

use serde::Serialize;
use serde_json::Value;

/// How wide rendered HTML lines may run; wide, since a model does not need short lines.
const TEXT_WIDTH: usize = 120;

/// Past this depth of nested elements, HTML is not handed to the renderer, which recurses
/// over the tree and would overflow the stack on a hostile page of a million `<div>`s.
const MAX_HTML_DEPTH: usize = 256;

/// What a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Html,
    Json,
    Text,
    Binary,
}

/// How the body in the tool's output was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// HTML rendered as readable text, without scripts, styles or tags.
    HtmlText,
    /// JSON, passed through as JSON.
    Json,
    /// Text as sent.
    Text,
    /// No body (a HEAD request, or an empty response).
    Empty,
}

/// The kind a `Content-Type` announces, or `None` when it says nothing useful and the
/// bytes must be sniffed.
pub(super) fn kind_of(content_type: Option<&str>) -> Option<Kind> {
    let essence = content_type?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = essence.split_once('/')?;
    Some(match (top, sub) {
        ("text", "html") | ("application", "xhtml+xml") => Kind::Html,
        ("application", "json") => Kind::Json,
        (_, sub) if sub.ends_with("+json") => Kind::Json,
        ("text", _) => Kind::Text,
        (_, sub) if sub.ends_with("+xml") => Kind::Text,
        (
            "application",
            "xml"
            | "javascript"
            | "ecmascript"
            | "x-www-form-urlencoded"
            | "yaml"
            | "x-yaml"
            | "toml"
            | "x-ndjson"
            | "ndjson"
            | "csv",
        ) => Kind::Text,
        ("application", "octet-stream") => return None,
        _ => Kind::Binary,
    })
}

/// Guesses the kind of an unlabelled body: text if it is UTF-8 without control bytes.
pub(super) fn sniff(bytes: &[u8]) -> Kind {
    let Some(text) = utf8_prefix(bytes) else {
        return Kind::Binary;
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Kind::Binary;
    }
    let start = text.trim_start();
    let opening = start
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    if opening.starts_with("<!doctype html") || opening.starts_with("<html") {
        Kind::Html
    } else if start.starts_with('{') || start.starts_with('[') {
        Kind::Json
    } else {
        Kind::Text
    }
}

/// `bytes` as UTF-8, allowing a final character cut short (as the size cap can leave
/// it), or `None` if it is not UTF-8.
fn utf8_prefix(bytes: &[u8]) -> Option<&str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&bytes[..error.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Turns a body of a text kind into the output's body. JSON that does not parse (a body
/// cut at the cap, say) is handed over as text.
pub(super) fn render(kind: Kind, bytes: &[u8]) -> (BodyFormat, Value) {
    if bytes.is_empty() {
        return (BodyFormat::Empty, Value::Null);
    }
    let text = String::from_utf8_lossy(bytes);
    match kind {
        Kind::Json => match serde_json::from_str::<Value>(&text) {
            Ok(json) => (BodyFormat::Json, json),
            Err(_) => (BodyFormat::Text, Value::String(text.into_owned())),
        },
        Kind::Html => (BodyFormat::HtmlText, Value::String(html_to_text(&text))),
        Kind::Text | Kind::Binary => (BodyFormat::Text, Value::String(text.into_owned())),
    }
}

/// Renders HTML as plain text: headings, paragraphs, lists and tables laid out, links as
/// numbered references, scripts and styles dropped.
pub(super) fn html_to_text(html: &str) -> String {
    if nesting_depth(html) > MAX_HTML_DEPTH {
        return strip_tags(html);
    }
    html2text::config::plain()
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        .unwrap_or_else(|_| strip_tags(html))
}

/// Elements that never take an end tag, or whose end tag is often left out; they do not
/// count towards the depth.
const UNNESTED: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option",
];

/// The deepest nesting of elements, estimated from start and end tags without parsing.
fn nesting_depth(html: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for tag in html.split('<').skip(1) {
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let self_closing = tag.split('>').next().is_some_and(|t| t.ends_with('/'));
        if name.is_empty() || UNNESTED.contains(&name.as_str()) || self_closing {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

/// The text of HTML with every tag dropped, and scripts and styles with their content:
/// the fallback for pages too deep to render properly.
fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let after = &rest[open..];
        let lower = after
            .chars()
            .take(7)
            .collect::<String>()
            .to_ascii_lowercase();
        let end = if lower.starts_with("<script") || lower.starts_with("<style") {
            let closer = if lower.starts_with("<script") {
                "</script"
            } else {
                "</style"
            };
            find_ascii_ci(after, closer).unwrap_or(after.len())
        } else {
            0
        };
        let from_end = &after[end..];
        rest = from_end
            .find('>')
            .map_or("", |close| &from_end[close + 1..]);
    }
    text.push_str(rest);
    decode_entities(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
