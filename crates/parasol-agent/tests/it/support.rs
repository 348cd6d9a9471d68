//! A local HTTP server that answers with scripted, byte-exact responses, standing in for
//! a remote model provider.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// The body, sent in these pieces with a short pause between them.
    pub chunks: Vec<Vec<u8>>,
}

impl Reply {
    /// A Server-Sent Events answer, cut into pieces of `piece` bytes so that events and
    /// even lines arrive split across reads, as they do over a real network.
    pub fn sse(body: &str, piece: usize) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/event-stream".into())],
            chunks: body.as_bytes().chunks(piece).map(<[u8]>::to_vec).collect(),
        }
    }

    /// A JSON error answer.
    pub fn error(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// What the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct FakeProvider {
    pub addr: SocketAddr,
    script: Script,
}

impl FakeProvider {
    /// Starts a server on a free loopback port that gives `replies` in order.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let script = Script {
            replies: Arc::new(Mutex::new(replies.into())),
            ..Script::default()
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn answer(State(script): State<Script>, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    script
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let Some(reply) = script.replies.lock().unwrap().pop_front() else {
        return Response::builder()
            .status(StatusCode::GONE)
            .body(Body::from("no reply scripted"))
            .unwrap();
    };
    let chunks = futures::stream::iter(reply.chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, std::io::Error>(Bytes::from(chunk))
    });
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from_stream(chunks)).unwrap()
}

/// A fixture file from `tests/fixtures`.
pub fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

/// Collects a model stream into its events and the error that ended it, if any.
pub async fn collect(
    mut stream: parasol_agent::model::ModelStream,
) -> (
    Vec<parasol_agent::ModelEvent>,
    Option<parasol_agent::ModelError>,
) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

/// The text of all text deltas.
pub fn text_of(events: &[parasol_agent::ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            parasol_agent::ModelEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The error a stream failed to open with.
pub fn opening_error<T>(result: Result<T, parasol_agent::ModelError>) -> parasol_agent::ModelError {
    match result {
        Ok(_) => panic!("the stream opened"),
        Err(error) => error,
    }
}

/// The tool calls among the events.
pub fn calls_of(events: &[parasol_agent::ModelEvent]) -> Vec<&parasol_agent::model::ToolCall> {
    events
        .iter()
        .filter_map(|event| match event {
            parasol_agent::ModelEvent::ToolUse(call) => Some(call),
            _ => None,
        })
        .collect()
}
