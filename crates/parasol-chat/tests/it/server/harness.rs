//! A chat server on port 0 over a fresh database, answering with a scripted model and a
//! tool that sleeps, and accepting tokens signed by a key pair made for the test.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures::{Stream, StreamExt as _};
use parasol_agent::model::ToolCall;
use parasol_agent::testing::{ScriptedModel, Step as ScriptStep};
use parasol_agent::{Agent, AgentConfig, ModelEvent, StopReason, Tool, ToolSet, Usage};
use parasol_chat::identity::VerifierSource;
use parasol_chat::{ChatConfig, ChatServer, Starter};
use parasol_identity::{Identity, Jwks, KeyPair, Signer, Verifier};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{self, TestDb};

/// The issuer the test tokens carry and the server expects.
pub const ISSUER: &str = "http://gate.test";
/// The audience likewise.
pub const AUDIENCE: &str = "parasol-chat";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once per backend, as `<name>::on_sqlite` and
/// `<name>::on_postgres`.
macro_rules! on_both_servers {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                super::$case(crate::server::harness::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                super::$case(crate::server::harness::Backend::Postgres).await;
            }
        }
    )+};
}

/// The test tool: looks up made-up weather, after sleeping as long as it is asked to.
pub struct Lookup;

#[derive(Deserialize, JsonSchema)]
pub struct LookupArgs {
    /// The city.
    city: String,
    /// How long to take.
    #[serde(default)]
    sleep_ms: u64,
}

impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = Value;
    type Error = Infallible;
    const NAME: &'static str = "lookup";

    fn description(&self) -> String {
        "Looks up the weather in a city.".to_owned()
    }

    async fn call(&self, args: LookupArgs) -> Result<Value, Infallible> {
        tokio::time::sleep(Duration::from_millis(args.sleep_ms)).await;
        Ok(json!({ "city": args.city, "forecast": "rain" }))
    }
}

/// A piece of model text.
pub fn text(text: &str) -> ScriptStep {
    ScriptStep::Event(ModelEvent::TextDelta(text.to_owned()))
}

/// A call of the lookup tool.
pub fn lookup(id: &str, city: &str, sleep_ms: u64) -> ScriptStep {
    ScriptStep::Event(ModelEvent::ToolUse(ToolCall {
        id: id.to_owned(),
        name: "lookup".to_owned(),
        input: json!({ "city": city, "sleep_ms": sleep_ms }),
        malformed: None,
    }))
}

/// The end of a turn.
pub fn stop(reason: StopReason, input_tokens: u64, output_tokens: u64) -> ScriptStep {
    ScriptStep::Event(ModelEvent::Stop {
        reason,
        usage: Usage {
            input_tokens,
            output_tokens,
        },
    })
}

/// A wait inside a turn.
pub fn pause(ms: u64) -> ScriptStep {
    ScriptStep::Pause(Duration::from_millis(ms))
}

/// The answer of the full transcript: text, a tool call that takes 50 ms, more text.
pub fn weather_turns() -> Vec<Vec<ScriptStep>> {
    vec![
        vec![
            text("Let me look that up."),
            lookup("call_1", "Oslo", 50),
            stop(StopReason::ToolUse, 100, 10),
        ],
        vec![
            text("It will "),
            pause(20),
            text("**rain** in Oslo."),
            stop(StopReason::EndTurn, 150, 8),
        ],
    ]
}

/// [`weather_turns`]'s answer as saved.
pub const WEATHER_ANSWER: &str = "Let me look that up.\n\nIt will **rain** in Oslo.";

/// An answer in several slow pieces, for resuming and dropping mid-stream.
pub fn slow_turns(pieces: usize, pause_ms: u64) -> Vec<Vec<ScriptStep>> {
    let mut turn = Vec::new();
    for i in 0..pieces {
        turn.push(text(&format!("piece {i}. ")));
        turn.push(pause(pause_ms));
    }
    turn.push(stop(StopReason::EndTurn, 10, pieces as u64));
    vec![turn]
}

/// The text [`slow_turns`] writes.
pub fn slow_answer(pieces: usize) -> String {
    (0..pieces).map(|i| format!("piece {i}. ")).collect()
}

/// Where the server's keys come from.
enum Keys {
    /// A verifier handed in, over the harness's key.
    Ready,
    /// Whatever the configuration says.
    Configured,
}

/// Builds a [`ChatHarness`].
pub struct HarnessBuilder {
    backend: Backend,
    config: ChatConfig,
    keys: Keys,
    key: Option<KeyPair>,
}

impl HarnessBuilder {
    /// Changes the configuration.
    pub fn config(mut self, change: impl FnOnce(&mut ChatConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Takes the keys from the configuration instead of a verifier handed in.
    pub fn configured_keys(mut self) -> Self {
        self.keys = Keys::Configured;
        self
    }

    /// Signs the test tokens with `key`.
    pub fn key(mut self, key: KeyPair) -> Self {
        self.key = Some(key);
        self
    }

    pub async fn spawn(self) -> ChatHarness {
        let db = match self.backend {
            Backend::Sqlite => support::sqlite().await,
            Backend::Postgres => support::postgres().await,
        };
        let key = self.key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let signer = Signer::new(&key, ISSUER, AUDIENCE).unwrap();
        let source = match self.keys {
            Keys::Ready => VerifierSource::Ready(Verifier::from_public_keys(
                [key.public_key()],
                ISSUER,
                AUDIENCE,
            )),
            Keys::Configured => VerifierSource::Configured,
        };

        let model = ScriptedModel::new(Vec::<Vec<ScriptStep>>::new());
        let mut tools = ToolSet::new();
        tools.register(Lookup);
        let agent = Agent::new(Arc::new(model.clone()), tools, AgentConfig::default());
        let starters = vec![Starter {
            title: "Weather".to_owned(),
            message: "What is the weather tomorrow?".to_owned(),
        }];
        let server = ChatServer::build(
            &self.config,
            db.store.clone(),
            Arc::new(agent),
            starters,
            source,
        )
        .await
        .unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));

        ChatHarness {
            base,
            http: reqwest::Client::new(),
            db,
            model,
            key,
            signer,
            shutdown: Some(shutdown),
            task,
        }
    }
}

/// A running chat server and what it takes to talk to it.
pub struct ChatHarness {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub model: ScriptedModel,
    pub key: KeyPair,
    pub signer: Signer,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for ChatHarness {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

impl ChatHarness {
    pub fn builder(backend: Backend) -> HarnessBuilder {
        HarnessBuilder {
            backend,
            config: ChatConfig::default(),
            keys: Keys::Ready,
            key: None,
        }
    }

    /// A server on `backend` with the default configuration.
    pub async fn spawn(backend: Backend) -> Self {
        Self::builder(backend).spawn().await
    }

    /// Signals the server to shut down and waits until it has.
    pub async fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let served = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the server did not shut down within 20 s");
        served.unwrap().unwrap();
    }

    /// Adds the turns the model will play, in order.
    pub fn script(&self, turns: Vec<Vec<ScriptStep>>) {
        for turn in turns {
            self.model.push_turn(turn);
        }
    }

    /// A valid token for `subject`.
    pub fn token(&self, subject: &str) -> String {
        self.signer.sign(&identity(subject)).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request as `subject`.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        subject: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-user-jwt", self.token(subject))
    }

    pub fn get(&self, path: &str, subject: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path, subject)
    }

    /// `GET path` as `subject`, answered with 200 and JSON.
    pub async fn get_json(&self, path: &str, subject: &str) -> Value {
        let response = self.get(path, subject).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// A new thread of `subject`'s; returns its id.
    pub async fn new_thread(&self, subject: &str) -> String {
        let response = self
            .request(reqwest::Method::POST, "/api/threads", subject)
            .json(&json!({ "title": "Test thread" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let thread: Value = response.json().await.unwrap();
        thread["id"].as_str().unwrap().to_owned()
    }

    /// Posts `content` to `thread` as `subject`.
    pub async fn post_message(
        &self,
        subject: &str,
        thread: &str,
        content: &str,
    ) -> reqwest::Response {
        self.request(
            reqwest::Method::POST,
            &format!("/api/threads/{thread}/messages"),
            subject,
        )
        .json(&json!({ "content": content }))
        .send()
        .await
        .unwrap()
    }

    /// Posts `content` and opens the answer's stream, which must start.
    pub async fn start_answer(&self, subject: &str, thread: &str, content: &str) -> Sse {
        let response = self.post_message(subject, thread, content).await;
        assert_eq!(response.status(), 200, "posting a message");
        Sse::new(response)
    }

    /// The thread as `subject` reads it.
    pub async fn thread(&self, subject: &str, thread: &str) -> Value {
        self.get_json(&format!("/api/threads/{thread}"), subject)
            .await
    }

    /// Waits until the answer `message_id` of `thread` has finished, and returns it.
    pub async fn finished_answer(&self, subject: &str, thread: &str, message_id: i64) -> Value {
        for _ in 0..200 {
            let detail = self.thread(subject, thread).await;
            let answer = detail["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|message| message["id"] == message_id)
                .cloned()
                .unwrap();
            if answer["status"] != "generating" {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the answer {message_id} did not finish");
    }
}

/// The identity the test tokens describe.
pub fn identity(subject: &str) -> Identity {
    Identity {
        subject: subject.to_owned(),
        name: format!("{subject} tester"),
        email: Some(format!("{subject}@example.com")),
        groups: vec!["testers".to_owned()],
    }
}

/// One SSE frame, its data parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: String,
    pub event: String,
    pub data: Value,
}

impl Frame {
    /// The seq in the frame's id.
    pub fn seq(&self) -> u64 {
        self.id.split_once('.').unwrap().1.parse().unwrap()
    }

    /// The message id in the frame's id.
    pub fn message_id(&self) -> i64 {
        self.id.split_once('.').unwrap().0.parse().unwrap()
    }
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, String>> + Send>>;

/// An open event stream.
pub struct Sse {
    frames: FrameStream,
}

impl Sse {
    pub fn new(response: reqwest::Response) -> Self {
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let frames = response
            .bytes_stream()
            .eventsource()
            .map(|event| event.map_err(|error| error.to_string()));
        Self {
            frames: Box::pin(frames),
        }
    }

    /// The next frame, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<Frame> {
        let next = tokio::time::timeout(Duration::from_secs(10), self.frames.next())
            .await
            .expect("no event within 10 s")?;
        let event = next.unwrap();
        Some(Frame {
            id: event.id,
            event: event.event,
            data: serde_json::from_str(&event.data).unwrap(),
        })
    }

    /// The frames up to the first whose event is `name`, inclusive.
    pub async fn until(&mut self, name: &str) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            let last = frame.event == name;
            frames.push(frame);
            if last {
                return frames;
            }
        }
        panic!("the stream ended before a {name} event: {frames:#?}");
    }

    /// Every frame to the end of the stream, which must come right after `done`.
    pub async fn rest(&mut self) -> Vec<Frame> {
        let frames = self.until("done").await;
        assert!(self.next().await.is_none(), "the stream goes on after done");
        frames
    }
}

/// A tiny JWKS server whose key set the test changes, counting fetches.
pub struct JwksServer {
    pub url: String,
    jwks: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    pub async fn start(keys: &[&KeyPair]) -> Self {
        let jwks = Arc::new(Mutex::new(String::new()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let router = {
            let jwks = Arc::clone(&jwks);
            let fetches = Arc::clone(&fetches);
            axum::Router::new().route(
                "/oauth2/jwks.json",
                axum::routing::get(move || {
                    let jwks = Arc::clone(&jwks);
                    let fetches = Arc::clone(&fetches);
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let body = jwks.lock().unwrap().clone();
                        ([("content-type", "application/json")], body)
                    }
                }),
            )
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth2/jwks.json", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let server = Self {
            url,
            jwks,
            fetches,
            task,
        };
        server.publish(keys);
        server
    }

    /// Serves these keys from now on.
    pub fn publish(&self, keys: &[&KeyPair]) {
        let jwks = Jwks::from_keys(keys.iter().map(|key| key.public_key()));
        *self.jwks.lock().unwrap() = jwks.to_json().unwrap();
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
