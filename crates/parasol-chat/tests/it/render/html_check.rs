//! Checks on rendered HTML made by parsing it, as a browser would, rather than by
//! looking for substrings.

use parasol_chat::render::LINK_REL;
use scraper::{ElementRef, Html};

/// Elements that run code, load something, take input or change how the page parses.
const FORBIDDEN: [&str; 24] = [
    "script", "iframe", "frame", "frameset", "style", "object", "embed", "svg", "math", "form",
    "input", "button", "textarea", "select", "img", "video", "audio", "source", "picture", "link",
    "meta", "base", "template", "noscript",
];

/// Everything the renderer may emit; `html` is the parser's own root for a fragment.
const ALLOWED: [&str; 27] = [
    "html",
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

/// What is wrong with `html`, if anything: one line per problem.
pub fn problems(html: &str) -> Vec<String> {
    let document = Html::parse_fragment(html);
    let mut problems = Vec::new();
    for element in document
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        let name = element.value().name();
        if FORBIDDEN.contains(&name) {
            problems.push(format!("forbidden element <{name}>"));
        } else if !ALLOWED.contains(&name) {
            problems.push(format!("unexpected element <{name}>"));
        }
        for (attribute, value) in element.value().attrs() {
            if let Some(problem) = attribute_problem(name, attribute, value) {
                problems.push(problem);
            }
        }
        if name == "a" && element.value().attr("rel") != Some(LINK_REL) {
            problems.push(format!("<a> without rel=\"{LINK_REL}\""));
        }
    }
    problems
}

fn attribute_problem(element: &str, attribute: &str, value: &str) -> Option<String> {
    let lower = attribute.to_ascii_lowercase();
    if lower.starts_with("on") {
        return Some(format!("event handler {attribute} on <{element}>"));
    }
    let allowed = match (element, lower.as_str()) {
        ("a", "href") => allowed_href(value),
        ("a", "title" | "rel") => true,
        ("ol", "start") => value.bytes().all(|b| b.is_ascii_digit()),
        ("th" | "td", "style") => value.starts_with("text-align:"),
        ("span" | "code" | "pre", "class") => value
            .split_ascii_whitespace()
            .all(|class| class.starts_with("hl-") || class.starts_with("language-")),
        _ => false,
    };
    (!allowed).then(|| format!("attribute {attribute}={value:?} on <{element}>"))
}

/// Whether a browser would follow `href` to a web or mail address only: parsed the way
/// the URL standard does, which strips tabs and newlines and decodes nothing further.
fn allowed_href(href: &str) -> bool {
    match url::Url::parse(href) {
        Ok(url) => matches!(url.scheme(), "http" | "https" | "mailto"),
        Err(_) => false,
    }
}

/// How deeply elements nest in `html`.
pub fn depth(html: &str) -> usize {
    let document = Html::parse_fragment(html);
    let mut deepest = 0;
    let mut stack = vec![(document.root_element().id(), 0_usize)];
    while let Some((id, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let Some(node) = document.tree.get(id) {
            for child in node.children() {
                if child.value().is_element() {
                    stack.push((child.id(), depth + 1));
                }
            }
        }
    }
    deepest
}

/// The elements named `name` in `html`, for positive checks.
pub fn elements<'a>(document: &'a Html, name: &'a str) -> impl Iterator<Item = ElementRef<'a>> {
    document
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(move |element| element.value().name() == name)
}
