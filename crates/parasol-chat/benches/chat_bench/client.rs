//! The people using the chat: each with an identity token of their own and a fresh
//! thread, posting a message and reading the answer's stream to its end, counting the
//! `text` events and noting when the first one came.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use parasol_identity::{Identity, Signer};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The longest a whole answer may take before the bench gives up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// How to reach the chat server, and how to sign in to it.
#[derive(Debug, Clone)]
pub struct Chat {
    base: String,
    http: reqwest::Client,
    signer: Signer,
}

/// One person, ready to post.
#[derive(Clone)]
pub struct User {
    pub token: String,
    pub thread: String,
    /// The message they post: unique, so that the fake model can tell whose it is.
    pub message: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity token is left out, as everywhere in Parasol.
        f.debug_struct("User")
            .field("thread", &self.thread)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl Chat {
    pub fn new(base: String, signer: Signer) -> Self {
        Self {
            base,
            http: new_client(),
            signer,
        }
    }

    /// The same server over a pool of connections of its own.
    pub fn with_new_client(&self) -> Self {
        Self {
            http: new_client(),
            ..self.clone()
        }
    }

    /// `count` people `bench-0`, `bench-1`…, each with a new thread, whose messages are
    /// marked with `tag`. The thread is given a title, as the web UI does, so that the
    /// first message does not rename it.
    pub async fn users(&self, count: usize, tag: &str) -> Vec<User> {
        let made = futures::stream::iter(0..count)
            .map(|i| async move {
                let token = self.token(&format!("bench-{i}"));
                let thread = self.new_thread(&token).await;
                let message = format!("Question {i} of {tag}: tell me something.");
                User {
                    token,
                    thread,
                    message,
                }
            })
            .buffered(count.clamp(1, 200));
        made.collect().await
    }

    fn token(&self, subject: &str) -> String {
        let identity = Identity {
            subject: subject.to_owned(),
            name: format!("Bench user {subject}"),
            email: Some(format!("{subject}@bench.test")),
            groups: Vec::new(),
        };
        self.signer.sign(&identity).unwrap()
    }

    async fn new_thread(&self, token: &str) -> String {
        let response = self
            .http
            .post(format!("{}/api/threads", self.base))
            .header("x-user-jwt", token)
            .json(&json!({ "title": "A benchmark question" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating a thread");
        let thread: Value = response.json().await.unwrap();
        thread["id"].as_str().unwrap().to_owned()
    }

    /// Posts `user`'s message and reads the answer to its end; `first_text`, if given,
    /// hears as soon as the first piece of text has arrived.
    pub async fn ask(&self, user: &User, first_text: Option<oneshot::Sender<()>>) -> Reading {
        let sent = Instant::now();
        let response = self
            .http
            .post(format!(
                "{}/api/threads/{}/messages",
                self.base, user.thread
            ))
            .header("x-user-jwt", &user.token)
            .json(&json!({ "content": user.message }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "posting a message");
        let answered = Instant::now();
        tokio::time::timeout(ANSWER_TIMEOUT, read(response, sent, answered, first_text))
            .await
            .expect("an answer took longer than five minutes")
    }
}

fn new_client() -> reqwest::Client {
    reqwest::Client::builder().http1_only().build().unwrap()
}

/// What one client saw of one answer.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// When the message was posted.
    pub sent: Instant,
    /// When the response's headers arrived: the question saved and the answer started.
    pub answered: Instant,
    /// When the first `text` event arrived.
    pub first_text: Instant,
    /// When `done` arrived.
    pub done: Instant,
    /// How many `text` events came: one for each token.
    pub texts: usize,
    /// Whether `done` said the answer is complete.
    pub complete: bool,
}

impl Reading {
    /// The time from posting to the first text.
    pub fn first_token(&self) -> Duration {
        self.first_text.saturating_duration_since(self.sent)
    }
}

async fn read(
    response: reqwest::Response,
    sent: Instant,
    answered: Instant,
    mut first_text: Option<oneshot::Sender<()>>,
) -> Reading {
    let mut scanner = Scanner::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        scanner.feed(&chunk, Instant::now());
        if scanner.first_text.is_some()
            && let Some(first_text) = first_text.take()
        {
            let _ = first_text.send(());
        }
    }
    Reading {
        sent,
        answered,
        first_text: scanner.first_text.expect("the answer had no text"),
        done: scanner.done.expect("the stream ended without done"),
        texts: scanner.texts,
        complete: scanner.complete,
    }
}

/// Reads Server-Sent Events just far enough to count them: the chat server writes each
/// field as `name: value` on a line of its own, and a blank line ends an event. Parsing
/// every event's JSON would make the clients, which share the two cores with the
/// server, the bottleneck.
#[derive(Debug, Default)]
struct Scanner {
    line: Vec<u8>,
    in_done: bool,
    texts: usize,
    first_text: Option<Instant>,
    done: Option<Instant>,
    complete: bool,
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8], at: Instant) {
        for piece in chunk.split_inclusive(|&byte| byte == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(rest) if self.line.is_empty() => self.end_line(rest, at),
                Some(rest) => {
                    let mut line = std::mem::take(&mut self.line);
                    line.extend_from_slice(rest);
                    self.end_line(&line, at);
                    line.clear();
                    self.line = line;
                }
                None => self.line.extend_from_slice(piece),
            }
        }
    }

    fn end_line(&mut self, line: &[u8], at: Instant) {
        match line {
            b"event: text" => {
                self.texts += 1;
                self.first_text.get_or_insert(at);
            }
            b"event: done" => self.in_done = true,
            b"" => self.in_done = false,
            _ if self.in_done && line.starts_with(b"data: ") => {
                self.done = Some(at);
                self.complete = contains(line, b"\"status\":\"complete\"");
            }
            _ => {}
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
