//! The `rd` check: every open-redirect trick falls back to `/`.

use parasol_gate::redirect::{RedirectPolicy, StartQuery};
use url::Url;

fn policy() -> RedirectPolicy {
    let site = Url::parse("https://chat.example.com").unwrap_or_else(|e| panic!("{e}"));
    RedirectPolicy::new(
        site,
        &["docs.example.com".into(), "*.apps.example.com".into()],
    )
}

#[test]
fn open_redirect_attempts_fall_back_to_the_root() {
    let attacks = [
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "https:evil.example",
        "https:/evil.example",
        "http:evil.example",
        "https:///evil.example",
        "https://evil.example",
        "HTTPS://EVIL.EXAMPLE",
        "hTtPs://evil.example/",
        "https://chat.example.com.evil.example/",
        "https://chat.example.com@evil.example/",
        "https://user:pass@chat.example.com/",
        "https://evil.example#@chat.example.com",
        "https://evil.example\\@chat.example.com",
        "/%2F%2Fevil.example",
        "/%2f%2fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "evil.example",
        "///evil.example",
        "http://chat.example.com/",
        "https://apps.example.com/",
        "https://x.evil-apps.example.com/",
        "ftp://docs.example.com/",
        "https://docs.example.com:8443\u{0}/",
        "",
    ];
    let policy = policy();
    for attack in attacks {
        assert_eq!(policy.check(attack), None, "{attack:?} was accepted");
        assert_eq!(policy.target(Some(attack)), "/", "{attack:?}");
    }
}

#[test]
fn same_site_paths_and_listed_hosts_are_kept() {
    let policy = policy();
    let kept = [
        ("/", "/"),
        ("/threads/abc?x=1&y=2", "/threads/abc?x=1&y=2"),
        ("/a/../b", "/b"),
        ("https://chat.example.com/t", "https://chat.example.com/t"),
        (
            "https://docs.example.com/guide",
            "https://docs.example.com/guide",
        ),
        (
            "https://one.apps.example.com/",
            "https://one.apps.example.com/",
        ),
        ("https://DOCS.example.com/", "https://docs.example.com/"),
    ];
    for (rd, expected) in kept {
        assert_eq!(policy.check(rd).as_deref(), Some(expected), "{rd:?}");
    }
}

#[test]
fn an_overlong_rd_is_refused() {
    let long = format!("/{}", "a".repeat(3000));
    assert_eq!(policy().check(&long), None);
}

#[test]
fn start_query_takes_a_raw_request_uri_as_rd() {
    let query = StartQuery::parse(Some("rd=/threads?a=1&b=2"));
    assert_eq!(query.rd.as_deref(), Some("/threads?a=1&b=2"));
    assert_eq!(query.provider, None);

    let query = StartQuery::parse(Some("provider=corp&rd=%2Fthreads%3Fa%3D1"));
    assert_eq!(query.rd.as_deref(), Some("/threads?a=1"));
    assert_eq!(query.provider.as_deref(), Some("corp"));

    let query = StartQuery::parse(Some("provider=corp"));
    assert_eq!(query.rd, None);
    assert_eq!(StartQuery::parse(None), StartQuery::default());
}
