//! Hostile markdown: every row of the corpus must render to HTML that runs nothing,
//! loads nothing and links only to web and mail addresses, in both render modes.

use std::time::{Duration, Instant};

use parasol_chat::render::{MAX_MARKDOWN_BYTES, render_markdown, render_partial_markdown};

use super::html_check::{depth, problems};

/// Named attacks. A name says what the row tries, so a failure points at it.
const CORPUS: &[(&str, &str)] = &[
    ("script tag", "<script>alert(1)</script>"),
    ("script tag inline", "hello <script>alert(1)</script> world"),
    ("script tag split over lines", "<scr\nipt>alert(1)</script>"),
    ("img onerror", "<img src=x onerror=alert(1)>"),
    (
        "img onerror inline",
        "look: <img src=x onerror=alert(1)> here",
    ),
    ("svg onload", "<svg onload=alert(1)>"),
    ("svg with script", "<svg><script>alert(1)</script></svg>"),
    (
        "svg animate href",
        "<svg><a><animate attributeName=href values=javascript:alert(1) /><text>x</text></a></svg>",
    ),
    ("javascript link", "[x](javascript:alert(1))"),
    ("javascript link mixed case", "[x](JaVaScRiPt:alert(1))"),
    (
        "javascript link with tab entity",
        "[x](java&#x09;script:alert(1))",
    ),
    (
        "javascript link with newline entity",
        "[x](java&#10;script:alert(1))",
    ),
    (
        "javascript link with decimal entity",
        "[x](&#106;avascript:alert(1))",
    ),
    (
        "javascript link with hex entities",
        "[x](&#x6A;&#x61;&#x76;&#x61;script:alert(1))",
    ),
    (
        "javascript link with colon entity",
        "[x](javascript&colon;alert(1))",
    ),
    (
        "javascript link in angle brackets",
        "[x](<javascript:alert(1)>)",
    ),
    (
        "javascript link with leading space",
        "[x]( javascript:alert(1))",
    ),
    ("javascript link with nul", "[x](java\u{0}script:alert(1))"),
    (
        "javascript reference link",
        "[x][r]\n\n[r]: javascript:alert(1)",
    ),
    (
        "data link",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ),
    ("vbscript link", "[x](vbscript:msgbox(1))"),
    ("file link", "[x](file:///etc/passwd)"),
    ("protocol-relative link", "[x](//evil.example/x)"),
    ("backslash protocol-relative link", "[x](/\\evil.example/x)"),
    ("relative link", "[x](/api/threads)"),
    (
        "raw anchor with javascript",
        "<a href=\"javascript:alert(1)\">x</a>",
    ),
    (
        "raw anchor inline",
        "text <a href=\"javascript:alert(1)\">x</a> text",
    ),
    (
        "raw anchor with target",
        "<a href=\"https://ok.example\" target=_blank>x</a>",
    ),
    ("iframe", "<iframe src=\"https://evil.example\"></iframe>"),
    (
        "iframe srcdoc",
        "<iframe srcdoc=\"<script>alert(1)</script>\">",
    ),
    ("style tag", "<style>body { display: none }</style>"),
    (
        "style attribute",
        "<p style=\"position:fixed;inset:0\">x</p>",
    ),
    (
        "math mglyph style trick",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ),
    (
        "math href",
        "<math href=\"javascript:alert(1)\">click</math>",
    ),
    (
        "form",
        "<form action=\"https://evil.example\"><input name=p><button>go</button></form>",
    ),
    (
        "formaction",
        "<button formaction=javascript:alert(1)>x</button>",
    ),
    ("unclosed img", "<img src=x onerror=alert(1)"),
    ("unclosed script", "<script>alert(1)"),
    ("unclosed anchor attribute", "<a href=\"javascript:alert(1)"),
    ("unclosed tag mid-paragraph", "a <b onmouseover=alert(1) b"),
    (
        "link title breakout",
        "[x](https://ok.example \"\\\"><script>alert(1)</script>\")",
    ),
    (
        "link title breakout with single quotes",
        "[x](https://ok.example '\"><img src=x onerror=alert(1)>')",
    ),
    (
        "link title with event",
        "[x](https://ok.example \"\\\" onmouseover=\\\"alert(1)\")",
    ),
    (
        "link destination with quote",
        "[x](https://ok.example/\"onmouseover=\"alert(1))",
    ),
    (
        "code fence info breakout",
        "```\"><script>alert(1)</script>\ncode\n```",
    ),
    (
        "code fence info with event",
        "```rust\"onmouseover=alert(1)\nfn main() {}\n```",
    ),
    (
        "code fence info with class",
        "```hl-x\" class=\"sign-in\ncode\n```",
    ),
    (
        "code fence with html inside",
        "```html\n<script>alert(1)</script>\n```",
    ),
    (
        "unclosed code fence",
        "```js\n</code></pre><script>alert(1)</script>",
    ),
    ("indented code with html", "    <script>alert(1)</script>"),
    ("inline code with html", "`<script>alert(1)</script>`"),
    ("autolink javascript", "<javascript:alert(1)>"),
    (
        "autolink data",
        "<data:text/html,<script>alert(1)</script>>",
    ),
    ("autolink vbscript", "<vbscript:msgbox(1)>"),
    ("escaped entities", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    (
        "double-escaped entities",
        "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
    ),
    (
        "numeric entity tag",
        "&#60;script&#62;alert(1)&#60;/script&#62;",
    ),
    ("image with javascript", "![x](javascript:alert(1))"),
    (
        "image with data svg",
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    ),
    (
        "image with event in title",
        "![x](https://ok.example/i.png \"onerror=alert(1)\")",
    ),
    (
        "image alt breakout",
        "![\"><script>alert(1)</script>](https://ok.example/i.png)",
    ),
    (
        "image in javascript link",
        "[![x](javascript:alert(1))](javascript:alert(1))",
    ),
    (
        "image in link",
        "[![x](https://ok.example/i.png)](https://ok.example)",
    ),
    (
        "link in link",
        "[a [b](javascript:alert(1))](https://ok.example)",
    ),
    (
        "html in link text",
        "[<img src=x onerror=alert(1)>](https://ok.example)",
    ),
    ("emphasis around html", "*<img src=x onerror=alert(1)>*"),
    ("html comment", "<!-- <script>alert(1)</script> -->"),
    ("cdata", "<![CDATA[<script>alert(1)</script>]]>"),
    ("processing instruction", "<?php echo 1 ?>"),
    ("object and embed", "<object data=x></object><embed src=x>"),
    (
        "meta refresh",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    ),
    ("base tag", "<base href=\"https://evil.example/\">"),
    (
        "table cell html",
        "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    ),
    ("table alignment", "| a |\n|:-:|\n| b |"),
    ("heading html", "# <svg onload=alert(1)>"),
    ("blockquote html", "> <iframe src=x>"),
    ("list item html", "- <a href=javascript:alert(1)>x</a>"),
    ("task list html", "- [x] <script>alert(1)</script>"),
    (
        "html block with markdown inside",
        "<div onclick=\"alert(1)\">\n\n**x**\n\n</div>",
    ),
    (
        "noscript title trick",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    ),
    ("template", "<template><script>alert(1)</script></template>"),
    (
        "textarea breakout",
        "<textarea></textarea><script>alert(1)</script>",
    ),
    (
        "xmp breakout",
        "<xmp><p title=\"</xmp><img src=x onerror=alert(1)>\">",
    ),
    (
        "link with srcset-like title",
        "[x](https://ok.example 'x\" srcset=\"javascript:alert(1)')",
    ),
    (
        "mailto with javascript",
        "[x](mailto:a@b.example?body=<script>alert(1)</script>)",
    ),
    (
        "http with javascript host",
        "[x](http://javascript:alert(1))",
    ),
];

#[test]
fn the_xss_corpus_renders_to_inert_html() {
    let mut failures = Vec::new();
    for (name, input) in CORPUS {
        for (mode, html) in [
            ("full", render_markdown(input)),
            ("partial", render_partial_markdown(input)),
        ] {
            for problem in problems(&html) {
                failures.push(format!(
                    "{name} ({mode}): {problem}\n  input: {input:?}\n  html: {html:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn raw_html_is_shown_as_the_text_it_is() {
    let html = render_markdown("hello <script>alert(1)</script> and <b>bold</b>");

    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"), "{html}");
}

#[test]
fn a_link_to_a_forbidden_address_keeps_its_text_but_not_its_target() {
    for input in ["[click me](javascript:alert(1))", "[click me](/relative)"] {
        let html = render_markdown(input);

        assert!(!html.contains("<a"), "{input}: {html}");
        assert!(html.contains("click me"), "{input}: {html}");
    }
}

#[test]
fn a_javascript_autolink_stays_text() {
    let html = render_markdown("<javascript:alert(1)>");

    assert_eq!(html, "<p>javascript:alert(1)</p>\n");
}

#[test]
fn a_fence_info_string_never_reaches_an_attribute_unless_it_is_a_plain_name() {
    let html = render_markdown("```\"><script>alert(1)</script>\ncode\n```");

    assert_eq!(html, "<pre class=\"hl-code\"><code>code\n</code></pre>\n");
}

/// Inputs built to nest as deep as the parser allows.
fn deep_inputs() -> Vec<(&'static str, String)> {
    const N: usize = 50_000;
    vec![
        ("blockquotes", format!("{} deep", ">".repeat(N))),
        ("list items", format!("{}deep", "- ".repeat(N))),
        ("ordered list items", format!("{}deep", "1. ".repeat(N / 2))),
        (
            "emphasis",
            format!("{}deep{}", "*".repeat(N), "*".repeat(N)),
        ),
        (
            "strong and emphasis",
            format!("{}deep{}", "**_".repeat(N / 3), "_**".repeat(N / 3)),
        ),
        (
            "brackets",
            format!(
                "{}deep{}",
                "[".repeat(N),
                "](https://a.example)".repeat(N / 10)
            ),
        ),
        ("raw html tags", "<div>".repeat(N)),
        ("blockquoted lists", "> - ".repeat(N / 2)),
        ("backticks", "`".repeat(N)),
        (
            "strikethrough",
            format!("{}deep{}", "~~".repeat(N / 2), "~~".repeat(N / 2)),
        ),
    ]
}

#[test]
fn deep_nesting_renders_shallow_html_in_bounded_time() {
    let mut failures = Vec::new();
    for (name, input) in deep_inputs() {
        let started = Instant::now();
        let html = render_markdown(&input);
        let elapsed = started.elapsed();

        // Generous for an unoptimised build on a busy machine; linear work takes a
        // fraction of this, quadratic work far more.
        if elapsed > Duration::from_secs(20) {
            failures.push(format!("{name}: took {elapsed:?}"));
        }
        let nesting = depth(&html);
        if nesting > 40 {
            failures.push(format!("{name}: elements nest {nesting} deep"));
        }
        failures.extend(problems(&html).into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn text_beyond_the_size_limit_is_shown_as_escaped_plain_text() {
    let huge = "<script>alert(1)</script> **bold** ".repeat(MAX_MARKDOWN_BYTES / 30);
    assert!(huge.len() > MAX_MARKDOWN_BYTES);

    for html in [render_markdown(&huge), render_partial_markdown(&huge)] {
        assert!(html.starts_with("<pre class=\"hl-code\"><code>&lt;script&gt;"));
        assert!(!html.contains("<strong>"));
        assert_eq!(problems(&html), Vec::<String>::new());
    }
}
