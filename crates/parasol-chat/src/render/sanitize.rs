//! The last wall: an allowlist sanitizer over the HTML the markdown writer produced.
//!
//! The event filter already turned raw HTML into text, so nothing here should ever have
//! to be removed; this pass makes sure of it whatever a parser or writer bug lets
//! through. It keeps only the tags the markdown writer emits, only web and mail links,
//! and only the highlighter's own classes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

use super::highlight::CLASS_PREFIX;

/// What the markdown writer emits for the options in use, images excepted.
const TAGS: [&str; 26] = [
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Tags removed with everything inside them rather than leaving their text behind:
/// their contents are code or markup, not prose.
const CLEAN_CONTENT_TAGS: [&str; 13] = [
    "script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript",
    "textarea", "select", "xmp", "noembed",
];

/// Links are opened without handing the page to the target (`noopener`), without telling
/// it where the reader came from (`noreferrer`), and without vouching for it
/// (`nofollow`).
pub(crate) const LINK_REL: &str = "noopener noreferrer nofollow";

/// The class prefix of a fenced block's language, as CommonMark writers use it.
const LANGUAGE_PREFIX: &str = "language-";

static SANITIZER: LazyLock<Builder<'static>> = LazyLock::new(sanitizer);

/// `html` with everything outside the allowlist removed.
pub(crate) fn clean(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

fn sanitizer() -> Builder<'static> {
    let tag_attributes = HashMap::from([
        ("a", HashSet::from(["href", "title"])),
        ("ol", HashSet::from(["start"])),
        ("th", HashSet::from(["style"])),
        ("td", HashSet::from(["style"])),
        ("span", HashSet::from(["class"])),
        ("code", HashSet::from(["class"])),
        ("pre", HashSet::from(["class"])),
    ]);

    let mut builder = Builder::empty();
    builder
        .tags(HashSet::from(TAGS))
        .clean_content_tags(HashSet::from(CLEAN_CONTENT_TAGS))
        .generic_attributes(HashSet::new())
        .tag_attributes(tag_attributes)
        // Table cells carry their column's alignment as `style`; nothing else may.
        .filter_style_properties(HashSet::from(["text-align"]))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .attribute_filter(keep_own_classes);
    builder
}

/// Keeps only the classes the renderer itself writes.
///
/// The choice here was between allowing `class` through this filter and sanitizing the
/// prose first, splicing the highlighted code in afterwards. The filter wins because the
/// sanitizer then sees the final HTML, the highlighter's output included, and nothing
/// reaches the page without passing it. Classes are limited to the `hl-` and `language-`
/// prefixes because a free class would let model output borrow the page's own styles,
/// say to dress text up as a sign-in prompt or hide it.
fn keep_own_classes<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    if attribute != "class" {
        return Some(Cow::Borrowed(value));
    }
    if !matches!(element, "span" | "code" | "pre") {
        return None;
    }
    let kept: Vec<&str> = value
        .split_ascii_whitespace()
        .filter(|class| own_class(class))
        .collect();
    if kept.is_empty() {
        return None;
    }
    Some(Cow::Owned(kept.join(" ")))
}

fn own_class(class: &str) -> bool {
    (class.starts_with(CLASS_PREFIX) || class.starts_with(LANGUAGE_PREFIX))
        && class.len() <= 64
        && class
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+#.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::keep_own_classes;

    #[test]
    fn only_highlighter_and_language_classes_survive() {
        let kept = keep_own_classes("span", "class", "hl-source hidden hl-rust language-x");
        assert_eq!(kept.as_deref(), Some("hl-source hl-rust language-x"));
        assert_eq!(keep_own_classes("span", "class", "sign-in-button"), None);
        assert_eq!(keep_own_classes("a", "class", "hl-source"), None);
        assert_eq!(keep_own_classes("span", "class", "hl-\"x"), None);
    }
}
