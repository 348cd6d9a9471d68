//! ID tokens a real provider would never send: a small provider of the test's own that
//! speaks discovery, a JWKS and the token endpoint, and answers the code exchange with a
//! crafted token. Each row must end in a refused sign-in, except the controls.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parasol_gate::config::OidcProviderConfig;
use parasol_identity::{Jwks, KeyPair};
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{TestGate, browser, location, spawn_gate};

const CLIENT_ID: &str = "parasol";
const CLIENT_SECRET: &str = "client-secret-for-the-fake-provider";

/// How the fake provider answers the token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Craft {
    Valid,
    AlgNone,
    Hs256WithPublicKey,
    Hs256WithClientSecret,
    WrongAudience,
    WrongIssuer,
    WrongNonce,
    NoNonce,
    Expired,
    IssuedInTheFuture,
    UnknownKid,
    RotatedKey,
    TamperedSignature,
    ForeignAuthorizedParty,
}

struct Fake {
    issuer: String,
    craft: Craft,
    key: KeyPair,
    rotated: KeyPair,
    /// Whether the JWKS already lists the rotated key.
    published_rotation: Mutex<bool>,
    nonce: Mutex<Option<String>>,
}

async fn discovery(State(fake): State<Arc<Fake>>) -> Response {
    let issuer = &fake.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(fake): State<Arc<Fake>>) -> Response {
    let rotated = *fake.published_rotation.lock().unwrap();
    let mut keys = vec![fake.key.public_key()];
    if rotated {
        keys.push(fake.rotated.public_key());
    }
    let jwks = Jwks::from_keys(keys).to_json().unwrap();
    ([("content-type", "application/json")], jwks).into_response()
}

async fn authorize(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    *fake.nonce.lock().unwrap() = query.get("nonce").cloned();
    // The provider "rotates" once the gateway has fetched the old JWKS.
    if fake.craft == Craft::RotatedKey {
        *fake.published_rotation.lock().unwrap() = false;
    }
    let back = format!(
        "{}?code=the-code&state={}",
        query["redirect_uri"],
        url::form_urlencoded::byte_serialize(query["state"].as_bytes()).collect::<String>()
    );
    Redirect::to(&back).into_response()
}

async fn token(State(fake): State<Arc<Fake>>) -> Response {
    if fake.craft == Craft::RotatedKey {
        *fake.published_rotation.lock().unwrap() = true;
    }
    let nonce = fake.nonce.lock().unwrap().clone().unwrap_or_default();
    axum::Json(json!({
        "access_token": "an-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": crafted(&fake, &nonce),
    }))
    .into_response()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn crafted(fake: &Fake, nonce: &str) -> String {
    let now = now();
    let mut claims = json!({
        "iss": fake.issuer,
        "aud": CLIENT_ID,
        "sub": "mallory",
        "email": "mallory@example.com",
        "email_verified": true,
        "name": "Mallory",
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    });
    match fake.craft {
        Craft::WrongAudience => claims["aud"] = json!("another-client"),
        Craft::WrongIssuer => claims["iss"] = json!("http://127.0.0.1:1/elsewhere"),
        Craft::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        Craft::NoNonce => {
            claims.as_object_mut().unwrap().remove("nonce");
        }
        Craft::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Craft::IssuedInTheFuture => {
            claims["iat"] = json!(now + 3600);
            claims["exp"] = json!(now + 7200);
        }
        Craft::ForeignAuthorizedParty => {
            claims["aud"] = json!([CLIENT_ID, "another-client"]);
            claims["azp"] = json!("another-client");
        }
        _ => {}
    }
    let signed_with = |key: &KeyPair| {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        let pem = key.to_pkcs8_pem().unwrap();
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.expose_secret()).unwrap();
        let der = signing.to_pkcs8_der().unwrap();
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    };
    let hmac = |secret: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(fake.key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
    };
    match fake.craft {
        Craft::AlgNone => {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{header}.{payload}.")
        }
        Craft::Hs256WithPublicKey => hmac(fake.key.public_key().as_bytes()),
        Craft::Hs256WithClientSecret => hmac(CLIENT_SECRET.as_bytes()),
        Craft::UnknownKid => signed_with(&fake.rotated),
        Craft::RotatedKey => signed_with(&fake.rotated),
        Craft::TamperedSignature => {
            let token = signed_with(&fake.key);
            let (head, signature) = token.rsplit_once('.').unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
            bytes[0] ^= 1;
            format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
        }
        _ => signed_with(&fake.key),
    }
}

async fn spawn_fake(craft: Craft) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        issuer: issuer.clone(),
        craft,
        key: KeyPair::generate().unwrap(),
        rotated: KeyPair::generate().unwrap(),
        published_rotation: Mutex::new(false),
        nonce: Mutex::new(None),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/auth", get(authorize))
        .route("/token", post(token))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

async fn gate_for(issuer: String) -> TestGate {
    spawn_gate(
        move |config| {
            config.local_users.enabled = false;
            config.oidc = vec![OidcProviderConfig {
                id: "fake".into(),
                display_name: None,
                issuer,
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.to_owned().into()),
                client_secret_file: None,
                scopes: vec!["email".into()],
                groups_claim: "groups".into(),
                algorithms: vec!["EdDSA".into()],
                accept_unverified_email: false,
            }];
        },
        |_| {},
    )
    .await
}

/// Runs a sign-in against the fake provider; true when a session came of it.
async fn signs_in(craft: Craft) -> bool {
    let issuer = spawn_fake(craft).await;
    let gate = gate_for(issuer).await;
    let client = browser();
    let start = client.get(gate.url("/oauth2/start")).send().await.unwrap();
    assert_eq!(start.status(), 302, "{craft:?}");
    let at_provider = client.get(location(&start)).send().await.unwrap();
    assert_eq!(at_provider.status(), 303, "{craft:?}");
    let callback = client.get(location(&at_provider)).send().await.unwrap();
    let signed_in = callback.status() == 302;
    if !signed_in {
        assert_eq!(callback.status(), 502, "{craft:?}");
    }
    let auth = client.get(gate.url("/oauth2/auth")).send().await.unwrap();
    assert_eq!(auth.status() == 200, signed_in, "{craft:?}");
    signed_in
}

#[tokio::test]
async fn a_valid_token_from_the_fake_provider_signs_in() {
    assert!(signs_in(Craft::Valid).await);
}

#[tokio::test]
async fn a_token_signed_with_a_key_published_after_rotation_signs_in_after_a_refetch() {
    assert!(signs_in(Craft::RotatedKey).await);
}

#[tokio::test]
async fn crafted_id_tokens_are_refused() {
    let crafts = [
        Craft::AlgNone,
        Craft::Hs256WithPublicKey,
        Craft::Hs256WithClientSecret,
        Craft::WrongAudience,
        Craft::WrongIssuer,
        Craft::WrongNonce,
        Craft::NoNonce,
        Craft::Expired,
        Craft::IssuedInTheFuture,
        Craft::UnknownKid,
        Craft::TamperedSignature,
        Craft::ForeignAuthorizedParty,
    ];
    for craft in crafts {
        assert!(!signs_in(craft).await, "{craft:?} was accepted");
    }
}

#[tokio::test]
async fn hmac_and_none_cannot_be_configured_as_id_token_algorithms() {
    for algorithm in ["none", "HS256", "HS512"] {
        let config = parasol_gate::GateConfig {
            oidc: vec![OidcProviderConfig {
                id: "fake".into(),
                display_name: None,
                issuer: "http://127.0.0.1:1".into(),
                client_id: CLIENT_ID.into(),
                client_secret: None,
                client_secret_file: None,
                scopes: vec![],
                groups_claim: "groups".into(),
                algorithms: vec![algorithm.into()],
                accept_unverified_email: false,
            }],
            cookie_secret: Some(crate::support::COOKIE_KEY.to_owned().into()),
            ..parasol_gate::GateConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let error = parasol_gate::Gate::build(&config, dir.path(), None, None)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not allowed"),
            "{algorithm}: {error}"
        );
    }
}
