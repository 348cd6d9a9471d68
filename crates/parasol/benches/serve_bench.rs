//! How fast `parasol serve` is ready and how much memory it holds, with the local model.
//!
//! Each run starts the release binary on a free port and times, on this process's clock,
//! the moment it was spawned to the first `/ping` it answers. The server's own log gives
//! the model's load time, measured inside the same start; the difference is what Parasol
//! itself adds. The first run starts on an empty data directory (keys, cookie secret,
//! first user and database made); the later ones restart on it. After the last start, the
//! bench signs in as `admin`, has the model answer one question, and reads the server's
//! resident memory (`VmRSS`) idle before and after that answer.
//!
//! Usage: `cargo bench -p parasol --bench serve_bench -- --model FILE [--runs N]`
//! (`scripts/bench-serve` fetches the model and passes it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one start may take before the bench gives up.
const START_LIMIT: Duration = Duration::from_secs(60);

/// How long the server is left alone before its idle memory is read.
const SETTLE: Duration = Duration::from_secs(2);

struct Options {
    model: PathBuf,
    runs: usize,
}

fn options() -> Options {
    let mut model = None;
    let mut runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            // cargo bench passes `--bench`; anything else is a mistake worth naming.
            "--bench" => {}
            other => panic!("unknown argument {other}; use --model FILE [--runs N]"),
        }
    }
    let model = model.unwrap_or_else(|| {
        panic!("--model FILE is needed: the GGUF file scripts/fetch-model puts in data/models/")
    });
    assert!(model.is_file(), "no model file at {}", model.display());
    Options { model, runs }
}

/// One start, as this bench saw it and as the server logged it.
#[derive(Clone, Copy)]
struct Start {
    /// From spawning the process to its first answer to `/ping`.
    to_first_answer: Duration,
    /// The server's own "ready in" figure: from `main` to listening, model included.
    logged_ready: Duration,
    /// The model's load time, from the same log line.
    model_load: Duration,
}

/// A running `parasol serve`.
struct Server {
    child: Child,
    url: String,
    password: Option<String>,
    start: Start,
}

impl Server {
    fn start(work: &Path, model: &Path) -> Self {
        let spawned = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_parasol"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
            .arg("--model-path")
            .arg(model)
            .current_dir(work)
            .env_remove("PARASOL_CONFIG")
            .env("PARASOL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let lines = |pipe: Box<dyn std::io::Read + Send>| {
            let (sender, receiver) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
            receiver
        };
        let out = lines(Box::new(child.stdout.take().unwrap()));
        let log = lines(Box::new(child.stderr.take().unwrap()));

        let first = out
            .recv_timeout(START_LIMIT)
            .unwrap_or_else(|_| panic!("parasol serve did not start: {:?}", drain(&log)));
        let url = first
            .strip_prefix("Parasol is running: open ")
            .and_then(|rest| rest.strip_suffix(" in a browser."))
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        let to_first_answer = first_ping(&url, spawned);
        // A first start prints the password right after; a restart prints nothing more.
        let password = out
            .recv_timeout(Duration::from_millis(500))
            .ok()
            .and_then(|line| {
                line.strip_prefix("Sign in as `admin` with the password ")
                    .map(str::to_owned)
            });
        // Standard output must keep draining, or a later line could block the server.
        std::thread::spawn(move || while out.recv().is_ok() {});

        let ready_line = drain(&log)
            .into_iter()
            .find(|line| line.contains("ready in "))
            .expect("the server logs when it is ready");
        let logged_ready = millis_after(&ready_line, "ready in ");
        let model_load = millis_after(&ready_line, "model loaded in ");
        std::thread::spawn(move || while log.recv().is_ok() {});

        Self {
            child,
            url,
            password,
            start: Start {
                to_first_answer,
                logged_ready,
                model_load,
            },
        }
    }

    /// `VmRSS`, and its parts `RssAnon` and `RssFile` (the model file's mapped pages are
    /// most of the latter), in KiB.
    fn memory_kib(&self) -> [u64; 3] {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        ["VmRSS:", "RssAnon:", "RssFile:"].map(|field| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
        })
    }

    fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "parasol serve stopped with {status}");
    }
}

/// The lines a receiver holds now, waiting a moment for the first.
fn drain(receiver: &mpsc::Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
        lines.push(line);
    }
    lines
}

/// `N` in "... {label}N ms ...".
fn millis_after(line: &str, label: &str) -> Duration {
    let rest = line
        .split_once(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Duration::from_millis(digits.parse().unwrap())
}

/// Polls `/ping` until it answers 200; returns the time since `spawned`.
fn first_ping(url: &str, spawned: Instant) -> Duration {
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            use std::io::{Read as _, Write as _};
            let request =
                format!("GET /ping HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return spawned.elapsed();
                }
            }
        }
        assert!(spawned.elapsed() < START_LIMIT, "/ping never answered");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Signs in as `admin` and has the model answer one question; returns the answer's time.
fn one_answer(server: &Server, password: &str) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = &server.url;
        let browser = parasol_testkit::Browser::new().unwrap();
        let page = browser.get(format!("{url}oauth2/sign_in")).await.unwrap();
        let mut form = browser.read_form(page).await.unwrap();
        form.set("username", "admin");
        form.set("password", password);
        let signed_in = browser.submit(&form).await.unwrap();
        assert_eq!(signed_in.status(), 303, "signed in as admin");

        let client = browser.client();
        let thread: serde_json::Value = client
            .post(format!("{url}api/threads"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let asked = Instant::now();
        let events = client
            .post(format!(
                "{url}api/threads/{}/messages",
                thread["id"].as_str().unwrap()
            ))
            .json(&serde_json::json!({ "content": "Is it going to rain today?" }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(events.contains("event: done"), "the answer ended: {events}");
        asked.elapsed()
    })
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn main() {
    let options = options();
    let work = tempfile::tempdir().unwrap();
    println!(
        "parasol serve, local model {} ({} MiB), {} restarts after a first start",
        options.model.display(),
        std::fs::metadata(&options.model).unwrap().len() / (1024 * 1024),
        options.runs
    );

    let first = Server::start(work.path(), &options.model);
    let password = first
        .password
        .clone()
        .expect("the first start prints a password");
    let first_start = first.start;
    first.stop();
    println!(
        "first start: first answer after {}, logged ready in {}, model load {}",
        ms(first_start.to_first_answer),
        ms(first_start.logged_ready),
        ms(first_start.model_load)
    );

    let mut starts = Vec::new();
    let mut last = None;
    for run in 0..options.runs {
        let server = Server::start(work.path(), &options.model);
        assert!(server.password.is_none(), "a restart keeps the first user");
        println!(
            "restart {}: first answer after {}, logged ready in {}, model load {}",
            run + 1,
            ms(server.start.to_first_answer),
            ms(server.start.logged_ready),
            ms(server.start.model_load)
        );
        starts.push(server.start);
        if run + 1 == options.runs {
            last = Some(server);
        } else {
            server.stop();
        }
    }

    let mut to_answer: Vec<_> = starts.iter().map(|s| s.to_first_answer).collect();
    let mut loads: Vec<_> = starts.iter().map(|s| s.model_load).collect();
    let mut added: Vec<_> = starts
        .iter()
        .map(|s| s.to_first_answer.saturating_sub(s.model_load))
        .collect();
    let (to_answer, load, added) = (
        median(&mut to_answer),
        median(&mut loads),
        median(&mut added),
    );
    println!();
    println!("restarts, medians:");
    println!("  spawn to first answer   {}", ms(to_answer));
    println!("  model load              {}", ms(load));
    println!(
        "  added by Parasol        {}  (bar: under 300 ms; {:.2}x the model load)",
        ms(added),
        added.as_secs_f64() / load.as_secs_f64()
    );

    let server = last.expect("at least one restart");
    std::thread::sleep(SETTLE);
    let idle = server.memory_kib();
    let answered_in = one_answer(&server, &password);
    std::thread::sleep(SETTLE);
    let after = server.memory_kib();
    server.stop();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("resident memory, model loaded: VmRSS (RssAnon + RssFile)");
    println!(
        "  idle after a restart    {:.1} MiB ({:.1} + {:.1})",
        mib(idle[0]),
        mib(idle[1]),
        mib(idle[2])
    );
    println!(
        "  idle after one answer   {:.1} MiB ({:.1} + {:.1})  (bar: under 200 MiB; the answer took {})",
        mib(after[0]),
        mib(after[1]),
        mib(after[2]),
        ms(answered_in)
    );
}
