//! A real browser for tests: Debian's headless Chromium, driven over WebDriver by
//! chromedriver on a free port, through a [`fantoccini`] session.
//!
//! Chromium runs with a fresh profile in a temporary folder and with its background
//! services off: this machine's closed network refuses their connections, which makes a
//! plain start noisy and slow. [`Chrome::close`] ends the session; dropping a [`Chrome`]
//! ends it too when it can, then kills chromedriver and every process it started, so that
//! no Chromium outlives the test.
//!
//! The waits ([`Chrome::wait_for`], [`Chrome::wait_until`], [`Chrome::wait_until_script`])
//! poll until their condition holds. When one runs out of time its error names what was
//! awaited, the page's address and the start of its text, and where a screenshot of that
//! moment was saved (under the system's temporary folder, in
//! [`FAILURE_SCREENSHOTS`]), so that a failed test shows what the browser showed.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use crate::INSTALL_HINT;
use crate::net::free_port;
use crate::output::{Transcript, debug_as_message, forward};

/// Where Debian installs chromedriver; `PARASOL_TEST_CHROMEDRIVER` overrides it.
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where Debian installs Chromium; `PARASOL_TEST_CHROMIUM` overrides it.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long chromedriver may take to answer its status request.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(20);

/// How long Chromium may take to start and open the session, on a slow, busy machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a dropped [`Chrome`] waits for chromedriver to end the session.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The folder under the system's temporary folder where a timed-out wait saves its
/// screenshot.
pub const FAILURE_SCREENSHOTS: &str = "parasol-test-failures";

/// How much of the page's text a timeout's message quotes.
const QUOTED_TEXT: usize = 600;

/// Chromium's switches besides the profile folder: headless, as root in a container, and
/// without the services that would call out to Google.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Why the browser could not be started or did not do what a test asked.
#[derive(thiserror::Error)]
pub enum ChromeError {
    /// chromedriver or Chromium is not there.
    #[error("{program} is not installed at {path}: {INSTALL_HINT}")]
    NotInstalled {
        /// Which program is missing.
        program: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The profile folder could not be made, or no port was free.
    #[error("could not prepare the browser's profile folder or port")]
    Prepare(#[source] std::io::Error),
    /// chromedriver could not be run.
    #[error("could not run chromedriver")]
    Run(#[source] std::io::Error),
    /// chromedriver stopped before it answered.
    #[error("chromedriver exited before it was ready; it wrote:\n{output}")]
    Exited {
        /// Its last lines of output.
        output: String,
    },
    /// chromedriver did not answer its status request in time.
    #[error("chromedriver did not answer within {} s; it wrote:\n{output}", DRIVER_TIMEOUT.as_secs())]
    DriverTimeout {
        /// Its last lines of output.
        output: String,
    },
    /// chromedriver answered but could not start Chromium.
    #[error("chromedriver could not open a Chromium session; it wrote:\n{output}")]
    Session {
        /// Why, as fantoccini tells it.
        #[source]
        source: NewSessionError,
        /// chromedriver's last lines of output.
        output: String,
    },
    /// Chromium did not open the session in time.
    #[error("Chromium did not start within {} s; chromedriver wrote:\n{output}", SESSION_TIMEOUT.as_secs())]
    SessionTimeout {
        /// chromedriver's last lines of output.
        output: String,
    },
    /// A WebDriver command failed.
    #[error("a WebDriver command failed")]
    Command(#[from] CmdError),
    /// A screenshot could not be written.
    #[error("could not write the screenshot {path}")]
    Screenshot {
        /// Where it was to go.
        path: PathBuf,
        /// Why it could not.
        #[source]
        source: std::io::Error,
    },
    /// A wait ran out of time.
    #[error(
        "timed out after {} s waiting for {what}\n  page: {url}\n  screenshot: {}\n  text: {text}",
        after.as_secs_f32(),
        screenshot.as_ref().map_or_else(|| "(none)".to_owned(), |path| path.display().to_string()),
    )]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait lasted.
        after: Duration,
        /// The page's address when the wait gave up.
        url: String,
        /// The start of the page's visible text.
        text: String,
        /// Where the screenshot of that moment was saved, if it could be.
        screenshot: Option<PathBuf>,
    },
}

impl std::fmt::Debug for ChromeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_as_message(self, f)
    }
}

/// What a [`Chrome`] is started with.
#[derive(Debug, Clone)]
pub struct ChromeSetup {
    /// The chromedriver binary.
    pub chromedriver: PathBuf,
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The viewport's width and height in CSS pixels.
    pub window: (u32, u32),
}

impl Default for ChromeSetup {
    /// Debian's binaries (or those `PARASOL_TEST_CHROMEDRIVER` and `PARASOL_TEST_CHROMIUM`
    /// name) and a 1280×900 viewport.
    fn default() -> Self {
        let path = |variable: &str, default: &str| {
            std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            chromedriver: path("PARASOL_TEST_CHROMEDRIVER", DEFAULT_CHROMEDRIVER),
            chromium: path("PARASOL_TEST_CHROMIUM", DEFAULT_CHROMIUM),
            window: (1280, 900),
        }
    }
}

/// A headless Chromium with an open WebDriver session, stopped when dropped.
#[derive(Debug)]
pub struct Chrome {
    client: Client,
    // `None` once `close` has ended it.
    session: Option<String>,
    driver: Driver,
}

/// chromedriver, the processes it started, and Chromium's profile folder: killed and
/// removed on drop, also when the start fails half-way.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
    output: Transcript,
    profile: TempDir,
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium with the default [`ChromeSetup`].
    pub async fn spawn() -> Result<Self, ChromeError> {
        Self::spawn_with(ChromeSetup::default()).await
    }

    /// Starts chromedriver on a free port, waits until it answers, and opens a session in
    /// a new headless Chromium with a fresh profile.
    pub async fn spawn_with(setup: ChromeSetup) -> Result<Self, ChromeError> {
        for (program, path) in [
            ("chromedriver", &setup.chromedriver),
            ("Chromium", &setup.chromium),
        ] {
            if !path.is_file() {
                let path = path.clone();
                return Err(ChromeError::NotInstalled { program, path });
            }
        }
        let mut driver = Driver::spawn(&setup.chromedriver)?;
        driver.wait_until_ready().await?;

        let client = driver.open_session(&setup).await?;
        let session = client.session_id().await?;
        let chrome = Self {
            client,
            session,
            driver,
        };
        // `--window-size` sizes the window, which can leave the viewport smaller.
        let (width, height) = setup.window;
        chrome.set_window_size(width, height).await?;
        Ok(chrome)
    }

    /// The WebDriver session, for everything the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The profile folder Chromium was started with; it is removed on drop.
    pub fn user_data_dir(&self) -> &Path {
        self.driver.profile.path()
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), ChromeError> {
        Ok(self.client().goto(url).await?)
    }

    /// Saves a PNG of the viewport at `path`, creating its parent folders.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<(), ChromeError> {
        let path = path.as_ref();
        let png = self.client().screenshot().await?;
        let write = |path: &Path| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &png)
        };
        write(path).map_err(|source| ChromeError::Screenshot {
            path: path.to_owned(),
            source,
        })
    }

    /// Makes the page's viewport `width` × `height` CSS pixels, as on a phone held upright
    /// for `(360, 800)`.
    ///
    /// WebDriver sizes the outer window; where the viewport comes out smaller (a window
    /// frame), the window is grown by the difference once.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), ChromeError> {
        let client = self.client();
        client.set_window_size(width, height).await?;
        let inner = client
            .execute(
                "return [window.innerWidth, window.innerHeight];",
                Vec::new(),
            )
            .await?;
        let measured = |index: usize| inner.get(index).and_then(Value::as_u64);
        if let (Some(inner_width), Some(inner_height)) = (measured(0), measured(1)) {
            let grow = |wanted: u32, got: u64| {
                let missing = u64::from(wanted).saturating_sub(got);
                wanted.saturating_add(u32::try_from(missing).unwrap_or(0))
            };
            let (outer_width, outer_height) =
                (grow(width, inner_width), grow(height, inner_height));
            if (outer_width, outer_height) != (width, height) {
                client.set_window_size(outer_width, outer_height).await?;
            }
        }
        Ok(())
    }

    /// Waits until an element matches the CSS selector `css`, and returns the first.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, ChromeError> {
        let what = format!("an element matching `{css}`");
        self.poll(&what, timeout, || async {
            match self.client().find(Locator::Css(css)).await {
                Ok(element) => Ok(Some(element)),
                Err(error) if error.is_no_such_element() => Ok(None),
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Waits until `script`, the body of a JavaScript function called with `args`, returns
    /// a truthy value (not `false`, `null`, `0` or `""`), and returns that value.
    ///
    /// For example `return document.querySelector('[data-status=complete]');`.
    pub async fn wait_until_script(
        &self,
        script: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value, ChromeError> {
        let what = format!("the script to return a truthy value: {}", script.trim());
        self.poll(&what, timeout, || async {
            let value = self.client().execute(script, args.clone()).await?;
            Ok(is_truthy(&value).then_some(value))
        })
        .await
    }

    /// Waits until `condition`, given a handle on the session, resolves to `true`;
    /// `description` says what is awaited in the error should the wait time out.
    pub async fn wait_until<F, Fut>(
        &self,
        description: &str,
        timeout: Duration,
        mut condition: F,
    ) -> Result<(), ChromeError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<bool, CmdError>>,
    {
        self.poll(description, timeout, || {
            let check = condition(self.client().clone());
            async move { Ok(check.await?.then_some(())) }
        })
        .await
    }

    /// Ends the session, which makes Chromium quit, and stops chromedriver.
    ///
    /// Dropping a [`Chrome`] does the same, but cannot wait for the session's answer.
    pub async fn close(mut self) -> Result<(), ChromeError> {
        // Closing one handle ends the session for all of them, the one kept here too.
        let closed = self.client.clone().close().await;
        self.session = None;
        // `drop` now stops chromedriver and anything Chromium left behind.
        Ok(closed?)
    }

    /// Calls `attempt` until it yields a value, an error, or `timeout` passes; on time out,
    /// describes the page as it is then.
    async fn poll<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut attempt: F,
    ) -> Result<T, ChromeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, CmdError>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = attempt().await? {
                return Ok(value);
            }
            if started.elapsed() >= timeout {
                return Err(self.timed_out(what, started.elapsed()).await);
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// The error for a wait that gave up, with the page's address, text and screenshot.
    async fn timed_out(&self, what: &str, after: Duration) -> ChromeError {
        let client = self.client();
        let url = client
            .current_url()
            .await
            .map_or_else(|error| format!("(unknown: {error})"), |url| url.to_string());
        let text = client
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
            .ok()
            .and_then(|value| value.as_str().map(quote))
            .unwrap_or_default();
        let path = failure_screenshot_path();
        let screenshot = self.screenshot(&path).await.ok().map(|()| path);
        ChromeError::Timeout {
            what: what.to_owned(),
            after,
            url,
            text,
            screenshot,
        }
    }

    /// Asks chromedriver, over a plain blocking connection, to end the session: Drop
    /// cannot await fantoccini, whose own clean-up would race the kill that follows.
    fn end_session_blocking(&self, session: &str) {
        let Ok(mut stream) = StdTcpStream::connect((Ipv4Addr::LOCALHOST, self.driver.port)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(QUIT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(QUIT_TIMEOUT));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Connection: close\r\nContent-Length: 0\r\n\r\n",
            self.driver.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            // The answer comes once Chromium has quit; its content does not matter.
            let _ = stream.read(&mut [0; 256]);
        }
    }
}

impl Drop for Chrome {
    /// Ends the session if [`Chrome::close`] did not; the driver's own drop then stops
    /// whatever is left.
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.end_session_blocking(&session);
        }
    }
}

impl Driver {
    /// Starts chromedriver on a free port, its output forwarded and kept.
    fn spawn(binary: &Path) -> Result<Self, ChromeError> {
        let profile = tempfile::Builder::new()
            .prefix("parasol-chrome-")
            .tempdir()
            .map_err(ChromeError::Prepare)?;
        let port = free_port().map_err(ChromeError::Prepare)?;

        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ChromeError::Run)?;
        let output = Transcript::default();
        if let Some(stdout) = child.stdout.take() {
            forward(stdout, "chromedriver", output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, "chromedriver", output.clone());
        }
        Ok(Self {
            child,
            port,
            output,
            profile,
        })
    }

    /// Polls chromedriver's status endpoint until it says it is ready.
    async fn wait_until_ready(&mut self) -> Result<(), ChromeError> {
        let url = format!("http://127.0.0.1:{}/status", self.port);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DRIVER_TIMEOUT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Leave the forwarding tasks a moment to read the last lines.
                sleep(Duration::from_millis(200)).await;
                let output = self.output.text();
                return Err(ChromeError::Exited { output });
            }
            if let Ok(response) = http.get(&url).send().await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == json!(true)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let output = self.output.text();
                return Err(ChromeError::DriverTimeout { output });
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// Asks chromedriver for a session in a new headless Chromium.
    async fn open_session(&self, setup: &ChromeSetup) -> Result<Client, ChromeError> {
        let capabilities = capabilities(setup, self.profile.path());
        let url = format!("http://127.0.0.1:{}", self.port);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        match timeout(SESSION_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(source)) => {
                let output = self.output.text();
                Err(ChromeError::Session { source, output })
            }
            Err(_) => {
                let output = self.output.text();
                Err(ChromeError::SessionTimeout { output })
            }
        }
    }
}

impl Drop for Driver {
    /// Kills chromedriver and every process under it, and any process still using the
    /// profile folder: Chromium's helpers, once orphaned, are no longer under chromedriver.
    fn drop(&mut self) {
        let mut doomed = Vec::new();
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            doomed.push(Pid::from_raw(pid));
            descendants(Pid::from_raw(pid), &mut doomed);
        }
        doomed.extend(processes_mentioning(self.profile.path()));
        for pid in doomed {
            let _ = kill(pid, Signal::SIGKILL);
        }
        // Reap chromedriver, so that it does not linger as a zombie while the test runs.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
    }
}

/// The capabilities that ask chromedriver for a headless Chromium at `setup.chromium`,
/// with `profile` as its profile folder.
fn capabilities(setup: &ChromeSetup, profile: &Path) -> Capabilities {
    let (width, height) = setup.window;
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&arg| arg.to_owned()).collect();
    args.push(format!("--window-size={width},{height}"));
    args.push(format!("--user-data-dir={}", profile.display()));

    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": setup.chromium, "args": args }),
    );
    capabilities
}

/// Whether JavaScript would take `value` as true.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(value) => *value,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The first [`QUOTED_TEXT`] characters of `text` on one line.
fn quote(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(QUOTED_TEXT) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// A new file name for a timed-out wait's screenshot.
fn failure_screenshot_path() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    std::env::temp_dir()
        .join(FAILURE_SCREENSHOTS)
        .join(format!("{seconds}-{}-{count}.png", std::process::id()))
}

/// Adds every process below `pid` to `found`, as Linux lists each thread's children.
fn descendants(pid: Pid, found: &mut Vec<Pid>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            let child = Pid::from_raw(child);
            if !found.contains(&child) {
                found.push(child);
                descendants(child, found);
            }
        }
    }
}

/// The processes whose command line names `folder`: the profile folder is unique to one
/// [`Chrome`], so these are its Chromium processes and no one else's.
fn processes_mentioning(folder: &Path) -> Vec<Pid> {
    let needle = folder.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| line.windows(needle.len()).any(|window| window == needle))
        })
        .map(Pid::from_raw)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_truthy_as_in_javascript() {
        for value in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(is_truthy(&value), "{value}");
        }
        for value in [json!(false), json!(0), json!(""), Value::Null] {
            assert!(!is_truthy(&value), "{value}");
        }
    }

    #[test]
    fn the_capabilities_ask_for_headless_chromium_with_the_profile() {
        let setup = ChromeSetup::default();
        let capabilities = capabilities(&setup, Path::new("/tmp/profile"));

        let options = &capabilities["goog:chromeOptions"];
        let args: Vec<&str> = options["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--headless=new"), "{args:?}");
        assert!(
            args.contains(&"--disable-background-networking"),
            "{args:?}"
        );
        assert!(args.contains(&"--user-data-dir=/tmp/profile"), "{args:?}");
        assert!(args.contains(&"--window-size=1280,900"), "{args:?}");
    }

    #[test]
    fn quoted_text_is_one_shortened_line() {
        let long = "word ".repeat(500);
        let quoted = quote(&format!("a\n\nb  {long}"));

        assert!(quoted.starts_with("a b word"), "{quoted}");
        assert!(quoted.ends_with('…'));
        assert_eq!(quoted.chars().count(), QUOTED_TEXT + 1);
    }
}
