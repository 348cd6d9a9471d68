//! `parasol serve` in a real browser: headless Chromium signs in, asks a starter question,
//! watches the answer stream with its tool step, rates and copies it, stops a long answer,
//! reopens the thread after a reload, and signs out.
//!
//! The model and Open-Meteo are local servers speaking their wire formats. Screenshots go
//! to `docs/screenshots/` with `PARASOL_SCREENSHOTS=1`, to a temporary folder otherwise;
//! a wait that times out saves one of the moment it gave up (its error says where).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use fantoccini::Locator;
use fantoccini::key::Key;
use parasol_testkit::Chrome;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// How long `parasol serve` may take to say it is running.
const START: Duration = Duration::from_secs(90);

/// How long any one thing the test waits for in the browser may take.
const WAIT: Duration = Duration::from_secs(60);

/// How long the whole walk through the site may take.
const WHOLE_TEST: Duration = Duration::from_secs(420);

/// How long the fake model pauses between the chunks of an answer.
const CHUNK_PAUSE: Duration = Duration::from_millis(100);

/// The question whose answer streams for minutes, so that it can be stopped.
const LONG: &str = "long";

// ---------------------------------------------------------------------------------------
// The fake model: an OpenAI-compatible chat-completions server.

/// One streamed chunk of a chat completion, as an SSE frame.
fn chunk(delta: &Value, finish_reason: Option<&str>) -> Bytes {
    let frame = json!({
        "id": "chatcmpl-browser",
        "object": "chat.completion.chunk",
        "created": 1_765_000_000,
        "model": "fake-weather",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
    });
    Bytes::from(format!("data: {frame}\n\n"))
}

/// The end of a stream: token usage, then `[DONE]`.
fn ending() -> Vec<Bytes> {
    let usage = json!({
        "id": "chatcmpl-browser",
        "object": "chat.completion.chunk",
        "created": 1_765_000_000,
        "model": "fake-weather",
        "choices": [],
        "usage": { "prompt_tokens": 412, "completion_tokens": 160, "total_tokens": 572 },
    });
    vec![
        Bytes::from(format!("data: {usage}\n\n")),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ]
}

/// A call of `get_daily_forecast` for three days, its arguments split over two chunks as
/// OpenAI sends them.
fn tool_call() -> Vec<Bytes> {
    let start = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{
            "index": 0,
            "id": "call_forecast",
            "type": "function",
            "function": { "name": "get_daily_forecast", "arguments": "{\"days\":" },
        }],
    });
    let rest = json!({ "tool_calls": [{ "index": 0, "function": { "arguments": " 3}" } }] });
    let mut frames = vec![chunk(&start, None), chunk(&rest, None)];
    frames.push(chunk(&json!({}), Some("tool_calls")));
    frames.extend(ending());
    frames
}

/// The weather answer in markdown, for the three days the tool returned.
fn forecast_markdown(days: &[String]) -> String {
    let day = |index: usize| days.get(index).map_or("?", String::as_str);
    format!(
        "## Madrid: the next 3 days\n\n\
         Yes, **rain is likely today**, mostly in the afternoon; then it dries out and \
         turns colder.\n\n\
         - **{today}**: moderate rain, 61% chance, about 1.6 mm\n\
         - **{second}**: overcast and dry\n\
         - **{third}**: partly cloudy, the coldest night\n\n\
         | Day | Sky | High | Low | Rain |\n\
         | --- | --- | ---: | ---: | ---: |\n\
         | {today} | Moderate rain | 12.6 °C | 2.3 °C | 61% |\n\
         | {second} | Overcast | 11.2 °C | 3.1 °C | 18% |\n\
         | {third} | Partly cloudy | 10.4 °C | 1.4 °C | 7% |\n\n\
         Take an umbrella today.",
        today = day(0),
        second = day(1),
        third = day(2),
    )
}

/// `text` in about `count` pieces of a few words each, which join back into `text`.
fn pieces(text: &str, count: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive([' ', '\n']).collect();
    let per_piece = words.len().div_ceil(count).max(1);
    words
        .chunks(per_piece)
        .map(|group| group.concat())
        .collect()
}

/// `text` streamed as content deltas, then the end of the stream.
fn text_stream(text: &[String]) -> Vec<Bytes> {
    let mut frames = vec![chunk(&json!({ "role": "assistant", "content": "" }), None)];
    frames.extend(
        text.iter()
            .map(|piece| chunk(&json!({ "content": piece }), None)),
    );
    frames.push(chunk(&json!({}), Some("stop")));
    frames.extend(ending());
    frames
}

/// An SSE response that sends `frames` with [`CHUNK_PAUSE`] between them.
fn slow_sse(frames: Vec<Bytes>) -> Response {
    let stream = futures::stream::unfold(frames.into_iter(), |mut frames| async move {
        let frame = frames.next()?;
        tokio::time::sleep(CHUNK_PAUSE).await;
        Some((Ok::<_, std::convert::Infallible>(frame), frames))
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// What the model is asked, kept for the test to look at.
type Requests = Arc<Mutex<Vec<Value>>>;

/// Answers as the conversation asks: a tool call for a new weather question, the
/// markdown answer once the tool's result is in, and minutes of counting for [`LONG`].
async fn complete(requests: Requests, body: Json<Value>) -> Response {
    let Json(body) = body;
    requests.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or_default();

    if last["role"] == "tool" {
        let days = forecast_days(&last["content"]);
        return slow_sse(text_stream(&pieces(&forecast_markdown(&days), 40)));
    }
    let asked = last["content"].as_str().unwrap_or_default();
    if asked.trim() == LONG {
        let counting: Vec<String> = (1..=3000).map(|n| format!("{n}, ")).collect();
        let mut words = vec!["Counting slowly, as asked: ".to_owned()];
        words.extend(counting);
        return slow_sse(text_stream(&words));
    }
    slow_sse(tool_call())
}

/// The weekdays in the tool's result, as the agent fed it back.
fn forecast_days(content: &Value) -> Vec<String> {
    let output: Value = content
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    output["days"]
        .as_array()
        .map(|days| {
            days.iter()
                .filter_map(|day| day["weekday"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The fake Open-Meteo: the daily forecast from the Madrid fixture, dated from today.

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../parasol-tools/tests/fixtures/open_meteo_madrid.json"
);

/// `GET /v1/forecast?daily=...&forecast_days=N`, answered from the fixture's sixteen days.
async fn forecast(fixture: Arc<Value>, query: Query<Vec<(String, String)>>) -> Response {
    let Query(query) = query;
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let count: usize = param("forecast_days")
        .and_then(|days| days.parse().ok())
        .unwrap_or(7);
    let Some(fields) = param("daily") else {
        let refusal = json!({ "error": true, "reason": "this fake serves daily forecasts only" });
        return (axum::http::StatusCode::BAD_REQUEST, Json(refusal)).into_response();
    };

    let today = jiff::Timestamp::now()
        .in_tz("Europe/Madrid")
        .unwrap()
        .date();
    let dates: Vec<String> = (0..count)
        .map(|offset| {
            let offset = i64::try_from(offset).unwrap();
            today
                .checked_add(jiff::Span::new().days(offset))
                .unwrap()
                .to_string()
        })
        .collect();
    let mut daily = json!({ "time": dates });
    let mut units = json!({ "time": "iso8601" });
    for field in fields.split(',') {
        let values = fixture["daily_days"][field].as_array().unwrap();
        daily[field] = Value::Array(values[..count].to_vec());
        units[field] = fixture["daily_units"][field].clone();
    }

    let mut answer = json!({ "daily_units": units, "daily": daily });
    for key in [
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
    ] {
        answer[key] = fixture[key].clone();
    }
    Json(answer).into_response()
}

/// Starts the fake model and the fake Open-Meteo; returns their base URLs and what the
/// model is asked.
async fn fake_world() -> (String, String, Requests) {
    let requests = Requests::default();
    let seen = Arc::clone(&requests);
    let model = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body| complete(Arc::clone(&seen), body)),
    );
    let fixture: Arc<Value> =
        Arc::new(serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap());
    let meteo = axum::Router::new().route(
        "/v1/forecast",
        axum::routing::get(move |query| forecast(Arc::clone(&fixture), query)),
    );
    let model = serve(model).await;
    let meteo = serve(meteo).await;
    (format!("{model}/v1"), meteo, requests)
}

/// Serves `app` on a free port; returns `http://127.0.0.1:<port>`.
async fn serve(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------
// The site.

/// A running `parasol serve`, killed when dropped.
struct Site {
    _child: Child,
    /// The site, ending in `/`.
    url: String,
    /// The first user's password, as the server printed it.
    password: String,
}

impl Site {
    /// Starts the built binary on a free port with a fresh data directory in `work`, and
    /// reads where it runs and the admin's password from what it prints.
    async fn start(work: &Path, model_url: &str, meteo_url: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parasol"));
        // The test's own variables (`PARASOL_SCREENSHOTS`) would be unknown settings.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PARASOL_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(work.join("data"))
            .args(["--provider", "openai", "--base-url", model_url])
            .current_dir(work)
            .env_remove("OPENAI_API_KEY")
            .env("PARASOL_MODEL__MAX_RETRIES", "0")
            .env("PARASOL_WEATHER__BASE_URL", meteo_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = log.next_line().await {
                eprintln!("[parasol serve] {line}");
            }
        });

        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let welcome = async {
            let (mut url, mut password) = (None, None);
            while let Some(line) = out.next_line().await.unwrap() {
                eprintln!("[parasol serve] {line}");
                if let Some(rest) = line.strip_prefix("Parasol is running: open ") {
                    url = rest.strip_suffix(" in a browser.").map(str::to_owned);
                }
                if let Some(rest) = line.strip_prefix("Sign in as `admin` with the password ") {
                    password = Some(rest.to_owned());
                }
                if let (Some(url), Some(password)) = (&url, &password) {
                    return (url.clone(), password.clone());
                }
            }
            panic!(
                "parasol serve stopped before it printed the site and the password (its log is above)"
            );
        };
        let (url, password) = tokio::time::timeout(START, welcome)
            .await
            .unwrap_or_else(|_| panic!("parasol serve did not start within {START:?}"));
        // Keep standard output drained.
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            _child: child,
            url,
            password,
        }
    }
}

/// Where the screenshots go: the project's `docs/screenshots/` with
/// `PARASOL_SCREENSHOTS=1`, a temporary folder (held by the second value) otherwise.
fn screenshot_folder() -> (PathBuf, Option<tempfile::TempDir>) {
    if std::env::var("PARASOL_SCREENSHOTS").is_ok_and(|value| value == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        return (docs, None);
    }
    let temporary = tempfile::tempdir().unwrap();
    (temporary.path().to_owned(), Some(temporary))
}

// ---------------------------------------------------------------------------------------
// The walk through the site, one step per function.

/// JavaScript: the last answer's status and its text's length, once it has some text.
const LAST_ANSWER: &str = "const answers = document.querySelectorAll('[data-testid=answer]');
    const answer = answers[answers.length - 1];
    if (!answer) return null;
    const body = answer.querySelector('.answer-body');
    const length = (body ? body.innerText : answer.innerText).trim().length;
    return length > 0 ? { status: answer.dataset.status, length } : null;";

/// JavaScript: whether every animation that ends (a transition, not a spinner) has ended.
const SETTLED: &str = "return document.getAnimations().every((animation) =>
    animation.playState !== 'running'
        || animation.effect.getComputedTiming().iterations === Infinity);";

/// Opens the site signed out, lands on the sign-in page, and signs in as the admin.
async fn sign_in(chrome: &Chrome, site: &Site, shots: &Path) {
    chrome.goto(&site.url).await.unwrap();
    chrome.wait_for("form #username", WAIT).await.unwrap();
    let url = chrome.client().current_url().await.unwrap();
    assert_eq!(
        url.path(),
        "/oauth2/sign_in",
        "redirected to sign in: {url}"
    );
    chrome.screenshot(shots.join("sign-in.png")).await.unwrap();

    let username = chrome.wait_for("#username", WAIT).await.unwrap();
    username.send_keys("admin").await.unwrap();
    let password = chrome.wait_for("#password", WAIT).await.unwrap();
    password.send_keys(&site.password).await.unwrap();
    let submit = chrome.wait_for("button[type=submit]", WAIT).await.unwrap();
    submit.click().await.unwrap();

    // Either the chat page names the user, or the sign-in page says what went wrong.
    let outcome = chrome
        .wait_until_script(
            "const name = document.querySelector('[data-testid=user-name]');
             if (name && name.textContent.trim()) return { name: name.textContent.trim() };
             const error = document.querySelector('p.error');
             return error && { error: error.textContent };",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap();
    if outcome["name"] != "admin" {
        let screenshot = failure_screenshot(chrome).await;
        panic!("the sign-in form did not sign in: {outcome}; screenshot: {screenshot}");
    }
}

/// Clicks the first starter and follows the answer: the tool step, text growing while
/// it is generated, then the rendered markdown once it is complete.
async fn ask_a_starter(chrome: &Chrome) {
    let starter = chrome
        .wait_for("[data-testid=starter]", WAIT)
        .await
        .unwrap();
    starter.click().await.unwrap();

    let tool = chrome
        .wait_until_script(
            "const tool = document.querySelector('[data-testid=step] .step-tool');
             return tool && tool.textContent === 'get_daily_forecast' && tool.textContent;",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(tool, "get_daily_forecast");

    let first = chrome
        .wait_until_script(LAST_ANSWER, Vec::new(), WAIT)
        .await
        .unwrap();
    assert_eq!(
        first["status"], "generating",
        "text while generating: {first}"
    );
    let grown = chrome
        .wait_until_script(
            &format!(
                "const seen = (() => {{ {LAST_ANSWER} }})();
                 return seen && seen.length > arguments[0] && seen;"
            ),
            vec![first["length"].clone()],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(grown["status"], "generating", "still generating: {grown}");

    let answer = chrome
        .wait_for("[data-testid=answer][data-status=complete]", WAIT)
        .await
        .unwrap();
    for tag in ["h2", "li", "table", "td"] {
        let found = answer.find_all(Locator::Css(tag)).await.unwrap();
        assert!(!found.is_empty(), "the answer has no <{tag}>");
    }
    let text = answer.text().await.unwrap();
    assert!(text.contains("Take an umbrella today."), "{text}");
    let step = chrome
        .wait_for("[data-testid=step]:not(.is-running)", WAIT)
        .await
        .unwrap();
    assert!(step.text().await.unwrap().contains("get_daily_forecast"));
}

/// Screenshots of the finished answer, at desktop and at phone width.
async fn take_chat_screenshots(chrome: &Chrome, shots: &Path) {
    // Settle the page: the answer's actions and the thread list come in after the end.
    chrome
        .wait_for("[data-testid=thread-item]", WAIT)
        .await
        .unwrap();
    chrome.screenshot(shots.join("chat.png")).await.unwrap();

    chrome.set_window_size(360, 800).await.unwrap();
    chrome
        .wait_until_script("return window.innerWidth === 360;", Vec::new(), WAIT)
        .await
        .unwrap();
    // The sidebar slides away as the page turns narrow: wait until it has gone.
    chrome
        .wait_until_script(SETTLED, Vec::new(), WAIT)
        .await
        .unwrap();
    chrome
        .client()
        .execute(
            "document.querySelector('[data-testid=user-message]').scrollIntoView();",
            Vec::new(),
        )
        .await
        .unwrap();
    chrome
        .screenshot(shots.join("chat-phone.png"))
        .await
        .unwrap();
    chrome.set_window_size(1280, 900).await.unwrap();
}

/// Thumbs up on the finished answer, saved by the server, and the copy button.
async fn rate_and_copy_the_answer(chrome: &Chrome) {
    let up = chrome
        .wait_for(
            "[data-testid=answer][data-status=complete] [data-testid=feedback-up]",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        up.attr("aria-pressed").await.unwrap().as_deref(),
        Some("false")
    );
    up.click().await.unwrap();
    chrome
        .wait_for("[data-testid=feedback-up][aria-pressed=true]", WAIT)
        .await
        .unwrap();

    let copy = chrome.wait_for("[data-testid=copy]", WAIT).await.unwrap();
    copy.click().await.unwrap();
    let said = chrome
        .wait_until_script(
            "const text = document.querySelector('[data-testid=copy]').textContent;
             return text !== 'Copy' && text;",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(said, "Copied", "the copy button says what happened");
}

/// Sends [`LONG`] with Enter, lets some of its answer arrive, and stops it.
async fn stop_a_long_answer(chrome: &Chrome) {
    let composer = chrome
        .wait_for("[data-testid=composer]", WAIT)
        .await
        .unwrap();
    composer.click().await.unwrap();
    composer
        .send_keys(&format!("{LONG}{}", Key::Enter))
        .await
        .unwrap();

    chrome
        .wait_until_script(
            "const answers = document.querySelectorAll('[data-testid=answer]');
             const answer = answers[1];
             return answer && answer.dataset.status === 'generating'
                 && answer.innerText.includes('Counting slowly, as asked: 1, 2,');",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap();
    let stop = chrome
        .wait_for("[data-testid=stop]:not([hidden])", WAIT)
        .await
        .unwrap();
    stop.click().await.unwrap();
    chrome
        .wait_for("[data-testid=answer][data-status=stopped]", WAIT)
        .await
        .unwrap();
}

/// Reloads the page, finds the thread in the sidebar, opens a new chat, and reopens the
/// thread: both answers are back, the first with its table, the second marked stopped.
async fn reopen_the_thread(chrome: &Chrome) {
    chrome.client().refresh().await.unwrap();
    let thread = chrome
        .wait_for("[data-testid=thread-item] a", WAIT)
        .await
        .unwrap();
    let title = thread.text().await.unwrap();
    assert!(title.contains("Is going to rain today?"), "{title}");

    let new_chat = chrome
        .wait_for("[data-testid=new-thread]", WAIT)
        .await
        .unwrap();
    new_chat.click().await.unwrap();
    chrome
        .wait_until_script(
            "return document.querySelectorAll('[data-testid=answer]').length === 0;",
            Vec::new(),
            WAIT,
        )
        .await
        .unwrap();

    let thread = chrome
        .wait_for("[data-testid=thread-item] a", WAIT)
        .await
        .unwrap();
    thread.click().await.unwrap();
    chrome
        .wait_for("[data-testid=answer][data-status=complete] table", WAIT)
        .await
        .unwrap();
    // The thumbs up was saved, not just shown.
    chrome
        .wait_for(
            "[data-testid=answer][data-status=complete] [data-testid=feedback-up][aria-pressed=true]",
            WAIT,
        )
        .await
        .unwrap();
    chrome
        .wait_for("[data-testid=answer][data-status=stopped]", WAIT)
        .await
        .unwrap();
    let answers = chrome
        .client()
        .find_all(Locator::Css("[data-testid=answer]"))
        .await
        .unwrap();
    assert_eq!(answers.len(), 2);
    assert!(
        chrome
            .client()
            .find(Locator::Css("[data-testid=step]"))
            .await
            .is_ok()
    );
}

/// Signs out and lands on the sign-in page again.
async fn sign_out(chrome: &Chrome) {
    let link = chrome
        .wait_for("[data-testid=sign-out]", WAIT)
        .await
        .unwrap();
    link.click().await.unwrap();
    chrome.wait_for("form #username", WAIT).await.unwrap();
    let url = chrome.client().current_url().await.unwrap();
    assert_eq!(
        url.path(),
        "/oauth2/sign_in",
        "back at the sign-in page: {url}"
    );
}

/// Saves what the browser shows to the failures folder; returns where.
async fn failure_screenshot(chrome: &Chrome) -> String {
    let path = std::env::temp_dir()
        .join(parasol_testkit::chrome::FAILURE_SCREENSHOTS)
        .join(format!("browser-test-{}.png", std::process::id()));
    match chrome.screenshot(&path).await {
        Ok(()) => path.display().to_string(),
        Err(error) => format!("(no screenshot: {error})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_chats_with_a_tool_step_stops_an_answer_and_signs_out() {
    let work = tempfile::tempdir().unwrap();
    let (model_url, meteo_url, requests) = fake_world().await;
    let site = Site::start(work.path(), &model_url, &meteo_url).await;
    let (shots, _temporary) = screenshot_folder();
    let chrome = Chrome::spawn().await.unwrap();

    let walk = async {
        sign_in(&chrome, &site, &shots).await;
        ask_a_starter(&chrome).await;
        take_chat_screenshots(&chrome, &shots).await;
        rate_and_copy_the_answer(&chrome).await;
        stop_a_long_answer(&chrome).await;
        reopen_the_thread(&chrome).await;
        sign_out(&chrome).await;
    };
    if tokio::time::timeout(WHOLE_TEST, walk).await.is_err() {
        let screenshot = failure_screenshot(&chrome).await;
        panic!("the walk through the site took over {WHOLE_TEST:?}; screenshot: {screenshot}");
    }

    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "tool call, answer, long answer");
    let tool_result = requests[1]["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(tool_result["role"], "tool");
    chrome.close().await.unwrap();
}
