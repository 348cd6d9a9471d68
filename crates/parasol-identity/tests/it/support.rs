//! Shared set-up: a key store in a temporary directory, and a signer and verifier that agree
//! on issuer, audience and a fixed clock.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parasol_identity::{FixedClock, Identity, KeyStore, Signer, Verifier};
use tempfile::TempDir;

pub const ISSUER: &str = "https://gateway.parasol.test";
pub const AUDIENCE: &str = "parasol-chat";
/// 2026-12-03 10:00:00 UTC.
pub const NOW: u64 = 1_796_292_000;

pub struct Fixture {
    // Kept so that the directory outlives the store.
    pub dir: TempDir,
    pub store: KeyStore,
}

pub fn spawn_store() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path().join("keys")).unwrap();
    Fixture { dir, store }
}

pub fn clock_at(secs: u64) -> Arc<FixedClock> {
    Arc::new(FixedClock::at_unix(secs))
}

pub fn signer(store: &KeyStore) -> Signer {
    Signer::new(store.current(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW))
}

pub fn verifier(store: &KeyStore) -> Verifier {
    verifier_at(store, NOW)
}

pub fn verifier_at(store: &KeyStore, now: u64) -> Verifier {
    Verifier::from_jwks(&store.jwks(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(now))
}

pub fn alice() -> Identity {
    Identity {
        subject: "user-0001".to_owned(),
        name: "Alice Example".to_owned(),
        email: Some("alice@example.test".to_owned()),
        groups: vec!["staff".to_owned(), "admins".to_owned()],
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The three parts of a compact token.
pub fn parts(token: &str) -> [String; 3] {
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts.try_into().unwrap()
}

pub fn header_json(token: &str) -> serde_json::Value {
    serde_json::from_slice(&unb64(&parts(token)[0])).unwrap()
}

pub fn payload_json(token: &str) -> serde_json::Value {
    serde_json::from_slice(&unb64(&parts(token)[1])).unwrap()
}

/// Signs an arbitrary header and payload with the store's current key, for tokens the
/// signer would never make.
pub fn sign_raw(
    store: &KeyStore,
    header: &serde_json::Value,
    payload: &serde_json::Value,
) -> String {
    use ed25519_dalek::Signer as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    use secrecy::ExposeSecret as _;

    let pem = store.current().to_pkcs8_pem().unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.expose_secret()).unwrap();
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", b64(&signature.to_bytes()))
}

/// Claims the verifier would accept, as JSON.
pub fn valid_payload() -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-0001",
        "name": "Alice Example",
        "email": "alice@example.test",
        "groups": ["staff"],
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "AAAAAAAAAAAAAAAAAAAAAA",
    })
}
