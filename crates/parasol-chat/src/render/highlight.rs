//! Server-side syntax highlighting of fenced code, as class-based spans, and the CSS that
//! colours those classes.

use std::sync::LazyLock;

use syntect::highlighting::ThemeSet;
use syntect::html::{ClassStyle, ClassedHTMLGenerator, css_for_theme_with_class_style};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

use super::escape::escape_html;

/// Every class the highlighter writes starts with this, so the sanitizer can tell its
/// classes from any other and the page's own CSS cannot be targeted by model output.
pub(crate) const CLASS_PREFIX: &str = "hl-";

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed {
    prefix: CLASS_PREFIX,
};

/// Code longer than this is shown plain: highlighting costs time per byte, and a model
/// can write a lot of code.
const MAX_HIGHLIGHT_BYTES: usize = 128 << 10;

/// Code with a line longer than this is shown plain, since the grammars' regular
/// expressions can take time far beyond linear on one very long line.
const MAX_HIGHLIGHT_LINE_BYTES: usize = 4096;

/// The longest language name kept from a fence's info string.
const MAX_LANGUAGE_BYTES: usize = 32;

/// The light theme, one of syntect's defaults.
const LIGHT_THEME: &str = "InspiredGitHub";

/// The dark theme, one of syntect's defaults.
const DARK_THEME: &str = "base16-ocean.dark";

// Loading the grammars takes tens of milliseconds, so it is done once, on first use.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// The stylesheet for highlighted code: the light theme, and the dark one under
/// `@media (prefers-color-scheme: dark)`. Serve it with the page, or inline it.
pub static HIGHLIGHT_CSS: LazyLock<String> = LazyLock::new(highlight_css);

fn highlight_css() -> String {
    let themes = ThemeSet::load_defaults();
    let css_for = |name: &str| {
        themes
            .themes
            .get(name)
            .and_then(|theme| css_for_theme_with_class_style(theme, CLASS_STYLE).ok())
            .unwrap_or_default()
    };
    format!(
        "{}\n@media (prefers-color-scheme: dark) {{\n{}}}\n",
        css_for(LIGHT_THEME),
        css_for(DARK_THEME)
    )
}

/// A fenced or indented code block as HTML: `<pre class="hl-code"><code>` around the
/// highlighted code for a language syntect knows, or around the escaped code otherwise.
pub(crate) fn code_block(info: &str, code: &str) -> String {
    let language = language(info);
    let body = language
        .and_then(|language| SYNTAXES.find_syntax_by_token(language))
        .filter(|_| highlightable(code))
        .and_then(|syntax| highlight(syntax, code))
        .unwrap_or_else(|| escape_html(code));
    wrap(language, &body)
}

/// A code block as [`code_block`] writes it, but escaped and never highlighted.
pub(crate) fn plain_code_block(info: &str, code: &str) -> String {
    wrap(language(info), &escape_html(code))
}

fn wrap(language: Option<&str>, body: &str) -> String {
    let mut html = String::with_capacity(body.len() + 64);
    html.push_str("<pre class=\"hl-code\"><code");
    if let Some(language) = language {
        html.push_str(" class=\"language-");
        html.push_str(language);
        html.push('"');
    }
    html.push('>');
    html.push_str(body);
    html.push_str("</code></pre>\n");
    html
}

/// The language named first in an info string such as `rust,ignore` or
/// `python {linenos}`, if it is a plain name: letters, digits and `_ + # . -` only, so it
/// is safe inside a class attribute without escaping.
fn language(info: &str) -> Option<&str> {
    let name = info
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
        .next()
        .unwrap_or_default();
    let plain = !name.is_empty()
        && name.len() <= MAX_LANGUAGE_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+#.-".contains(&b));
    plain.then_some(name)
}

fn highlightable(code: &str) -> bool {
    code.len() <= MAX_HIGHLIGHT_BYTES
        && code
            .split('\n')
            .all(|line| line.len() <= MAX_HIGHLIGHT_LINE_BYTES)
}

/// The code as class-based spans. The generator escapes the code's text itself; `None`
/// if a grammar fails, in which case the caller shows the code plain.
fn highlight(syntax: &SyntaxReference, code: &str) -> Option<String> {
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
    for line in LinesWithEndings::from(code) {
        generator
            .parse_html_for_line_which_includes_newline(line)
            .ok()?;
    }
    Some(generator.finalize())
}
