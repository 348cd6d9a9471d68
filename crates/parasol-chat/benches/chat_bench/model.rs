//! The fake model server: an OpenAI-compatible `POST /v1/chat/completions` that streams
//! its answer as fast as it can, one token per chunk, and notes when each request arrived
//! and when its first chunk went out, so that the model's own share of the time to the
//! first token can be taken off the client's. It can also hold every answer after its
//! first chunk until it is told to go on, which keeps streams open for the memory figure.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use axum::serve::ListenerExt as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One chunk of one token.
const TOKEN_CHUNK: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","#,
    r#""choices":[{"index":0,"delta":{"content":"tok "}}]}"#,
    "\n\n",
);

/// The chunk that ends the choice.
const FINISH_CHUNK: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","#,
    r#""choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    "\n\n",
);

const DONE_CHUNK: &str = "data: [DONE]\n\n";

/// When the model received one request and when it sent that request's first token.
#[derive(Debug, Clone, Copy)]
pub struct ModelTiming {
    pub arrived: Instant,
    pub first_chunk: Instant,
}

impl ModelTiming {
    /// The model's own time to its first token.
    pub fn own_first_token(&self) -> Duration {
        self.first_chunk.saturating_duration_since(self.arrived)
    }
}

#[derive(Debug)]
struct Shared {
    /// How many tokens each answer has.
    tokens: AtomicUsize,
    /// While true, answers stop after their first token.
    hold: watch::Sender<bool>,
    /// By the request's last user message, which the bench makes unique.
    timings: Mutex<HashMap<String, ModelTiming>>,
}

/// The running fake model.
#[derive(Debug)]
pub struct FakeModel {
    /// The API root, up to and including `/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeModel {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            tokens: AtomicUsize::new(1),
            hold: watch::Sender::new(false),
            timings: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(completions))
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        // A model server flushes each chunk as it is made; without this, Nagle's
        // algorithm would hold the first token back until the previous write is
        // acknowledged, which the chat server's side may delay by 40 ms.
        let listener = listener.tap_io(|tcp| {
            tcp.set_nodelay(true).unwrap();
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base_url,
            shared,
            task,
        }
    }

    /// Gives every answer from now on `tokens` tokens.
    pub fn set_tokens(&self, tokens: usize) {
        self.shared.tokens.store(tokens, Ordering::SeqCst);
    }

    /// Holds every answer after its first token (`true`), or lets them all go on.
    pub fn hold(&self, hold: bool) {
        self.shared.hold.send_replace(hold);
    }

    /// The timing of the request whose last user message was `marker`, taken out.
    pub fn take_timing(&self, marker: &str) -> Option<ModelTiming> {
        self.shared.timings.lock().unwrap().remove(marker)
    }
}

async fn completions(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let marker = last_user_message(&body);
    let tokens = shared.tokens.load(Ordering::SeqCst);

    let chunks = async_stream::stream! {
        let timing = ModelTiming { arrived, first_chunk: Instant::now() };
        shared.timings.lock().unwrap().insert(marker, timing);
        yield Ok::<_, Infallible>(Bytes::from_static(TOKEN_CHUNK.as_bytes()));

        let mut hold = shared.hold.subscribe();
        let _ = hold.wait_for(|hold| !hold).await;
        for _ in 1..tokens {
            yield Ok(Bytes::from_static(TOKEN_CHUNK.as_bytes()));
        }
        yield Ok(Bytes::from_static(FINISH_CHUNK.as_bytes()));
        yield Ok(Bytes::from(usage_chunk(tokens)));
        yield Ok(Bytes::from_static(DONE_CHUNK.as_bytes()));
    };
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}

fn last_user_message(body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap();
    let messages = request["messages"].as_array().unwrap();
    let last = messages
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .unwrap();
    last["content"].as_str().unwrap().to_owned()
}

fn usage_chunk(tokens: usize) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"choices\":[],\
         \"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":{tokens}}}}}\n\n"
    )
}
