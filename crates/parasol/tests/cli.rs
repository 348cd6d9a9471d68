//! The `parasol` binary as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

use axum::response::IntoResponse;

// In a folder of its own, which Cargo does not take for a second test binary.
#[path = "cli/serve.rs"]
mod serve;
#[path = "cli/topology.rs"]
mod topology;

fn parasol(args: &[&str], dir: &std::path::Path) -> Output {
    parasol_with(args, dir, &[])
}

/// Runs `parasol` in `dir` with `vars` set, and none of the caller's that would change it.
fn parasol_with(args: &[&str], dir: &std::path::Path, vars: &[(&str, &str)]) -> Output {
    command(args, dir, vars).output().unwrap()
}

/// Runs `parasol` in `dir` with `input` on its standard input.
fn parasol_input(args: &[&str], dir: &std::path::Path, input: &str) -> Output {
    use std::io::Write;

    let mut child = command(args, dir, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn command(args: &[&str], dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parasol"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("PARASOL_CONFIG")
        .env_remove("OPENAI_API_KEY")
        .envs(vars.iter().copied());
    command
}

/// The value of the form field `name` in an HTML page, as the gateway writes its forms.
fn form_field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let (_, rest) = page.split_once(&marker)?;
    let (value, _) = rest.split_once('"')?;
    Some(value.replace("&#x2F;", "/").replace("&amp;", "&"))
}

/// A browser without JavaScript: keeps cookies and shows redirects instead of following
/// them.
fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Fills in and posts the gateway's sign-in form, read from `page`, as a browser on
/// `site` (ending in `/`) would, and checks that it signs in and sends the browser on to
/// `/`.
async fn submit_sign_in(
    client: &reqwest::Client,
    site: &str,
    page: &str,
    username: &str,
    password: &str,
) {
    let csrf = form_field(page, "csrf")
        .unwrap_or_else(|| panic!("no csrf field in the sign-in page: {page}"));
    let mut form = vec![
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("csrf", csrf),
    ];
    if let Some(rd) = form_field(page, "rd") {
        form.push(("rd", rd));
    }
    let signed_in = client
        .post(format!("{site}oauth2/sign_in"))
        .header("origin", site.trim_end_matches('/'))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_in.status(),
        303,
        "{}",
        signed_in.text().await.unwrap()
    );
    assert_eq!(signed_in.headers()["location"], "/");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_subcommand_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["ask", "--help"],
        &["config", "--help"],
        &["config", "check", "--help"],
        &["users", "--help"],
        &["users", "add", "--help"],
        &["users", "remove", "--help"],
        &["users", "list", "--help"],
        &["users", "passwd", "--help"],
        &["keys", "--help"],
        &["keys", "list", "--help"],
        &["keys", "rotate", "--help"],
        &["keys", "drop", "--help"],
    ] {
        let output = parasol(args, dir.path());
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage: parasol"), "{args:?}");
    }
    let help = stdout(&parasol(&["ask", "--help"], dir.path()));
    for flag in [
        "--json",
        "--provider",
        "--model",
        "--base-url",
        "--api-key-file",
        "--model-path",
        "--threads",
        "--data-dir",
        "--config",
    ] {
        assert!(help.contains(flag), "ask --help lacks {flag}");
    }
    let help = stdout(&parasol(&["users", "add", "--help"], dir.path()));
    for flag in ["--display-name", "--email", "--group", "--password-stdin"] {
        assert!(help.contains(flag), "users add --help lacks {flag}");
    }
}

#[test]
fn every_server_role_lists_and_explains_each_of_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let model_flags = [
        "--provider",
        "--model",
        "--base-url",
        "--api-key-file",
        "--model-path",
        "--threads",
        "--max-cycles",
        "--system-prompt",
    ];
    let common = ["--listen", "--data-dir", "--config", "--log", "--help"];
    for (role, own) in [
        ("serve", &model_flags[..]),
        ("chat", &model_flags[..]),
        ("gate", &["--upstream"][..]),
    ] {
        let output = parasol(&[role, "--help"], dir.path());
        assert!(output.status.success(), "{role}: {}", stderr(&output));
        let help = stdout(&output);
        for flag in common.iter().chain(own) {
            assert!(help.contains(flag), "{role} --help lacks {flag}");
        }
        for (flag, explanation) in flag_explanations(&help) {
            assert!(
                explanation.split_whitespace().count() >= 2,
                "{role} --help does not explain {flag}: {help}"
            );
        }
    }
}

/// Each option of a `--help` page with its explanation, which clap puts beside it or,
/// when one is long, under each.
fn flag_explanations(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        // Options sit two or six columns in; their explanations, further in.
        if !trimmed.starts_with('-') || indent == 0 || indent > 6 {
            continue;
        }
        let (flag, beside) = trimmed.split_once("  ").unwrap_or((trimmed, ""));
        let under = lines[index + 1..].iter().take_while(|next| {
            let text = next.trim_start();
            !text.is_empty() && !text.starts_with('-') && next.len() - text.len() > indent
        });
        let explanation: Vec<&str> = std::iter::once(beside.trim())
            .chain(under.map(|next| next.trim()))
            .filter(|text| !text.is_empty())
            .collect();
        found.push((flag.to_owned(), explanation.join(" ")));
    }
    assert!(!found.is_empty(), "no options in: {help}");
    found
}

#[test]
fn config_check_redacts_the_database_password_but_shows_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let output = parasol_with(
        &["config", "check"],
        dir.path(),
        &[(
            "PARASOL_DATABASE__URL",
            "postgres://parasol:db-very-secret@db.internal/chat",
        )],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains("url = \"postgres://parasol:[redacted]@db.internal/chat\""),
        "{printed}"
    );
    assert!(printed.contains("[chat.identity]") && printed.contains("[serve]"));
    let everything = printed + &stderr(&output);
    assert!(!everything.contains("very-secret"), "{everything}");
}

#[test]
fn config_check_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parasol.toml"),
        "[model]\nprovider = \"openai\"\nname = \"gpt-4o-mini\"\napi_key = \"sk-very-secret\"\n",
    )
    .unwrap();
    let output = parasol_with(
        &["config", "check"],
        dir.path(),
        &[("PARASOL_AGENT__MAX_CYCLES", "3")],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("provider = \"openai\""), "{printed}");
    assert!(
        printed.contains("max_cycles = 3"),
        "the environment overrides: {printed}"
    );
    assert!(printed.contains("api_key = \"[redacted]\""), "{printed}");
    assert!(!printed.contains("sk-very-secret") && !stderr(&output).contains("sk-very-secret"));
}

#[test]
fn config_check_marks_the_gateway_secrets_without_printing_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parasol.toml"),
        concat!(
            "[gate]\ncookie_secret = \"cookie-very-secret-0123456789abcdef\"\n",
            "[[gate.oidc]]\nid = \"google\"\nissuer = \"https://accounts.google.com\"\n",
            "client_id = \"parasol\"\nclient_secret = \"oidc-very-secret\"\n",
        ),
    )
    .unwrap();
    let output = parasol(&["config", "check"], dir.path());

    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("[gate.local_users]"), "{printed}");
    assert!(
        printed.contains("cookie_secret = \"[redacted]\"")
            && printed.contains("client_secret = \"[redacted]\""),
        "{printed}"
    );
    let everything = printed + &stderr(&output);
    assert!(!everything.contains("very-secret"), "{everything}");
}

#[test]
fn a_wrong_key_or_value_is_reported_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parasol.toml"),
        "[model]\nprovder = \"openai\"\n",
    )
    .unwrap();
    let output = parasol(&["config", "check"], dir.path());
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("unknown field")
            && error.contains("provder")
            && error.contains("parasol.toml"),
        "{error}"
    );

    std::fs::write(
        dir.path().join("parasol.toml"),
        "[model]\nthreads = \"many\"\n",
    )
    .unwrap();
    let error = stderr(&parasol(&["config", "check"], dir.path()));
    assert!(
        error.contains("model.threads") && error.contains("parasol.toml"),
        "{error}"
    );

    let error = stderr(&parasol(
        &["config", "check", "--config", "absent.toml"],
        dir.path(),
    ));
    assert!(error.contains("absent.toml does not exist"), "{error}");
}

const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Sunny\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" all week.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":4,\"total_tokens\":24}}\n\n",
    "data: [DONE]\n\n",
);

/// Serves one OpenAI-compatible streamed answer on a free port, from its own thread.
fn fake_openai() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(|| async {
                ([("content-type", "text/event-stream")], STREAM).into_response()
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

#[test]
fn ask_streams_the_answer_from_an_openai_compatible_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = fake_openai();
    let output = parasol(
        &[
            "ask",
            "--provider",
            "openai",
            "--base-url",
            &url,
            "Will it be sunny?",
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Sunny all week.\n");

    let output = parasol(
        &[
            "ask",
            "--json",
            "--provider",
            "openai",
            "--base-url",
            &url,
            "Sunny?",
        ],
        dir.path(),
    );
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        events[0],
        serde_json::json!({ "type": "text_delta", "text": "Sunny" })
    );
    assert_eq!(events.last().unwrap()["usage"]["input_tokens"], 20);
}

#[test]
fn ask_with_an_unreachable_provider_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let output = parasol_with(
        &["ask", "--provider", "openai", "--base-url", &url, "hello"],
        dir.path(),
        &[("PARASOL_MODEL__MAX_RETRIES", "0")],
    );
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains(&url) && error.contains("check that the server is running"),
        "{error}"
    );
}

#[test]
#[cfg(feature = "local")]
fn ask_without_the_model_file_says_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = parasol(&["ask", "--data-dir", "empty", "hello"], dir.path());
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("empty/models/SmolLM2-135M-Instruct.Q4_1.gguf")
            && error.contains("scripts/fetch-model"),
        "{error}"
    );
}

/// An OpenAI-compatible server whose first answer calls `get_daily_forecast` and whose
/// second answers in text, and an Open-Meteo server with a three-day forecast; returns
/// their base URLs and what the model server was sent.
fn fake_weather_world() -> (
    String,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use std::sync::{Arc, Mutex};

    let call = concat!(
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_daily_forecast\",\"arguments\":\"{\\\"days\\\":\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" 3}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let forecast = serde_json::json!({
        "latitude": 40.4375, "longitude": -3.6875, "generationtime_ms": 0.05, "utc_offset_seconds": 3600,
        "timezone": "Europe/Madrid", "timezone_abbreviation": "GMT+1", "elevation": 666.0,
        "daily_units": { "time": "iso8601", "weather_code": "wmo code", "temperature_2m_max": "°C",
            "temperature_2m_min": "°C", "precipitation_sum": "mm", "precipitation_probability_max": "%" },
        "daily": { "time": ["2026-12-03", "2026-12-04", "2026-12-05"], "weather_code": [61, 3, 0],
            "temperature_2m_max": [12.6, 11.2, 10.4], "temperature_2m_min": [2.3, 3.1, 1.4],
            "precipitation_sum": [1.6, 0.0, 0.0], "precipitation_probability_max": [61, 18, 7] }
    });
    let received = Arc::new(Mutex::new(Vec::new()));
    let model = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let meteo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let urls = (
        format!("http://{}/v1", model.local_addr().unwrap()),
        format!("http://{}", meteo.local_addr().unwrap()),
    );
    let seen = Arc::clone(&received);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            for listener in [&model, &meteo] {
                listener.set_nonblocking(true).unwrap();
            }
            let model = tokio::net::TcpListener::from_std(model).unwrap();
            let meteo = tokio::net::TcpListener::from_std(meteo).unwrap();
            let chat = axum::Router::new().fallback(move |body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let mut seen = seen.lock().unwrap();
                    seen.push(serde_json::from_slice(&body).unwrap());
                    let answer = if seen.len() == 1 { call } else { STREAM };
                    ([("content-type", "text/event-stream")], answer).into_response()
                }
            });
            let weather = axum::Router::new()
                .fallback(move || async move { axum::Json(forecast).into_response() });
            tokio::spawn(async move { axum::serve(meteo, weather).await.unwrap() });
            axum::serve(model, chat).await.unwrap();
        });
    });
    (urls.0, urls.1, received)
}

#[test]
fn ask_runs_the_weather_tools_the_model_calls_and_shows_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let (model_url, meteo_url, received) = fake_weather_world();
    let output = parasol_with(
        &[
            "ask",
            "--provider",
            "openai",
            "--base-url",
            &model_url,
            "--starter",
            "3",
        ],
        dir.path(),
        &[("PARASOL_WEATHER__BASE_URL", &meteo_url)],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Sunny all week.\n");
    let steps = stderr(&output);
    assert!(
        steps.contains("Make a weather forecast for the next 7 days."),
        "{steps}"
    );
    assert!(
        steps.contains("▶ get_daily_forecast {\"days\":3}"),
        "{steps}"
    );
    assert!(steps.contains("✓ get_daily_forecast"), "{steps}");

    let received = received.lock().unwrap();
    let first = &received[0];
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("weather assistant for Madrid") && system.contains("Europe/Madrid"),
        "{system}"
    );
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"get_daily_forecast")
            && tools.contains(&"calculator")
            && tools.contains(&"batch"),
        "{tools:?}"
    );
    let result = &received[1]["messages"][3];
    assert_eq!(result["role"], "tool");
    assert!(
        result["content"]
            .as_str()
            .unwrap()
            .contains("\"weather\":\"slight rain\""),
        "{result}"
    );
}

#[test]
fn an_unknown_tool_in_the_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parasol.toml"),
        "[agent]\ntools = [\"get_daily_forecast\", \"teleport\"]\n",
    )
    .unwrap();
    let output = parasol(
        &[
            "ask",
            "--provider",
            "openai",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "hi",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("`teleport`") && error.contains("get_hourly_weather_data"),
        "{error}"
    );
}

#[test]
fn an_added_user_is_listed_without_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let output = parasol_input(
        &[
            "users",
            "add",
            "alice",
            "--display-name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
            "--group",
            "staff",
            "--group",
            "admins",
            "--password-stdin",
        ],
        dir.path(),
        "correct horse battery\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("added user alice to data/users.toml"),
        "{}",
        stderr(&output)
    );
    let file = std::fs::read_to_string(dir.path().join("data/users.toml")).unwrap();
    assert!(file.contains("$argon2id$"), "{file}");
    assert!(!file.contains("correct horse"), "{file}");

    let output = parasol(&["users", "list"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = stdout(&output);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("GROUPS"),
        "{listed}"
    );
    assert!(
        lines[1].contains("alice")
            && lines[1].contains("Alice Liddell")
            && lines[1].contains("alice@example.com")
            && lines[1].contains("staff, admins"),
        "{listed}"
    );
    assert_eq!(
        lines[0].find("EMAIL"),
        lines[1].find("alice@"),
        "aligned: {listed}"
    );
    assert!(
        !listed.contains("argon2") && !listed.contains('$'),
        "{listed}"
    );
}

#[test]
fn adding_a_name_that_is_taken_fails_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let add = |name: &str| {
        parasol_input(
            &["users", "add", name, "--password-stdin"],
            dir.path(),
            "correct horse battery\n",
        )
    };
    assert!(add("alice").status.success());

    let output = add("ALICE");
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("a user named `alice` already exists") && error.lines().count() == 1,
        "{error}"
    );
}

#[test]
fn a_short_or_missing_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = parasol_input(
        &["users", "add", "alice", "--password-stdin"],
        dir.path(),
        "short\n",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least 8 characters"),
        "{}",
        stderr(&output)
    );

    let output = parasol_input(
        &["users", "add", "alice", "--password-stdin"],
        dir.path(),
        "",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no password on standard input"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("data/users.toml").exists());
}

#[test]
fn passwd_replaces_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("data/users.toml");
    let output = parasol_input(
        &["users", "add", "alice", "--password-stdin"],
        dir.path(),
        "correct horse battery\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let before = std::fs::read_to_string(&users_file).unwrap();

    let output = parasol_input(
        &["users", "passwd", "Alice", "--password-stdin"],
        dir.path(),
        "tr0ub4dor & 3\r\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("changed the password of alice"));
    let after = std::fs::read_to_string(&users_file).unwrap();
    assert_ne!(before, after);
    assert!(after.contains("name = \"alice\"") && after.contains("$argon2id$"));

    let output = parasol_input(
        &["users", "passwd", "bob", "--password-stdin"],
        dir.path(),
        "tr0ub4dor & 3\n",
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("there is no user named `bob`"));
}

#[test]
fn remove_deletes_the_user_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = parasol_input(
        &["users", "add", "alice", "--password-stdin"],
        dir.path(),
        "correct horse battery\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let output = parasol(&["users", "remove", "alice"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("removed user alice from data/users.toml"));
    let output = parasol(&["users", "list"], dir.path());
    assert!(output.status.success());
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("no users in data/users.toml"));

    let output = parasol(&["users", "remove", "alice"], dir.path());
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("there is no user named `alice` in data/users.toml")
            && error.contains("parasol users list")
            && error.lines().count() == 1,
        "{error}"
    );
}
