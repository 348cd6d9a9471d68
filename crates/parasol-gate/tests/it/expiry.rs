//! Sessions end on time: the idle timeout and the absolute lifetime, on a test clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parasol_gate::{Gate, GateConfig};
use parasol_identity::Clock;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::support::{COOKIE_KEY, add_user, browser, csrf_of};

/// A clock the test moves by hand.
#[derive(Debug, Default)]
struct TestClock(AtomicU64);

impl TestClock {
    fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + self.0.load(Ordering::SeqCst))
    }
}

async fn gate_with_clock(clock: Arc<TestClock>) -> (String, tempfile::TempDir) {
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
    config.session.idle_timeout = 600;
    config.session.absolute_lifetime = 3600;
    let gate = Gate::build(&config, dir.path(), None, Some(clock))
        .await
        .unwrap();
    tokio::spawn(parasol_gate::server::serve(
        Arc::new(gate),
        listener,
        std::future::pending(),
    ));
    (format!("http://{addr}"), dir)
}

async fn signed_in_client(base: &str) -> reqwest::Client {
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
    client
}

async fn auth(client: &reqwest::Client, base: &str) -> u16 {
    client
        .get(format!("{base}/oauth2/auth"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_idle_session_expires_and_an_active_one_lives_to_its_absolute_lifetime() {
    let clock = Arc::new(TestClock::default());
    let (base, _dir) = gate_with_clock(clock.clone()).await;

    let idle = signed_in_client(&base).await;
    clock.advance(599);
    assert_eq!(auth(&idle, &base).await, 200);
    clock.advance(601);
    assert_eq!(auth(&idle, &base).await, 401, "idle for more than 600 s");

    let active = signed_in_client(&base).await;
    for _ in 0..6 {
        clock.advance(500);
        assert_eq!(auth(&active, &base).await, 200, "touched every 500 s");
    }
    clock.advance(700);
    assert_eq!(
        auth(&active, &base).await,
        401,
        "past the absolute lifetime"
    );
}

#[tokio::test]
async fn an_old_cookie_replayed_after_expiry_is_refused() {
    let clock = Arc::new(TestClock::default());
    let (base, _dir) = gate_with_clock(clock.clone()).await;
    let client = signed_in_client(&base).await;
    // Keep the cookie as an attacker who copied it would.
    let _ = auth(&client, &base).await;
    clock.advance(3601);
    assert_eq!(auth(&client, &base).await, 401);
}
