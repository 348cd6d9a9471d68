//! The article's topology as separate processes: a real nginx with the shipped
//! `deploy/nginx/parasol.conf` in front of `parasol gate` and `parasol chat`, one
//! configuration file for both. A cookie-keeping client and headless Chromium sign in and
//! chat through nginx; the signing key is rotated under a running site.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use parasol_testkit::{Chrome, Nginx, free_port, wait_for_port};
use serde_json::{Value, json};

use super::{
    command, cookie_client, fake_openai, parasol, parasol_input, stderr, stdout, submit_sign_in,
};

const PASSWORD: &str = "correct horse battery";

/// How long a process may take to listen.
const START: Duration = Duration::from_secs(60);

/// How long one wait in the browser may take.
const WAIT: Duration = Duration::from_secs(60);

/// Seconds the gateway goes on signing with a replaced key, and the least seconds between
/// two JWKS fetches by the chat server: the defaults (60 and 30) scaled down, keeping
/// the grace longer than the interval as the documentation asks.
const ROTATION_GRACE: u64 = 2;
const REFETCH_INTERVAL: u64 = 1;

/// A `parasol` server process, stopped with SIGTERM when dropped.
struct Process {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Process {
    fn start(name: &'static str, args: &[&str], work: &Path) -> Self {
        let log = work.join(format!("{name}.log"));
        let child = command(args, work, &[])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, name, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_port(&mut self, port: u16) {
        let listening = wait_for_port(port, START).await;
        assert!(
            listening && matches!(self.child.try_wait(), Ok(None)),
            "parasol {} did not start on port {port}: {}",
            self.name,
            self.log()
        );
    }

    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal("-TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// nginx, the gateway and the chat server, each its own process, with a local user.
struct Topology {
    work: tempfile::TempDir,
    /// The site as the browser sees it: nginx, ending in `/`.
    url: String,
    /// The gateway's own address, which only nginx and the chat server use.
    gate_url: String,
    gate: Process,
    chat: Process,
    nginx: Nginx,
}

impl Topology {
    async fn start() -> Self {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        let (site_port, gate_port, chat_port) = (
            free_port().unwrap(),
            free_port().unwrap(),
            free_port().unwrap(),
        );
        let site = format!("http://127.0.0.1:{site_port}");
        std::fs::write(
            dir.join("parasol.toml"),
            format!(
                r#"data_dir = "data"

[model]
provider = "openai"
base_url = "{model}"
max_retries = 0

[gate]
listen = "127.0.0.1:{gate_port}"
public_url = "{site}"

[gate.local_users]
enabled = true

[gate.token]
rotation_grace = {ROTATION_GRACE}

[chat]
listen = "127.0.0.1:{chat_port}"

[chat.identity]
jwks_url = "http://127.0.0.1:{gate_port}/oauth2/jwks.json"
issuer = "{site}"
jwks_refetch_interval = {REFETCH_INTERVAL}
"#,
                model = fake_openai(),
            ),
        )
        .unwrap();
        let added = parasol_input(
            &[
                "users",
                "add",
                "alice",
                "--display-name",
                "Alice Liddell",
                "--password-stdin",
            ],
            dir,
            &format!("{PASSWORD}\n"),
        );
        assert!(added.status.success(), "{}", stderr(&added));

        let mut gate = Process::start("gate", &["gate"], dir);
        gate.wait_for_port(gate_port).await;
        let mut chat = Process::start("chat", &["chat"], dir);
        chat.wait_for_port(chat_port).await;

        let shipped = include_str!("../../../../deploy/nginx/parasol.conf");
        let config = shipped
            .replace("127.0.0.1:4180", &format!("127.0.0.1:{gate_port}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{chat_port}"))
            .replace("listen 8000;", &format!("listen 127.0.0.1:{site_port};"));
        let nginx = Nginx::with_server_blocks(&config, &[site_port])
            .await
            .unwrap();
        Self {
            work,
            url: format!("{site}/"),
            gate_url: format!("http://127.0.0.1:{gate_port}"),
            gate,
            chat,
            nginx,
        }
    }

    fn logs(&self) -> String {
        format!(
            "gate:\n{}\nchat:\n{}\nnginx:\n{}",
            self.gate.log(),
            self.chat.log(),
            self.nginx.error_log()
        )
    }

    /// `parasol keys ...` on the site's key directory.
    fn keys(&self, args: &[&str]) -> String {
        let mut all = vec!["keys"];
        all.extend(args);
        let output = parasol(&all, self.work.path());
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// The kids the site's JWKS lists, current first.
async fn published_kids(client: &reqwest::Client, site: &str) -> Vec<String> {
    let jwks = get_json(client, &format!("{site}oauth2/jwks.json")).await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The kid of the identity token the gateway hands nginx for this client's session.
async fn token_kid(client: &reqwest::Client, topology: &Topology) -> String {
    // The session cookie belongs to the host, 127.0.0.1, whatever the port, so the cookie
    // store sends it to the gateway too.
    let answer = client
        .get(format!("{}/oauth2/auth", topology.gate_url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let token = answer.headers()["x-user-jwt"].to_str().unwrap();
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Follows the site's redirects to the sign-in form and signs in as alice.
async fn sign_in(client: &reqwest::Client, site: &str) {
    let first = client.get(site).send().await.unwrap();
    assert_eq!(first.status(), 302, "a signed-out visit is sent to sign in");
    // nginx makes its own redirects absolute.
    let start = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        start.starts_with(&format!("{site}oauth2/start?rd=")),
        "{start}"
    );

    let started = client.get(start).send().await.unwrap();
    assert!(started.status().is_redirection(), "{}", started.status());
    let form_url = started.headers()["location"].to_str().unwrap().to_owned();
    let form_url = if form_url.starts_with('/') {
        format!("{}{form_url}", site.trim_end_matches('/'))
    } else {
        form_url
    };
    assert!(form_url.starts_with(site), "{form_url}");

    let page = client.get(&form_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    submit_sign_in(client, site, &page, "alice", PASSWORD).await;
}

/// Posts `content` to a new thread and reads the answer's whole event stream.
async fn chat_once(client: &reqwest::Client, site: &str, content: &str) -> (String, String) {
    let created = client
        .post(format!("{site}api/threads"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let thread: Value = created.json().await.unwrap();
    let id = thread["id"].as_str().unwrap().to_owned();

    let answer = client
        .post(format!("{site}api/threads/{id}/messages"))
        .json(&json!({ "content": content }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let events = tokio::time::timeout(Duration::from_secs(60), answer.text())
        .await
        .expect("the answer's stream ends")
        .unwrap();
    (id, events)
}

fn event_names(events: &str) -> Vec<&str> {
    events
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_gate_and_chat_as_separate_processes_sign_in_and_chat() {
    let topology = Topology::start().await;
    let site = topology.url.as_str();
    let client = cookie_client();

    // Nothing but the sign-in is reachable without a session, whatever a client claims.
    let forged = cookie_client()
        .get(format!("{site}api/me"))
        .header("x-user-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")
        .header("x-auth-request-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 302, "{}", topology.logs());

    sign_in(&client, site).await;
    let page = client.get(site).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", topology.logs());
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.text().await.unwrap().contains("<html"));
    let me = get_json(&client, &format!("{site}api/me")).await;
    assert_eq!(me["name"], "Alice Liddell", "{me}");

    let (thread, events) = chat_once(&client, site, "Will it be sunny?").await;
    let names = event_names(&events);
    assert_eq!(names.last(), Some(&"done"), "{events}");
    assert!(!names.contains(&"error"), "{events}");
    assert!(events.contains("Sunny"), "{events}");
    let threads = get_json(&client, &format!("{site}api/threads")).await;
    assert_eq!(threads["threads"][0]["id"], thread.as_str(), "{threads}");

    // The token nginx passes on never reaches the browser.
    let answer = client.get(format!("{site}api/me")).send().await.unwrap();
    assert!(answer.headers().get("x-user-jwt").is_none());

    let signed_out = client
        .get(format!("{site}oauth2/sign_out"))
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_redirection());
    let after = client.get(format!("{site}api/me")).send().await.unwrap();
    assert_eq!(after.status(), 302, "signed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_under_a_running_site_refuses_no_request() {
    let topology = Topology::start().await;
    let site = topology.url.as_str();
    let client = cookie_client();
    sign_in(&client, site).await;
    let me = get_json(&client, &format!("{site}api/me")).await;
    assert_eq!(me["name"], "Alice Liddell");

    let old = published_kids(&client, site).await;
    assert_eq!(old.len(), 1, "{old:?}");
    let old = old[0].clone();
    assert_eq!(
        topology.keys(&["list"]),
        format!("{old}  signs new tokens\n")
    );
    assert_eq!(token_kid(&client, &topology).await, old);

    let new = topology.keys(&["rotate"]).trim().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        topology.keys(&["list"]),
        format!("{new}  signs new tokens\n{old}  verifies only\n")
    );
    topology.gate.signal("-HUP");

    // Every request goes on being answered while the gateway hands over to the new key,
    // and the new key signs once the grace has passed.
    let deadline = Instant::now() + Duration::from_secs(ROTATION_GRACE + 20);
    let mut published = Vec::new();
    let mut kids_seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the new key never signed; published {published:?}, tokens from {kids_seen:?}\n{}",
            topology.logs()
        );
        let answer = client.get(format!("{site}api/me")).send().await.unwrap();
        assert_eq!(
            answer.status(),
            200,
            "refused during the handover\n{}",
            topology.logs()
        );
        published = published_kids(&client, site).await;
        let kid = token_kid(&client, &topology).await;
        if kids_seen.last() != Some(&kid) {
            kids_seen.push(kid.clone());
        }
        if kid == new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(published, [new.as_str(), old.as_str()]);
    assert_eq!(
        kids_seen,
        [old.as_str(), new.as_str()],
        "no flip back to the old key"
    );
    let (_, events) = chat_once(&client, site, "Will it be sunny?").await;
    assert_eq!(event_names(&events).last(), Some(&"done"), "{events}");

    // Dropping the old key takes it out of the JWKS after the next SIGHUP.
    let dropped = parasol(&["keys", "drop", &new], topology.work.path());
    assert!(
        !dropped.status.success(),
        "the current key cannot be dropped"
    );
    assert!(
        stderr(&dropped).contains("rotate first"),
        "{}",
        stderr(&dropped)
    );
    topology.keys(&["drop", &old]);
    topology.gate.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while published_kids(&client, site).await != [new.as_str()] {
        assert!(Instant::now() < deadline, "the old key is still published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = client.get(format!("{site}api/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_and_chats_through_nginx() {
    let topology = Topology::start().await;
    let chrome = Chrome::spawn().await.unwrap();
    chrome.goto(&topology.url).await.unwrap();
    chrome.wait_for("form #username", WAIT).await.unwrap();
    let url = chrome.client().current_url().await.unwrap();
    assert_eq!(url.path(), "/oauth2/sign_in", "{url}");
    assert_eq!(
        url.port(),
        topology
            .nginx
            .url()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .ok()
    );

    chrome
        .wait_for("#username", WAIT)
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    chrome
        .wait_for("#password", WAIT)
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    chrome
        .wait_for("button[type=submit]", WAIT)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let name = chrome
        .wait_until_script(
            "const name = document.querySelector('[data-testid=user-name]');
             return name && name.textContent.trim();",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap_or_else(|error| panic!("not signed in: {error}\n{}", topology.logs()));
    assert_eq!(name, "Alice Liddell");

    let composer = chrome
        .wait_for("[data-testid=composer]", WAIT)
        .await
        .unwrap();
    composer.click().await.unwrap();
    composer.send_keys("Will it be sunny?").await.unwrap();
    composer
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    let answer = chrome
        .wait_for("[data-testid=answer][data-status=complete]", WAIT)
        .await
        .unwrap_or_else(|error| panic!("no answer: {error}\n{}", topology.logs()));
    let text = answer.text().await.unwrap();
    assert!(text.contains("Sunny"), "{text}");
    chrome
        .wait_for("[data-testid=thread-item]", WAIT)
        .await
        .unwrap();
    chrome.close().await.unwrap();
}
