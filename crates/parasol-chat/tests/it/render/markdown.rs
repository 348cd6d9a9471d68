//! What ordinary markdown becomes: the structure a reader expects, highlighted code, and
//! links that open safely.

use parasol_chat::render::{HIGHLIGHT_CSS, LINK_REL, render_markdown, render_partial_markdown};
use scraper::Html;

use super::html_check::{elements, problems};

fn texts(html: &str, name: &str) -> Vec<String> {
    let document = Html::parse_fragment(html);
    elements(&document, name)
        .map(|e| e.text().collect())
        .collect()
}

#[test]
fn headings_keep_their_levels() {
    let html = render_markdown("# One\n\n## Two\n\n### Three");

    assert_eq!(html, "<h1>One</h1>\n<h2>Two</h2>\n<h3>Three</h3>\n");
}

#[test]
fn lists_nest_and_ordered_lists_keep_their_start() {
    let html = render_markdown("- a\n  - b\n- c\n\n3. three\n4. four");

    let document = Html::parse_fragment(&html);
    assert_eq!(elements(&document, "ul").count(), 2);
    assert_eq!(texts(&html, "li").len(), 5);
    let ol = elements(&document, "ol").next().unwrap();
    assert_eq!(ol.value().attr("start"), Some("3"));
    assert!(problems(&html).is_empty(), "{html}");
}

#[test]
fn tables_have_header_cells_and_keep_alignment() {
    let html = render_markdown("| City | °C |\n|:-----|---:|\n| Oslo | 4 |\n| Bergen | 7 |");

    assert_eq!(texts(&html, "th"), ["City", "°C"]);
    assert_eq!(texts(&html, "td"), ["Oslo", "4", "Bergen", "7"]);
    let document = Html::parse_fragment(&html);
    let right = elements(&document, "td").nth(1).unwrap();
    assert_eq!(right.value().attr("style"), Some("text-align:right"));
    assert!(problems(&html).is_empty(), "{html}");
}

#[test]
fn fenced_code_in_a_known_language_is_highlighted_with_prefixed_classes() {
    let html = render_markdown("```rust\nfn main() {\n    let x = \"<hi>\";\n}\n```");

    let document = Html::parse_fragment(&html);
    let pre = elements(&document, "pre").next().unwrap();
    assert_eq!(pre.value().attr("class"), Some("hl-code"));
    let code = elements(&document, "code").next().unwrap();
    assert_eq!(code.value().attr("class"), Some("language-rust"));
    let spans: Vec<_> = elements(&document, "span").collect();
    assert!(!spans.is_empty(), "{html}");
    assert!(spans.iter().any(|s| {
        s.value()
            .attr("class")
            .is_some_and(|c| c.contains("hl-keyword"))
    }));
    assert_eq!(
        code.text().collect::<String>(),
        "fn main() {\n    let x = \"<hi>\";\n}\n"
    );
    assert!(problems(&html).is_empty(), "{html}");
}

#[test]
fn code_in_an_unknown_language_is_plain_escaped_text() {
    let html = render_markdown("```klingon\n<qapla'> & more\n```");

    assert_eq!(
        html,
        "<pre class=\"hl-code\"><code class=\"language-klingon\">&lt;qapla'&gt; &amp; more\n</code></pre>\n"
    );
}

#[test]
fn inline_code_is_escaped_code() {
    let html = render_markdown("Run `cargo test --all <x>` now.");

    assert_eq!(
        html,
        "<p>Run <code>cargo test --all &lt;x&gt;</code> now.</p>\n"
    );
}

#[test]
fn links_keep_target_and_title_and_gain_rel() {
    let html = render_markdown(
        "See [the forecast](https://open-meteo.com/en/docs \"Open-Meteo\") or <https://example.com> or <ada@example.com>.",
    );

    let document = Html::parse_fragment(&html);
    let links: Vec<_> = elements(&document, "a").collect();
    let hrefs: Vec<_> = links
        .iter()
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(
        hrefs,
        [
            "https://open-meteo.com/en/docs",
            "https://example.com",
            "mailto:ada@example.com"
        ]
    );
    assert_eq!(links[0].value().attr("title"), Some("Open-Meteo"));
    assert!(
        links
            .iter()
            .all(|a| a.value().attr("rel") == Some(LINK_REL))
    );
}

#[test]
fn images_become_links_that_fetch_nothing() {
    let html = render_markdown(
        "![a chart](https://example.com/chart.png) and ![](https://example.com/x.png)",
    );

    let document = Html::parse_fragment(&html);
    assert_eq!(elements(&document, "img").count(), 0);
    let links: Vec<_> = elements(&document, "a")
        .map(|a| {
            (
                a.value().attr("href").unwrap().to_owned(),
                a.text().collect::<String>(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            (
                "https://example.com/chart.png".to_owned(),
                "a chart".to_owned()
            ),
            (
                "https://example.com/x.png".to_owned(),
                "https://example.com/x.png".to_owned()
            ),
        ]
    );
    assert!(problems(&html).is_empty(), "{html}");
}

#[test]
fn emphasis_strikethrough_and_task_lists_render() {
    let html = render_markdown("*a* **b** ~~c~~\n\n- [x] done\n- [ ] open");

    assert_eq!(texts(&html, "em"), ["a"]);
    assert_eq!(texts(&html, "strong"), ["b"]);
    assert_eq!(texts(&html, "del"), ["c"]);
    assert_eq!(texts(&html, "li"), ["☑ done", "☐ open"]);
}

#[test]
fn the_highlight_css_covers_light_and_dark_and_the_classes_used() {
    let css = HIGHLIGHT_CSS.as_str();

    assert!(css.contains(".hl-code {"), "{css}");
    let (light, dark) = css
        .split_once("@media (prefers-color-scheme: dark)")
        .unwrap();
    assert!(light.contains(".hl-keyword"));
    assert!(dark.contains(".hl-code {"));
    assert!(dark.contains(".hl-keyword"));
}

#[test]
fn partial_text_with_an_open_fence_renders_the_code_so_far_plainly() {
    let html = render_partial_markdown("Here:\n\n```python\ndef f(x):\n    return x <");

    assert_eq!(
        html,
        "<p>Here:</p>\n<pre class=\"hl-code\"><code class=\"language-python\">def f(x):\n    return x &lt;</code></pre>\n"
    );
}

#[test]
fn partial_text_with_half_written_markup_stays_literal() {
    assert_eq!(
        render_partial_markdown("some **bold"),
        "<p>some **bold</p>\n"
    );
    assert_eq!(
        render_partial_markdown("a [link](https://exa"),
        "<p>a [link](https://exa</p>\n"
    );
    assert_eq!(
        render_partial_markdown("| a | b |\n|--"),
        "<p>| a | b |\n|--</p>\n"
    );
}

#[test]
fn every_prefix_of_a_hostile_answer_renders_safely() {
    let answer = "# Plan\n\nSee [x](https://ok.example \"t\") and <img src=x onerror=alert(1)>.\n\n\
        ```rust\nfn main() { println!(\"<script>\"); }\n```\n\n| a | b |\n|---|:-:|\n| <svg> | [y](javascript:alert(1)) |\n\n\
        - [ ] task <iframe>\n> quote ![i](https://ok.example/i.png)\n";

    for (end, _) in answer.char_indices() {
        let prefix = &answer[..end];
        for html in [render_partial_markdown(prefix), render_markdown(prefix)] {
            let found = problems(&html);
            assert!(found.is_empty(), "prefix {prefix:?}: {found:?}\n{html}");
        }
    }
}

#[test]
fn a_finished_text_without_code_renders_the_same_in_both_modes() {
    let text = "# Title\n\nSome *text* with a [link](https://example.com).\n\n- one\n- two";

    assert_eq!(render_markdown(text), render_partial_markdown(text));
}
