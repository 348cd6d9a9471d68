//! Sessions kept in Redis: the cookie holds only a sealed id, and signing out ends every
//! copy of the cookie.

use std::sync::Arc;

use parasol_gate::config::SessionStoreKind;
use parasol_gate::{Gate, GateConfig};
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::support::{COOKIE_KEY, add_user, browser, csrf_of};

const REDIS: &str = "redis://127.0.0.1:6379";

async fn gate_with_redis() -> (String, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", "correct horse", &[]);
    let mut config = GateConfig {
        listen: addr,
        public_url: Some(format!("http://{addr}")),
        cookie_secret: Some(SecretString::from(COOKIE_KEY.to_owned())),
        ..GateConfig::default()
    };
    config.session.store = SessionStoreKind::Redis;
    let gate = Gate::build(&config, dir.path(), Some(REDIS), None)
        .await
        .unwrap_or_else(|e| panic!("Redis must run at {REDIS} for this test: {e}"));
    tokio::spawn(parasol_gate::server::serve(
        Arc::new(gate),
        listener,
        std::future::pending(),
    ));
    (format!("http://{addr}"), dir)
}

#[tokio::test]
async fn a_redis_session_is_revoked_for_every_copy_of_its_cookie_at_sign_out() {
    let (base, _dir) = gate_with_redis().await;
    let client = browser();
    let page = client
        .get(format!("{base}/oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let done = client
        .post(format!("{base}/oauth2/sign_in"))
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let value = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("parasol_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .unwrap();
    // Only a sealed id travels: far smaller than a whole sealed session.
    assert!(value.len() < 120, "{} bytes", value.len());

    let copy = reqwest::Client::new();
    let ask = || async {
        copy.get(format!("{base}/oauth2/auth"))
            .header("cookie", format!("parasol_session={value}"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ask().await, 200);

    let out = client
        .get(format!("{base}/oauth2/sign_out"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 302);
    assert_eq!(ask().await, 401, "a copied cookie outlived the sign-out");
}

#[tokio::test]
async fn redis_sessions_without_a_redis_url_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GateConfig {
        cookie_secret: Some(SecretString::from(COOKIE_KEY.to_owned())),
        ..GateConfig::default()
    };
    config.session.store = SessionStoreKind::Redis;
    let error = Gate::build(&config, dir.path(), None, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("[redis] url"), "{error}");
}
