//! Sealed cookies, session lifetimes and the authorization rules.

use std::time::Duration;

use parasol_gate::authz::Rules;
use parasol_gate::config::AllowConfig;
use parasol_gate::seal::Sealer;
use parasol_gate::secret;
use parasol_gate::session::{Expiry, Lifetimes, Session};
use parasol_identity::Identity;
use secrecy::SecretString;

fn sealer(key: &str) -> Sealer {
    let secret = secret::load_or_create(
        Some(&SecretString::from(key.to_owned())),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap();
    Sealer::new(&secret)
}

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789";

#[test]
fn a_sealed_value_opens_only_with_its_key_and_name() {
    let sealer = sealer(KEY);
    let sealed = sealer.seal("session", "hello");
    assert!(!sealed.contains("hello"));
    assert_eq!(sealer.open("session", &sealed).as_deref(), Some("hello"));
    assert_eq!(sealer.open("session_flow", &sealed), None);
    let other = self::sealer("another key of at least thirty-two bytes!!");
    assert_eq!(other.open("session", &sealed), None);
}

#[test]
fn a_tampered_cookie_does_not_open() {
    let sealer = sealer(KEY);
    let sealed = sealer.seal("session", "{\"user\":\"alice\"}");
    let bytes = sealed.as_bytes();
    for at in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut tampered = bytes.to_vec();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(sealer.open("session", &tampered), None, "byte {at}");
    }
    assert_eq!(sealer.open("session", ""), None);
    assert_eq!(sealer.open("session", "not base64 at all!"), None);
    assert_eq!(sealer.open("session", &sealed[..sealed.len() - 4]), None);
}

#[test]
fn a_short_cookie_secret_is_refused_with_a_hint() {
    let error = secret::load_or_create(
        Some(&SecretString::from("short".to_owned())),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_err();
    assert!(error.to_string().contains("at least 32"), "{error}");
}

#[test]
fn a_generated_cookie_secret_is_kept_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/cookie-secret");
    let first = secret::load_or_create(None, &path).unwrap();
    let second = secret::load_or_create(None, &path).unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(first.expose_secret(), second.expose_secret());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

fn alice() -> Identity {
    Identity {
        subject: "local:alice".into(),
        name: "Alice".into(),
        email: Some("Alice@Example.com".into()),
        groups: vec!["staff".into()],
    }
}

#[test]
fn sessions_end_at_their_absolute_lifetime_and_when_idle() {
    let lifetimes = Lifetimes {
        absolute: Duration::from_secs(1000),
        idle: Duration::from_secs(100),
    };
    let mut session = Session::new(alice(), "local", 10_000).unwrap();
    assert_eq!(lifetimes.check(&session, 10_050), Expiry::Live);
    assert_eq!(lifetimes.check(&session, 10_100), Expiry::Idle);
    session.seen = 10_950;
    assert_eq!(lifetimes.check(&session, 10_990), Expiry::Live);
    assert_eq!(lifetimes.check(&session, 11_000), Expiry::TooOld);
    assert_eq!(lifetimes.remaining(&session, 10_990), 10);
}

#[test]
fn a_session_prints_no_tokens() {
    let mut session = Session::new(alice(), "corp", 1).unwrap();
    session.refresh_token = Some("refresh-secret".into());
    session.id_token = Some("id-token-secret".into());
    let printed = format!("{session:?}");
    assert!(!printed.contains("secret"), "{printed}");
}

#[test]
fn the_rules_allow_by_email_domain_or_group() {
    let everyone = Rules::from(&AllowConfig::default());
    assert!(everyone.allows(&alice()));

    let rule = |emails: &[&str], domains: &[&str], groups: &[&str]| {
        Rules::from(&AllowConfig {
            emails: emails.iter().map(|s| s.to_string()).collect(),
            email_domains: domains.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        })
    };
    assert!(rule(&["alice@example.com"], &[], &[]).allows(&alice()));
    assert!(rule(&[], &["example.com"], &[]).allows(&alice()));
    assert!(rule(&[], &["@EXAMPLE.com"], &[]).allows(&alice()));
    assert!(rule(&[], &[], &["staff"]).allows(&alice()));
    assert!(!rule(&["bob@example.com"], &[], &[]).allows(&alice()));
    assert!(!rule(&[], &["ample.com"], &[]).allows(&alice()));
    assert!(!rule(&[], &[], &["Staff"]).allows(&alice()));

    let mut no_email = alice();
    no_email.email = None;
    no_email.groups.clear();
    assert!(!rule(&[], &["example.com"], &[]).allows(&no_email));
}
