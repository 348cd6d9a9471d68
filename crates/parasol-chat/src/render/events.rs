//! The markdown event filter that runs between the parser and the HTML writer: it turns
//! raw HTML into text, drops links to anything but web and mail addresses, shows images
//! as links, highlights code, and bounds nesting.

use std::collections::VecDeque;
use std::iter::Peekable;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Tag, TagEnd};

use super::highlight;

/// Tags nested deeper than this are dropped, keeping their text. Real answers nest a
/// handful of levels; a hostile one could nest thousands and make the sanitizer's and
/// the browser's trees as deep.
const MAX_DEPTH: usize = 32;

/// The only link targets kept, compared without regard to case. A prefix test on the
/// decoded destination is deliberately blunt: anything else, relative and
/// protocol-relative links included, loses its link and keeps its text.
const ALLOWED_URL_PREFIXES: [&str; 3] = ["http://", "https://", "mailto:"];

/// How code blocks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// With syntax highlighting.
    Highlighted,
    /// Escaped, without highlighting.
    Plain,
}

/// Wraps a parser's events; see the module documentation.
pub(crate) struct SafeEvents<'a, I: Iterator<Item = Event<'a>>> {
    inner: Peekable<I>,
    code: Code,
    depth: usize,
    /// For each open link or image, whether its tags were kept, so that its end is
    /// treated the same way.
    links: Vec<bool>,
    /// Events to hand out before reading the parser again.
    queued: VecDeque<Event<'a>>,
}

impl<'a, I: Iterator<Item = Event<'a>>> SafeEvents<'a, I> {
    pub(crate) fn new(inner: I, code: Code) -> Self {
        Self {
            inner: inner.peekable(),
            code,
            depth: 0,
            links: Vec::new(),
            queued: VecDeque::new(),
        }
    }

    fn filter(&mut self, event: Event<'a>) -> Option<Event<'a>> {
        match event {
            Event::Start(tag) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                self.start(tag)
            }
            Event::End(tag) => {
                let too_deep = self.depth > MAX_DEPTH;
                self.depth = self.depth.saturating_sub(1);
                if too_deep {
                    return None;
                }
                self.end(tag)
            }
            // The first wall against markup in model output: raw HTML is shown as the
            // text it is. The sanitizer after the writer is the second.
            Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
            // A checkbox would be a form control in the page; a character says the same.
            Event::TaskListMarker(done) => Some(Event::Text(if done { "☑ " } else { "☐ " }.into())),
            other => Some(other),
        }
    }

    fn start(&mut self, tag: Tag<'a>) -> Option<Event<'a>> {
        match tag {
            // Its contents become text above, and text needs a block around it.
            Tag::HtmlBlock => Some(Event::Start(Tag::Paragraph)),
            Tag::CodeBlock(kind) => Some(self.code_block(&kind)),
            Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            } => {
                // An e-mail autolink's destination is the bare address, which the parser
                // has checked; the writer puts `mailto:` in front.
                let keep = link_type == LinkType::Email || allowed_url(&dest_url);
                self.links.push(keep);
                keep.then_some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }))
            }
            Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            } => self.image_as_link(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }),
            other => Some(Event::Start(other)),
        }
    }

    fn end(&mut self, tag: TagEnd) -> Option<Event<'a>> {
        match tag {
            TagEnd::HtmlBlock => Some(Event::End(TagEnd::Paragraph)),
            TagEnd::Link | TagEnd::Image => {
                let kept = self.links.pop().unwrap_or(false);
                kept.then_some(Event::End(TagEnd::Link))
            }
            other => Some(Event::End(other)),
        }
    }

    /// An image becomes a link to it, with its alt text (or, lacking one, its address) as
    /// the link's text. An `<img>` would make every reader's browser fetch whatever
    /// address the model wrote, the moment the answer shows: a tracking pixel, or a way
    /// to carry the conversation out in a URL. A link fetches nothing until clicked.
    fn image_as_link(&mut self, link: Tag<'a>) -> Option<Event<'a>> {
        let Tag::Link { dest_url, .. } = &link else {
            return None;
        };
        // Inside a link the image would make a link in a link; its alt text is enough.
        let inside_link = self.links.iter().any(|&kept| kept);
        let keep = !inside_link && allowed_url(dest_url);
        self.links.push(keep);
        if !keep {
            return None;
        }
        if matches!(self.inner.peek(), Some(Event::End(TagEnd::Image))) {
            self.queued.push_back(Event::Text(dest_url.clone()));
        }
        Some(Event::Start(link))
    }

    /// Reads the code block's text up to its end and writes it as one piece of HTML.
    fn code_block(&mut self, kind: &CodeBlockKind<'a>) -> Event<'a> {
        let info = match kind {
            CodeBlockKind::Fenced(info) => info.as_ref(),
            CodeBlockKind::Indented => "",
        };
        let mut code = String::new();
        for event in self.inner.by_ref() {
            match event {
                Event::Text(text) => code.push_str(&text),
                Event::End(TagEnd::CodeBlock) => break,
                // A code block holds only text.
                _ => {}
            }
        }
        // The end was read here, not by `filter`.
        self.depth = self.depth.saturating_sub(1);

        let html = match self.code {
            Code::Highlighted => highlight::code_block(info, &code),
            Code::Plain => highlight::plain_code_block(info, &code),
        };
        Event::Html(CowStr::from(html))
    }
}

impl<'a, I: Iterator<Item = Event<'a>>> Iterator for SafeEvents<'a, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if let Some(event) = self.queued.pop_front() {
            return Some(event);
        }
        loop {
            let event = self.inner.next()?;
            if let Some(event) = self.filter(event) {
                return Some(event);
            }
        }
    }
}

/// Whether a link may point at `url`: web and mail addresses only.
fn allowed_url(url: &str) -> bool {
    ALLOWED_URL_PREFIXES.iter().any(|prefix| {
        url.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::allowed_url;

    #[test]
    fn only_web_and_mail_addresses_are_allowed_link_targets() {
        for url in [
            "http://a.example",
            "HTTPS://a.example/x",
            "mailto:a@b.example",
        ] {
            assert!(allowed_url(url), "{url}");
        }
        for url in [
            "javascript:alert(1)",
            "//evil.example",
            "/relative",
            "data:text/html,x",
            " https://a.example",
            "httpsé",
            "",
        ] {
            assert!(!allowed_url(url), "{url}");
        }
    }
}
