//! Identity tokens across key rotations: the new key is published at once and signs only
//! after the grace, a dropped key never signs, and the cache does not outlive a handover.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parasol_gate::tokens::Tokens;
use parasol_identity::{Clock, Identity, KeyStore};

const START: u64 = 1_800_000_000;
const GRACE: Duration = Duration::from_secs(60);

/// A clock the test moves by hand.
#[derive(Debug)]
struct HandClock(AtomicU64);

impl HandClock {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for HandClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

fn tokens(dir: &Path) -> (Tokens, Arc<HandClock>) {
    let clock = Arc::new(HandClock(AtomicU64::new(START)));
    let tokens = Tokens::open(
        dir,
        "https://chat.example".into(),
        "parasol-chat".into(),
        Duration::from_secs(300),
        GRACE,
        clock.clone(),
    )
    .unwrap();
    (tokens, clock)
}

fn alice() -> Identity {
    Identity {
        subject: "local:alice".into(),
        name: "Alice".into(),
        email: None,
        groups: Vec::new(),
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn published(tokens: &Tokens) -> Vec<String> {
    let jwks: serde_json::Value = serde_json::from_str(&tokens.jwks()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_rotation_publishes_the_new_key_at_once_and_signs_with_it_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, clock) = tokens(dir.path());
    let (first, _) = tokens.token_for("s1", &alice()).unwrap();
    let old = kid_of(&first);

    let mut store = KeyStore::open(dir.path()).unwrap();
    store.rotate().unwrap();
    let new = store.current().kid().to_owned();
    tokens.reload().unwrap();

    assert_eq!(published(&tokens), [new.as_str(), old.as_str()]);
    let (during, made) = tokens.token_for("s2", &alice()).unwrap();
    assert!(made);
    assert_eq!(kid_of(&during), old, "the old key signs during the grace");

    clock.advance(GRACE.as_secs());
    let (after, made) = tokens.token_for("s2", &alice()).unwrap();
    assert!(
        made,
        "a token from the old key is not reused past the grace"
    );
    assert_eq!(kid_of(&after), new);
    let (first_session, _) = tokens.token_for("s1", &alice()).unwrap();
    assert_eq!(kid_of(&first_session), new);
}

#[test]
fn a_replaced_key_that_is_no_longer_published_never_signs_again() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, _clock) = tokens(dir.path());
    let (first, _) = tokens.token_for("s1", &alice()).unwrap();
    let old = kid_of(&first);

    let mut store = KeyStore::open(dir.path()).unwrap();
    store.rotate().unwrap();
    assert!(store.drop_previous(&old).unwrap());
    tokens.reload().unwrap();

    let new = store.current().kid().to_owned();
    assert_eq!(published(&tokens), [new.as_str()]);
    let (token, made) = tokens.token_for("s1", &alice()).unwrap();
    assert!(made, "the cache is emptied by a reload");
    assert_eq!(kid_of(&token), new);
}

#[test]
fn a_second_rotation_during_the_grace_keeps_the_key_chat_servers_know() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, clock) = tokens(dir.path());
    let (first, _) = tokens.token_for("s1", &alice()).unwrap();
    let original = kid_of(&first);

    let mut store = KeyStore::open(dir.path()).unwrap();
    store.rotate().unwrap();
    tokens.reload().unwrap();
    clock.advance(10);
    store.rotate().unwrap();
    tokens.reload().unwrap();

    let (token, _) = tokens.token_for("s1", &alice()).unwrap();
    assert_eq!(kid_of(&token), original);
    assert_eq!(published(&tokens).len(), 3);
    clock.advance(GRACE.as_secs());
    let (token, _) = tokens.token_for("s1", &alice()).unwrap();
    assert_eq!(kid_of(&token), store.current().kid());
}

#[test]
fn a_reload_without_a_rotation_changes_nothing_but_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, _clock) = tokens(dir.path());
    let (first, _) = tokens.token_for("s1", &alice()).unwrap();
    tokens.reload().unwrap();
    let (second, made) = tokens.token_for("s1", &alice()).unwrap();
    assert!(made);
    assert_eq!(kid_of(&first), kid_of(&second));
    assert_eq!(published(&tokens).len(), 1);
}
