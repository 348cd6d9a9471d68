//! Headless Chromium: a page with a script under a strict content security policy, a
//! click, a wait, a screenshot, a missing driver, and no browser left behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use parasol_testkit::chrome::FAILURE_SCREENSHOTS;
use parasol_testkit::{Chrome, ChromeError, ChromeSetup};
use serde_json::json;

use crate::support::serve;

const WAIT: Duration = Duration::from_secs(20);

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Counter</title>
<script src="/app.js" defer></script></head>
<body><h1 id="greeting">Not clicked</h1><button id="go">Click me</button>
<script>document.getElementById('greeting').textContent = 'inline ran';</script>
</body></html>"#;

const SCRIPT: &str = "document.getElementById('go').addEventListener('click', () => {
    setTimeout(() => {
        const greeting = document.getElementById('greeting');
        greeting.textContent = 'Clicked';
        greeting.dataset.status = 'complete';
    }, 300);
});";

/// The page and its script, with a policy that allows scripts from the same origin only:
/// the inline script must not run.
async fn site() -> String {
    let policy = ("content-security-policy", "script-src 'self'");
    let app = Router::new()
        .route(
            "/",
            get(move || async move { ([("content-type", "text/html"), policy], PAGE) }),
        )
        .route(
            "/app.js",
            get(|| async { ([("content-type", "text/javascript")], SCRIPT).into_response() }),
        );
    format!("http://127.0.0.1:{}/", serve(app).await)
}

/// The ids of the processes whose command line names `folder`.
fn processes_mentioning(folder: &Path) -> Vec<String> {
    let needle = folder.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&line)
                .contains(needle)
                .then(|| pid.to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_click_runs_the_pages_own_script_and_the_screenshot_is_a_png() {
    let url = site().await;
    let chrome = Chrome::spawn().await.unwrap();

    chrome.goto(&url).await.unwrap();
    let viewport = chrome
        .client()
        .execute(
            "return [window.innerWidth, window.innerHeight];",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(viewport, json!([1280, 900]));
    // The policy kept the inline script from running.
    let greeting = chrome.wait_for("#greeting", WAIT).await.unwrap();
    assert_eq!(greeting.text().await.unwrap(), "Not clicked");
    chrome
        .wait_for("#go", WAIT)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = chrome
        .wait_until_script(
            "return document.querySelector(arguments[0])?.dataset.status;",
            vec![json!("#greeting")],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(status, "complete");
    chrome
        .wait_until("the greeting to say Clicked", WAIT, |client| async move {
            let greeting = client.find(fantoccini::Locator::Css("#greeting")).await?;
            Ok(greeting.text().await? == "Clicked")
        })
        .await
        .unwrap();

    let shots = tempfile::tempdir().unwrap();
    let path = shots.path().join("nested/clicked.png");
    chrome.set_window_size(360, 800).await.unwrap();
    chrome.screenshot(&path).await.unwrap();
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The width sits in the IHDR chunk, right after the signature; device pixels are CSS
    // pixels in headless Chromium.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 360);

    chrome.close().await.unwrap();
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_waited_for_and_keeps_a_screenshot() {
    let url = site().await;
    let chrome = Chrome::spawn().await.unwrap();
    chrome.goto(&url).await.unwrap();

    let error = chrome
        .wait_for("#never", Duration::from_millis(300))
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("`#never`"), "{message}");
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("Click me"), "{message}");
    let ChromeError::Timeout { screenshot, .. } = error else {
        panic!("not a timeout: {message}");
    };
    let screenshot: PathBuf = screenshot.unwrap();
    assert!(screenshot.starts_with(std::env::temp_dir().join(FAILURE_SCREENSHOTS)));
    assert_eq!(&std::fs::read(&screenshot).unwrap()[..4], b"\x89PNG");
    std::fs::remove_file(screenshot).unwrap();
}

#[tokio::test]
async fn a_dropped_browser_leaves_no_process_behind() {
    let url = site().await;
    let chrome = Chrome::spawn().await.unwrap();
    chrome.goto(&url).await.unwrap();
    let profile = chrome.user_data_dir().to_owned();
    assert!(!processes_mentioning(&profile).is_empty());

    drop(chrome);

    let left = processes_mentioning(&profile);
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(!profile.exists());
}

#[tokio::test]
async fn a_missing_chromedriver_names_the_install_script() {
    let setup = ChromeSetup {
        chromedriver: PathBuf::from("/nonexistent/chromedriver"),
        ..ChromeSetup::default()
    };

    let error = Chrome::spawn_with(setup).await.unwrap_err();

    let message = error.to_string();
    assert!(message.contains("/nonexistent/chromedriver"), "{message}");
    assert!(message.contains(parasol_testkit::INSTALL_HINT), "{message}");
}
