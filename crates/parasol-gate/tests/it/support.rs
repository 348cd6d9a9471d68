//! Starting a gateway on a free port with a fresh data directory.

use std::net::SocketAddr;
use std::sync::Arc;

use parasol_gate::users::{LocalUser, UsersFile};
use parasol_gate::{Gate, GateConfig};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio::net::TcpListener;

/// A cookie key for tests.
pub const COOKIE_KEY: &str = "test-cookie-key-test-cookie-key-test-cookie-key";

/// A running gateway.
#[allow(dead_code)]
pub struct TestGate {
    pub addr: SocketAddr,
    pub gate: Arc<Gate>,
    pub dir: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestGate {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A gateway with default settings changed by `configure`; `prepare` runs on the data
/// directory before the gateway starts (to write users, say).
pub async fn spawn_gate(
    configure: impl FnOnce(&mut GateConfig),
    prepare: impl FnOnce(&std::path::Path),
) -> TestGate {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_gate_on(listener, configure, prepare).await
}

/// Like [`spawn_gate`], on a listener the test bound already (so that it could tell an
/// OpenID provider the callback URL first).
pub async fn spawn_gate_on(
    listener: TcpListener,
    configure: impl FnOnce(&mut GateConfig),
    prepare: impl FnOnce(&std::path::Path),
) -> TestGate {
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());

    let mut config = GateConfig {
        listen: addr,
        public_url: Some(format!("http://{addr}")),
        cookie_secret: Some(SecretString::from(COOKIE_KEY.to_owned())),
        ..GateConfig::default()
    };
    configure(&mut config);
    let gate = Arc::new(Gate::build(&config, dir.path(), None, None).await.unwrap());

    let served = gate.clone();
    let task = tokio::spawn(async move {
        let _ = parasol_gate::server::serve(served, listener, std::future::pending()).await;
    });
    TestGate {
        addr,
        gate,
        dir,
        task,
    }
}

/// Writes a user into the data directory's users file.
pub fn add_user(dir: &std::path::Path, name: &str, password: &str, groups: &[&str]) {
    let mut file = UsersFile::load(dir.join("users.toml")).unwrap();
    let mut user = LocalUser::new(name);
    user.display_name = Some(format!("{name} (display)"));
    user.email = Some(format!("{name}@example.com"));
    user.groups = groups.iter().map(|g| g.to_string()).collect();
    file.add(user, &SecretString::from(password.to_owned()))
        .unwrap();
    file.save().unwrap();
}

/// A client that keeps cookies and follows no redirect, like a browser whose every hop
/// the test looks at.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Location` of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The value of the hidden `csrf` input on a sign-in page.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).map(|at| at + marker.len()).unwrap();
    let end = page[start..].find('"').unwrap();
    page[start..start + end].to_owned()
}
