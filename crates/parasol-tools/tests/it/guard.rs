//! The address guard on its own, without a connection: literal addresses in every
//! spelling, names, the allowlist, and the resolver's check of what names resolve to.

use std::str::FromStr;
use std::sync::Arc;

use parasol_tools::http_request::{Guard, GuardError, GuardedResolver, ResolveError, check_ip};
use reqwest::dns::{Name, Resolve};
use url::Url;

use crate::support::TableLookup;

/// Addresses that must be refused, with a word of the reason each should give.
const REFUSED_ADDRESSES: &[(&str, &str)] = &[
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.64.0.1", "carrier-grade"),
    ("100.127.255.255", "carrier-grade"),
    ("100.100.100.200", "metadata"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "IETF"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:93.184.216.34", "IPv4-mapped"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fd00:ec2::254", "metadata"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("64:ff9b::a00:1", "NAT64"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b:1::1", "NAT64"),
    ("2002:7f00:1::1", "6to4"),
    ("2002:c0a8:101::1", "6to4"),
    ("2002:a9fe:a9fe::", "6to4"),
    ("2001:db8::1", "documentation"),
    ("2001::1", "Teredo"),
    ("100::1", "discard"),
    ("3fff::1", "documentation"),
    ("4000::1", "global unicast"),
];

/// Public addresses the guard lets through (checked here only; no connection is made).
const PUBLIC_ADDRESSES: &[&str] = &[
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "169.253.255.255",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001::1",
    "64:ff9b::5db8:d822",
    "2002:5db8:d822::1",
];

#[test]
fn special_purpose_addresses_are_refused_with_their_reason() {
    for (address, word) in REFUSED_ADDRESSES {
        let error =
            check_ip(address.parse().unwrap()).expect_err(&format!("{address} should be refused"));
        assert!(
            error.reason.to_lowercase().contains(&word.to_lowercase()),
            "{address}: `{}` does not mention {word}",
            error.reason
        );
    }
}

#[test]
fn public_addresses_pass_the_guard() {
    for address in PUBLIC_ADDRESSES {
        assert_eq!(check_ip(address.parse().unwrap()), Ok(()), "{address}");
    }
}

fn check(guard: &Guard, url: &str) -> Result<(), GuardError> {
    guard.check_url(&Url::parse(url).unwrap())
}

/// URLs whose host is a refused address or name, in the spellings the URL parser
/// normalises (decimal, octal, hex, short forms) and the ones it keeps.
const REFUSED_URLS: &[&str] = &[
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://017700000001/",
    "http://0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://10.1/",
    "http://192.168.0.1:8080/",
    "https://[fe80::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://metadata/",
    "http://instance-data/",
    "http://printer.local/",
    "http://router.lan/",
    "http://nas.home.arpa/",
    "http://db.internal/",
];

#[test]
fn urls_naming_internal_hosts_are_refused_in_every_spelling() {
    let guard = Guard::default();
    for url in REFUSED_URLS {
        let result = check(&guard, url);
        assert!(
            matches!(
                result,
                Err(GuardError::Address(_) | GuardError::Name { .. })
            ),
            "{url} gave {result:?}"
        );
    }
}

#[test]
fn other_schemes_and_credentials_are_refused() {
    let guard = Guard::default();
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://example.com/",
        "data:,x",
    ] {
        assert!(
            matches!(check(&guard, url), Err(GuardError::Scheme(_))),
            "{url}"
        );
    }
    assert_eq!(
        check(&guard, "http://user:secret@example.com/"),
        Err(GuardError::Credentials)
    );
}

#[test]
fn public_hosts_pass_the_url_check() {
    let guard = Guard::default();
    for url in [
        "https://example.com/",
        "http://93.184.216.34/",
        "https://[2606:4700:4700::1111]/",
        "https://Example.COM./path?q=1",
    ] {
        assert_eq!(check(&guard, url), Ok(()), "{url}");
    }
}

#[test]
fn allowlisted_hosts_open_exactly_what_they_name() {
    let entries = [
        "Intranet.Example",
        "10.0.0.5:8080",
        "[fd00::1]",
        "127.0.0.1:80",
    ]
    .map(String::from);
    let (guard, rejected) = Guard::new(&entries);
    assert!(rejected.is_empty());

    assert_eq!(check(&guard, "http://intranet.example/"), Ok(()));
    assert_eq!(check(&guard, "https://INTRANET.example.:4443/"), Ok(()));
    assert_eq!(check(&guard, "http://10.0.0.5:8080/"), Ok(()));
    assert_eq!(check(&guard, "http://[fd00::1]:9000/"), Ok(()));
    assert_eq!(check(&guard, "http://127.0.0.1/"), Ok(()));

    // The port that is not listed, a neighbour address, and another spelling of a
    // listed host's address are all still refused.
    assert!(matches!(
        check(&guard, "http://10.0.0.5:9090/"),
        Err(GuardError::Port { .. })
    ));
    assert!(matches!(
        check(&guard, "http://127.0.0.1:81/"),
        Err(GuardError::Port { .. })
    ));
    assert!(matches!(
        check(&guard, "http://10.0.0.6:8080/"),
        Err(GuardError::Address(_))
    ));
    assert!(matches!(
        check(&guard, "http://[::ffff:10.0.0.5]:8080/"),
        Err(GuardError::Address(_))
    ));
    // A subdomain is not the allowlisted host: it passes the URL check as any public
    // name does, and what it resolves to is then checked.
    assert_eq!(check(&guard, "http://sub.intranet.example/"), Ok(()));
    assert!(guard.name_is_allowlisted("intranet.example."));
    assert!(!guard.name_is_allowlisted("sub.intranet.example"));
}

#[test]
fn allowlist_entries_that_are_not_hosts_are_reported() {
    let entries = ["http://x.example/", "a b", "host:port", "ok.example"].map(String::from);
    let (_, rejected) = Guard::new(&entries);
    assert_eq!(rejected, ["http://x.example/", "a b", "host:port"]);
}

fn resolver(guard: Guard, lookup: TableLookup) -> GuardedResolver {
    GuardedResolver::new(Arc::new(guard), Arc::new(lookup))
}

#[tokio::test]
async fn names_resolving_to_a_refused_address_are_refused() {
    let lookup = TableLookup::default()
        .with("loopback.test", &["127.0.0.1"])
        .with("mixed.test", &["93.184.216.34", "10.0.0.1"])
        .with("metadata.test", &["169.254.169.254"])
        .with("mapped.test", &["::ffff:192.168.0.1"]);
    let resolver = resolver(Guard::default(), lookup);
    for name in [
        "loopback.test",
        "mixed.test",
        "metadata.test",
        "mapped.test",
    ] {
        let result = resolver.resolve_checked(name).await;
        assert!(
            matches!(result, Err(ResolveError::Forbidden { .. })),
            "{name}: {result:?}"
        );
    }
}

#[tokio::test]
async fn localhost_resolved_by_the_system_is_refused() {
    let resolver = GuardedResolver::new(
        Arc::new(Guard::default()),
        Arc::new(parasol_tools::http_request::SystemLookup),
    );
    let result = resolver.resolve_checked("localhost").await;
    assert!(
        matches!(result, Err(ResolveError::Forbidden { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_reqwest_resolver_hands_over_only_checked_addresses() {
    let lookup = TableLookup::default()
        .with("public.test", &["93.184.216.34", "2606:4700::1"])
        .with("private.test", &["192.168.0.10"]);
    let resolver = resolver(Guard::default(), lookup);

    let addrs: Vec<_> = resolver
        .resolve(Name::from_str("public.test").unwrap())
        .await
        .unwrap()
        .collect();
    assert_eq!(addrs.len(), 2);
    assert!(addrs.iter().all(|addr| addr.port() == 0));

    let refused = resolver
        .resolve(Name::from_str("private.test").unwrap())
        .await;
    let error = refused.err().unwrap();
    assert!(error.downcast_ref::<ResolveError>().is_some(), "{error}");
}

#[tokio::test]
async fn allowlisted_names_may_resolve_to_private_addresses() {
    let lookup = TableLookup::default().with("intranet.test", &["10.1.2.3"]);
    let (guard, _) = Guard::new(&["intranet.test".to_owned()]);
    let resolver = resolver(guard, lookup);
    let addresses = resolver.resolve_checked("intranet.test").await.unwrap();
    assert_eq!(addresses, ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
}
