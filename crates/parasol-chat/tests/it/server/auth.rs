//! Nothing is served without a valid identity token, whatever is wrong with the token.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parasol_chat::IdentityConfig;
use parasol_chat::identity::{Authenticator, VerifierSource};
use parasol_identity::{FixedClock, KeyPair, Signer};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::harness::{AUDIENCE, Backend, ChatHarness, ISSUER, JwksServer, identity};

const LEGACY_SECRET: &str = "the article's shared secret, long enough";

/// Sends `GET path` with `token` (none for `None`) and returns the status and body.
async fn get_with(server: &ChatHarness, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = server.http.get(server.url(path));
    if let Some(token) = token {
        request = request.header("x-user-jwt", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_unauthenticated(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn legacy_token(secret: &str, user: &str) -> String {
    let claims = json!({ "user": user, "display_name": "Old Timer", "exp": now() + 300 });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_page_and_api_refuses_a_request_without_a_token() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    for path in [
        "/",
        "/static/app.js",
        "/static/app.css",
        "/static/highlight.css",
        "/api/me",
        "/api/threads",
        "/api/openapi.json",
        "/api/messages/1/events",
        "/no/such/page",
    ] {
        let (status, body) = get_with(&server, path, None).await;
        assert_unauthenticated(status, &body);
    }
    let posted = server
        .http
        .post(server.url("/api/threads"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);

    assert_eq!(get_with(&server, "/ping", None).await.0, 200);
    assert_eq!(get_with(&server, "/ready", None).await.0, 200);
}

#[tokio::test]
async fn a_valid_token_reaches_the_api_and_names_the_user() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    let me = server.get_json("/api/me", "alice").await;

    assert_eq!(
        me,
        json!({
            "subject": "alice",
            "name": "alice tester",
            "email": "alice@example.com",
            "groups": ["testers"],
        })
    );
    assert_eq!(server.db.count_rows("users").await, 1);
}

#[tokio::test]
async fn garbage_and_tokens_signed_by_another_key_are_refused() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    let stranger = KeyPair::generate().unwrap();
    let forged = Signer::new(&stranger, ISSUER, AUDIENCE)
        .unwrap()
        .sign(&identity("alice"))
        .unwrap();
    // A token with the server's kid but another key's signature.
    let mut claims = server.signer.claims_for(&identity("alice")).unwrap();
    claims.sub = "mallory".to_owned();
    let resigned = {
        let good = server.signer.sign_claims(&claims).unwrap();
        let other = Signer::new(&stranger, ISSUER, AUDIENCE)
            .unwrap()
            .sign_claims(&claims)
            .unwrap();
        let good: Vec<&str> = good.split('.').collect();
        let other: Vec<&str> = other.split('.').collect();
        format!("{}.{}.{}", good[0], good[1], other[2])
    };

    for token in [
        "",
        "not a token",
        "a.b.c",
        forged.as_str(),
        resigned.as_str(),
    ] {
        let (status, body) = get_with(&server, "/api/me", Some(token)).await;
        assert_unauthenticated(status, &body);
    }
}

#[tokio::test]
async fn an_expired_identity_token_is_rejected() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    let an_hour_ago = Signer::new(&server.key, ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(Arc::new(FixedClock::at_unix(now() - 3600)))
        .with_lifetime(Duration::from_secs(300));
    let token = an_hour_ago.sign(&identity("alice")).unwrap();

    let (status, body) = get_with(&server, "/api/me", Some(&token)).await;

    assert_unauthenticated(status, &body);
    assert_eq!(body["error"]["message"], "the identity token has expired");
}

#[tokio::test]
async fn a_token_for_another_audience_or_from_another_issuer_is_rejected() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    let wrong_audience = Signer::new(&server.key, ISSUER, "another-service").unwrap();
    let wrong_issuer = Signer::new(&server.key, "http://evil.test", AUDIENCE).unwrap();

    for signer in [wrong_audience, wrong_issuer] {
        let token = signer.sign(&identity("alice")).unwrap();
        let (status, body) = get_with(&server, "/api/me", Some(&token)).await;
        assert_unauthenticated(status, &body);
    }
}

#[tokio::test]
async fn a_token_with_alg_none_is_rejected() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    let claims = server.signer.claims_for(&identity("alice")).unwrap();
    let header = json!({ "alg": "none", "typ": "JWT", "kid": server.key.kid() });
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let unsigned = format!("{}.{}.", encode(&header), encode(&json!(claims)));

    let (status, body) = get_with(&server, "/api/me", Some(&unsigned)).await;

    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn legacy_hs256_tokens_are_refused_unless_switched_on() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    let (status, body) = get_with(
        &server,
        "/api/me",
        Some(&legacy_token(LEGACY_SECRET, "oldtimer")),
    )
    .await;

    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn legacy_hs256_tokens_are_accepted_when_switched_on() {
    let server = ChatHarness::builder(Backend::Sqlite)
        .config(|config| {
            config.identity.legacy_hs256_secret = Some(SecretString::from(LEGACY_SECRET));
        })
        .spawn()
        .await;

    let legacy = legacy_token(LEGACY_SECRET, "oldtimer");
    let (status, me) = get_with(&server, "/api/me", Some(&legacy)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "oldtimer");
    assert_eq!(me["name"], "Old Timer");

    // The real tokens still work beside them, and a wrong secret still does not.
    assert_eq!(
        server.get_json("/api/me", "alice").await["subject"],
        "alice"
    );
    let wrong = legacy_token("some other secret, also long enough", "oldtimer");
    let (status, body) = get_with(&server, "/api/me", Some(&wrong)).await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn keys_come_from_the_jwks_url_and_an_unknown_kid_fetches_them_again() {
    let first = KeyPair::generate().unwrap();
    let second = KeyPair::generate().unwrap();
    let jwks = JwksServer::start(&[&first]).await;
    let server = ChatHarness::builder(Backend::Sqlite)
        .configured_keys()
        .key(first)
        .config(|config| {
            config.identity.jwks_url = Some(jwks.url.clone());
            config.identity.issuer = Some(ISSUER.to_owned());
            config.identity.jwks_refetch_interval = 0;
        })
        .spawn()
        .await;
    assert_eq!(
        server.get_json("/api/me", "alice").await["subject"],
        "alice"
    );
    let fetched = jwks.fetches();
    assert_eq!(fetched, 1);

    // The gateway rotates to a new key: the first token naming it makes the server fetch.
    jwks.publish(&[&server.key, &second]);
    let rotated = Signer::new(&second, ISSUER, AUDIENCE)
        .unwrap()
        .sign(&identity("bob"))
        .unwrap();
    let (status, me) = get_with(&server, "/api/me", Some(&rotated)).await;

    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "bob");
    assert_eq!(jwks.fetches(), fetched + 1);
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_jwks_at_most_once_per_interval() {
    let first = KeyPair::generate().unwrap();
    let second = KeyPair::generate().unwrap();
    let jwks = JwksServer::start(&[&first]).await;
    let server = ChatHarness::builder(Backend::Sqlite)
        .configured_keys()
        .key(first)
        .config(|config| {
            config.identity.jwks_url = Some(jwks.url.clone());
            config.identity.issuer = Some(ISSUER.to_owned());
        })
        .spawn()
        .await;
    assert_eq!(
        server.get_json("/api/me", "alice").await["subject"],
        "alice"
    );
    jwks.publish(&[&server.key, &second]);

    // Within 30 s of the last fetch, tokens naming keys the server does not hold are
    // refused without asking the gateway again.
    let rotated = Signer::new(&second, ISSUER, AUDIENCE).unwrap();
    for subject in ["bob", "carol", "dave"] {
        let token = rotated.sign(&identity(subject)).unwrap();
        let (status, body) = get_with(&server, "/api/me", Some(&token)).await;
        assert_unauthenticated(status, &body);
    }

    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn keys_can_come_from_a_key_file() {
    let key = KeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gate.pub.pem");
    std::fs::write(&path, key.public_key().to_public_key_pem().unwrap()).unwrap();
    let server = ChatHarness::builder(Backend::Sqlite)
        .configured_keys()
        .key(key)
        .config(|config| {
            config.identity.key_file = Some(path.clone());
            config.identity.issuer = Some(ISSUER.to_owned());
        })
        .spawn()
        .await;

    assert_eq!(
        server.get_json("/api/me", "alice").await["subject"],
        "alice"
    );
}

#[tokio::test]
async fn identity_settings_without_keys_or_issuer_are_refused() {
    let db = crate::support::sqlite().await;
    let build = |change: fn(&mut IdentityConfig)| {
        let mut config = IdentityConfig::default();
        change(&mut config);
        Authenticator::new(&config, VerifierSource::Configured, db.store.clone())
            .map(|_| ())
            .map_err(|error| error.to_string())
    };

    assert!(build(|_| {}).unwrap_err().contains("jwks_url or key_file"));
    assert!(
        build(|config| config.jwks_url = Some("http://127.0.0.1:1/jwks.json".to_owned()))
            .unwrap_err()
            .contains("issuer is required")
    );
    assert!(
        build(|config| {
            config.jwks_url = Some("http://127.0.0.1:1/jwks.json".to_owned());
            config.key_file = Some("/nonexistent".into());
        })
        .unwrap_err()
        .contains("not both")
    );
    assert!(
        build(|config| {
            config.jwks_url = Some("http://127.0.0.1:1/jwks.json".to_owned());
            config.issuer = Some(ISSUER.to_owned());
        })
        .is_ok()
    );
}
