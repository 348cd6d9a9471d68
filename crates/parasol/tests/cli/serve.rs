//! `parasol serve` as a person runs it: first start, sign-in, a chat, a restart on the
//! same data directory, and the ways a start can fail.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{command, cookie_client, fake_openai, stderr, stdout, submit_sign_in};

/// How long a start may take before the test gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `parasol serve`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    /// The site, ending in `/`.
    url: String,
    /// The first user's password, when this start printed one.
    password: Option<String>,
    /// Lines printed on standard output after the first one.
    lines: mpsc::Receiver<String>,
    stderr_file: PathBuf,
}

impl Server {
    /// Starts `parasol serve` on a free port with `data` as its data directory, answering
    /// with the OpenAI-compatible server at `model_url`, and waits until it says where to
    /// point the browser.
    fn start(work: &Path, data: &Path, model_url: &str) -> Self {
        let stderr_file = work.join(format!("serve-{}.log", unique()));
        let data = data.to_str().unwrap();
        let mut child = command(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data,
                "--provider",
                "openai",
                "--base-url",
                model_url,
            ],
            work,
            &[("PARASOL_MODEL__MAX_RETRIES", "0")],
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .unwrap();

        let (sender, lines) = mpsc::channel();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let Ok(first) = lines.recv_timeout(START_TIMEOUT) else {
            let log = std::fs::read_to_string(&stderr_file).unwrap_or_default();
            panic!("parasol serve did not start: {log}");
        };
        let url = first
            .strip_prefix("Parasol is running: open ")
            .and_then(|rest| rest.strip_suffix(" in a browser."))
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();

        // The welcome is printed at once, so its other lines follow without delay.
        let password = lines
            .recv_timeout(Duration::from_millis(500))
            .ok()
            .map(|line| {
                let password = line
                    .strip_prefix("Sign in as `admin` with the password ")
                    .unwrap_or_else(|| panic!("unexpected second line: {line}"));
                let advice = lines.recv_timeout(Duration::from_secs(1)).unwrap();
                assert!(
                    advice.contains("parasol users passwd admin"),
                    "the welcome says how to change the password: {advice}"
                );
                password.to_owned()
            });
        Self {
            child,
            url,
            password,
            lines,
            stderr_file,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) -> String {
        terminate(&self.child);
        let status = wait_for(&mut self.child, Duration::from_secs(20));
        let log = self.log();
        assert_eq!(status, Some(0), "parasol serve stopped cleanly: {log}");
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(&self.child);
            if wait_for(&mut self.child, Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn terminate(child: &Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The exit code once `child` exits, or `None` if it is still running after `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Signs in through the login form, as a person would.
async fn sign_in(client: &reqwest::Client, url: &str, password: &str) {
    let page = client
        .get(format!("{url}oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    submit_sign_in(client, url, &page, "admin", password).await;
}

async fn json(client: &reqwest::Client, url: String) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Signs in, chats once and signs out; returns the thread's id and the JWKS.
async fn first_visit(server: &Server, password: &str) -> (String, serde_json::Value) {
    let url = &server.url;
    let client = cookie_client();
    sign_in(&client, url, password).await;

    let page = client
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let me = json(&client, format!("{url}api/me")).await;
    assert_eq!(me["name"], "admin", "{me}");

    let created = client
        .post(format!("{url}api/threads"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let thread: serde_json::Value = created.json().await.unwrap();
    let id = thread["id"].as_str().unwrap().to_owned();

    let answer = client
        .post(format!("{url}api/threads/{id}/messages"))
        .json(&serde_json::json!({ "content": "Will it be sunny?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let events = tokio::time::timeout(Duration::from_secs(60), answer.text())
        .await
        .expect("the answer's stream ends")
        .unwrap();
    let names: Vec<&str> = events
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(names.last(), Some(&"done"), "{events}");
    assert!(!names.contains(&"error"), "{events}");
    assert!(events.contains("Sunny"), "{events}");

    let threads = json(&client, format!("{url}api/threads")).await;
    assert_eq!(threads["threads"][0]["id"], id.as_str(), "{threads}");
    let jwks = json(&client, format!("{url}oauth2/jwks.json")).await;

    let signed_out = client
        .get(format!("{url}oauth2/sign_out"))
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_redirection());
    let me = client.get(format!("{url}api/me")).send().await.unwrap();
    assert!(
        matches!(me.status().as_u16(), 401 | 302),
        "signed out: {}",
        me.status()
    );
    (id, jwks)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_signs_in_the_first_user_chats_and_keeps_everything_across_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let model = fake_openai();

    let server = Server::start(work.path(), &data, &model);
    let password = server
        .password
        .clone()
        .expect("the first start prints a password");
    assert_eq!(password.len(), 20, "{password}");
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let log = server.log();
    assert!(log.contains("ready in ") && log.contains(" ms"), "{log}");
    assert!(
        !log.contains(&password),
        "the password is never logged: {log}"
    );
    for secret in ["cookie-secret", "keys/current.pem", "users.toml"] {
        assert_eq!(mode(&data.join(secret)), 0o600, "{secret}");
    }
    assert_eq!(mode(&data), 0o700);

    let (thread, jwks) = first_visit(&server, &password).await;
    server.stop();

    let server = Server::start(work.path(), &data, &model);
    assert_eq!(server.password, None, "a later start prints no password");
    assert!(
        server
            .lines
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "a later start prints only the URL"
    );
    let client = cookie_client();
    let url = &server.url;
    assert_eq!(json(&client, format!("{url}oauth2/jwks.json")).await, jwks);
    sign_in(&client, url, &password).await;
    let threads = json(&client, format!("{url}api/threads")).await;
    assert_eq!(threads["threads"][0]["id"], thread.as_str(), "{threads}");
    let detail = json(&client, format!("{url}api/threads/{thread}")).await;
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{detail}");
    assert_eq!(messages[1]["status"], "complete", "{detail}");
    server.stop();
}

/// Runs `parasol serve` in `dir`, expecting it to fail at once.
fn failing_serve(args: &[&str], dir: &Path) -> String {
    let mut all = vec!["serve"];
    if !args.contains(&"--listen") {
        all.extend(["--listen", "127.0.0.1:0"]);
    }
    all.extend_from_slice(args);
    let output = command(&all, dir, &[]).output().unwrap();
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {error}");
    assert_eq!(stdout(&output), "", "{args:?}");
    assert_eq!(error.lines().count(), 1, "{args:?}: one line: {error}");
    assert!(error.starts_with("parasol: "), "{error}");
    error
}

/// Nothing secret was written in `data`.
fn no_secrets_in(data: &Path) {
    for file in ["cookie-secret", "keys", "users.toml", "chat.db"] {
        assert!(!data.join(file).exists(), "{file} was written");
    }
}

const REMOTE_MODEL: [&str; 4] = [
    "--provider",
    "openai",
    "--base-url",
    "http://127.0.0.1:9/v1",
];

#[test]
fn serve_on_a_port_in_use_names_the_address_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();

    let mut args = vec!["--listen", &address];
    args.extend(REMOTE_MODEL);
    let error = failing_serve(&args, dir.path());
    assert!(
        error.contains(&format!("cannot listen on {address}")) && error.contains("--listen"),
        "{error}"
    );
    assert!(!dir.path().join("data").exists());
}

#[test]
fn serve_with_a_data_directory_it_cannot_use_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain-file"), "").unwrap();

    let mut args = vec!["--data-dir", "plain-file"];
    args.extend(REMOTE_MODEL);
    let error = failing_serve(&args, dir.path());
    assert!(
        error.contains("the data directory plain-file is not a directory")
            && error.contains("--data-dir"),
        "{error}"
    );

    let mut args = vec!["--data-dir", "plain-file/data"];
    args.extend(REMOTE_MODEL);
    let error = failing_serve(&args, dir.path());
    assert!(
        error.contains("cannot create the data directory plain-file/data")
            && error.contains("--data-dir"),
        "{error}"
    );
}

#[test]
fn serve_with_a_missing_or_malformed_configuration_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--config", "absent.toml"];
    args.extend(REMOTE_MODEL);
    let error = failing_serve(&args, dir.path());
    assert!(error.contains("absent.toml does not exist"), "{error}");

    std::fs::write(dir.path().join("parasol.toml"), "[serve\nlisten = 8000\n").unwrap();
    let error = failing_serve(&REMOTE_MODEL, dir.path());
    assert!(
        error.contains("parasol.toml") && error.contains("line 1"),
        "{error}"
    );

    std::fs::write(dir.path().join("parasol.toml"), "[chat]\nlisten = 8000\n").unwrap();
    let error = failing_serve(&REMOTE_MODEL, dir.path());
    assert!(
        error.contains("chat.listen") && error.contains("parasol.toml"),
        "{error}"
    );
    no_secrets_in(&dir.path().join("data"));
}

#[test]
#[cfg(feature = "local")]
fn serve_without_a_usable_model_file_says_how_to_fetch_one_and_writes_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let error = failing_serve(&["--model-path", "absent.gguf"], dir.path());
    assert!(
        error.contains("absent.gguf") && error.contains("scripts/fetch-model"),
        "{error}"
    );
    no_secrets_in(&dir.path().join("data"));

    std::fs::write(dir.path().join("damaged.gguf"), "not a model at all").unwrap();
    let error = failing_serve(&["--model-path", "damaged.gguf"], dir.path());
    assert!(
        error.contains("damaged.gguf") && error.contains("not a GGUF model"),
        "{error}"
    );

    // A GGUF header with nothing after it: llama.cpp refuses it, and says why only in
    // lines of its own, which are left out.
    let mut cut_short = b"GGUF\x03\x00\x00\x00".to_vec();
    cut_short.extend([0; 64]);
    std::fs::write(dir.path().join("cut-short.gguf"), cut_short).unwrap();
    let error = failing_serve(&["--model-path", "cut-short.gguf"], dir.path());
    assert!(
        error.contains("cut-short.gguf") && error.contains("may be damaged"),
        "{error}"
    );
    no_secrets_in(&dir.path().join("data"));
}

#[test]
fn serve_with_a_malformed_users_file_names_it_and_adds_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("users.toml"), "[[user]\nname = \"alice\"\n").unwrap();

    let error = failing_serve(&REMOTE_MODEL, dir.path());
    assert!(
        error.contains("users file") && error.contains("users.toml"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("users.toml")).unwrap(),
        "[[user]\nname = \"alice\"\n"
    );
}

#[test]
fn chat_without_identity_keys_names_the_settings_to_make() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["chat", "--listen", "127.0.0.1:0"];
    args.extend(REMOTE_MODEL);
    let output = command(&args, dir.path(), &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("[chat.identity]")
            && error.contains("jwks_url")
            && error.contains("key_file")
            && error.contains("issuer")
            && error.lines().count() == 1,
        "{error}"
    );

    let output = command(
        &args,
        dir.path(),
        &[(
            "PARASOL_CHAT__IDENTITY__JWKS_URL",
            "http://127.0.0.1:9/oauth2/jwks.json",
        )],
    )
    .output()
    .unwrap();
    let error = stderr(&output);
    assert!(
        !output.status.success() && error.contains("issuer is not set"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_alone_serves_its_health_checks_and_refuses_requests_without_a_token() {
    let work = tempfile::tempdir().unwrap();
    let log_file = work.path().join("chat.log");
    let mut args = vec!["chat", "--listen", "127.0.0.1:0"];
    args.extend(REMOTE_MODEL);
    let mut child = command(
        &args,
        work.path(),
        &[
            // Nothing listens there: the JWKS is fetched when a token first needs it.
            (
                "PARASOL_CHAT__IDENTITY__JWKS_URL",
                "http://127.0.0.1:9/oauth2/jwks.json",
            ),
            ("PARASOL_CHAT__IDENTITY__ISSUER", "http://127.0.0.1:9"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log_file).unwrap())
    .spawn()
    .unwrap();

    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let address = loop {
        let log = std::fs::read_to_string(&log_file).unwrap();
        if let Some((_, rest)) = log.split_once("listening on ") {
            break rest.split_once(';').unwrap().0.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline && matches!(child.try_wait(), Ok(None)),
            "parasol chat did not start: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("checked against the JWKS at http://127.0.0.1:9/oauth2/jwks.json"),
        "{log}"
    );

    let client = reqwest::Client::new();
    let ping = client
        .get(format!("http://{address}/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    let me = client
        .get(format!("http://{address}/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    // The chat server's database is SQLite in the data directory unless [database] says
    // otherwise.
    assert!(work.path().join("data/chat.db").exists());

    terminate(&child);
    let status = wait_for(&mut child, Duration::from_secs(20));
    assert_eq!(
        status,
        Some(0),
        "{}",
        std::fs::read_to_string(&log_file).unwrap()
    );
}

#[test]
fn a_start_that_fails_after_making_the_first_user_takes_the_user_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend(REMOTE_MODEL);
    let output = command(
        &args,
        dir.path(),
        &[("PARASOL_GATE__PUBLIC_URL", "ftp://chat.example.com")],
    )
    .output()
    .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("gate.public_url"), "{error}");
    assert_eq!(stdout(&output), "", "no password is shown");
    assert!(
        !dir.path().join("data/users.toml").exists(),
        "a user whose password nobody saw is not kept"
    );
}
