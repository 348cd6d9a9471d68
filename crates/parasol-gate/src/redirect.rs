//! Where a browser may be sent after signing in: the `rd` parameter, checked.
//!
//! An open redirect on a sign-in service hands phishers a trusted link, so `rd` is held to
//! two shapes only: a path on this site (`/threads/1?x=y`), or an absolute http(s) URL on
//! a host the operator listed. Everything else, however a browser might read it, falls
//! back to `/`.

use url::{Position, Url};

/// The longest `rd` considered; longer ones are not worth the risk of parsing them.
const MAX_LEN: usize = 2048;

/// Checks `rd` values against the site's own origin and the configured hosts.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    site: Url,
    hosts: Vec<String>,
}

impl RedirectPolicy {
    /// A policy for the site at `site`, also allowing `hosts` (exact names, or
    /// `*.example.com` for any subdomain of example.com).
    pub fn new(site: Url, hosts: &[String]) -> Self {
        Self {
            site,
            hosts: hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
        }
    }

    /// Where to send the browser for `rd`: the value itself, normalised, when it is safe,
    /// otherwise `/`.
    pub fn target(&self, rd: Option<&str>) -> String {
        rd.and_then(|rd| self.check(rd))
            .unwrap_or_else(|| "/".to_owned())
    }

    /// The normalised target when `rd` is safe.
    pub fn check(&self, rd: &str) -> Option<String> {
        // Browsers drop tabs and newlines from URLs and read `\` as `/`, which would make
        // `/\evil.example` or `/\t/evil.example` a link to another host.
        if rd.is_empty()
            || rd.len() > MAX_LEN
            || rd
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return None;
        }
        if rd.starts_with('/') {
            self.check_path(rd)
        } else {
            self.check_absolute(rd)
        }
    }

    fn check_path(&self, rd: &str) -> Option<String> {
        let decoded = decoded_prefix(rd);
        if rd.starts_with("//")
            || decoded.starts_with("//")
            || decoded.starts_with("/\\")
            || decoded.chars().any(char::is_control)
        {
            return None;
        }
        let joined = self.site.join(rd).ok()?;
        (joined.origin() == self.site.origin()).then(|| joined[Position::BeforePath..].to_owned())
    }

    fn check_absolute(&self, rd: &str) -> Option<String> {
        // Only `scheme://host...`: forms such as `https:evil.example` resolve differently
        // depending on the page they appear on.
        let (scheme, rest) = rd.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return None;
        }
        if rest.starts_with('/') {
            return None;
        }
        let url = Url::parse(rd).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        if url.scheme() == "http" && self.site.scheme() == "https" {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let allowed = url.origin() == self.site.origin() || self.host_listed(&host);
        allowed.then(|| url.to_string())
    }

    fn host_listed(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|listed| match listed.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
                None => listed == host,
            })
    }
}

/// The first few characters of `rd` with percent-escapes undone, to catch `/%2F/evil` and
/// its mixed-case kin, which some proxies decode before the browser sees them.
fn decoded_prefix(rd: &str) -> String {
    let head: String = rd.chars().take(12).collect();
    url::form_urlencoded::parse(format!("x={head}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The query of `/oauth2/start` and `/oauth2/sign_in`, read so that `rd` may be a raw
/// request URI with a query of its own.
///
/// nginx sends the browser to `/oauth2/start?rd=$request_uri` without escaping it, so
/// `/threads?a=1&b=2` arrives as `rd=/threads?a=1&b=2`. `rd` is therefore taken to be the
/// last parameter and to run to the end of the query; other parameters come before it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StartQuery {
    /// The `rd` value, percent-decoded.
    pub rd: Option<String>,
    /// The `provider` value.
    pub provider: Option<String>,
}

impl StartQuery {
    /// Reads a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or_default();
        let (head, rd) = if let Some(rest) = raw.strip_prefix("rd=") {
            ("", Some(rest))
        } else if let Some(at) = raw.find("&rd=") {
            (&raw[..at], Some(&raw[at + 4..]))
        } else {
            (raw, None)
        };
        let provider = url::form_urlencoded::parse(head.as_bytes())
            .find(|(key, _)| key == "provider")
            .map(|(_, value)| value.into_owned());
        let rd = rd.map(|rd| {
            percent_encoding::percent_decode_str(rd)
                .decode_utf8_lossy()
                .into_owned()
        });
        Self { rd, provider }
    }
}
