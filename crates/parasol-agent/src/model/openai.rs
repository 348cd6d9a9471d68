//! Any OpenAI-compatible chat-completions endpoint: OpenAI, Ollama, vLLM, llama.cpp's
//! server, LiteLLM.
//!
//! Tool calls stream in pieces: the first chunk for a call carries its `index`, `id` and
//! name, later chunks append to its `arguments` string. Calls are assembled by index and
//! handed on once the choice has a `finish_reason`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, RetryPolicy};
use super::{
    Model, ModelError, ModelEvent, ModelRequest, ModelStream, StopReason, ToolCall, ToolChoice,
    Usage, sse,
};
use crate::message::{ContentBlock, Message, Role};

const PROVIDER: &str = "openai";

/// Where and what to ask.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API root, up to and including `/v1`.
    pub base_url: String,
    /// Sent as a bearer token when present (local servers often need none).
    pub api_key: Option<SecretString>,
    /// The model name.
    pub model: String,
    /// The model's context size in tokens.
    pub context_tokens: usize,
    /// How refused requests are retried.
    pub retry: RetryPolicy,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
}

impl OpenAiConfig {
    /// OpenAI's own API with the given model.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            model: model.into(),
            context_tokens: 128_000,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A chat-completions client.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    config: OpenAiConfig,
    client: reqwest::Client,
    url: String,
}

impl OpenAiModel {
    /// A client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        let client = http::client(&url, config.connect_timeout)?;
        Ok(Self {
            config,
            client,
            url,
        })
    }

    fn body(&self, request: &ModelRequest) -> Value {
        let mut messages = vec![json!({ "role": "system", "content": request.system })];
        messages.extend(request.messages.iter().flat_map(wire_messages));
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
            "max_tokens": request.max_tokens,
        });
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({ "type": "function", "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    }})
                })
                .collect();
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = json!(match request.tool_choice {
                ToolChoice::Auto => "auto",
                ToolChoice::Required => "required",
                ToolChoice::None => "none",
            });
        }
        body
    }
}

/// One of our messages as chat-completions messages: tool results become `tool` messages.
fn wire_messages(message: &Message) -> Vec<Value> {
    match message.role {
        Role::User => {
            let mut out = Vec::new();
            for block in &message.content {
                match block {
                    ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                        ..
                    } => out.push(
                        json!({ "role": "tool", "tool_call_id": tool_use_id, "content": content }),
                    ),
                    ContentBlock::Text { text } => {
                        out.push(json!({ "role": "user", "content": text }));
                    }
                    ContentBlock::ToolUse { .. } => {}
                }
            }
            out
        }
        Role::Assistant => {
            let calls: Vec<Value> = message
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::ToolUse { id, name, input } => Some(json!({
                        "id": id,
                        "type": "function",
                        "function": { "name": name, "arguments": input.to_string() },
                    })),
                    _ => None,
                })
                .collect();
            let text = message.text();
            let mut wire = json!({ "role": "assistant", "content": text });
            if !calls.is_empty() {
                wire["tool_calls"] = Value::Array(calls);
                if text.is_empty() {
                    wire["content"] = Value::Null;
                }
            }
            vec![wire]
        }
    }
}

#[async_trait]
impl Model for OpenAiModel {
    fn describe(&self) -> String {
        format!("{PROVIDER}:{}", self.config.model)
    }

    fn context_tokens(&self) -> usize {
        self.config.context_tokens
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let body = self.body(&request);
        let response = http::send(PROVIDER, &self.url, self.config.retry, || {
            let builder = self.client.post(&self.url).json(&body);
            match &self.config.api_key {
                Some(key) => builder.bearer_auth(key.expose_secret()),
                None => builder,
            }
        })
        .await?;
        Ok(decode(sse::events(PROVIDER, response)).boxed())
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl PartialCall {
    fn finish(self, index: usize) -> ToolCall {
        let id = if self.id.is_empty() {
            format!("call_{index}")
        } else {
            self.id
        };
        let arguments = if self.arguments.trim().is_empty() {
            "{}"
        } else {
            &self.arguments
        };
        match serde_json::from_str(arguments) {
            Ok(input) => ToolCall {
                id,
                name: self.name,
                input,
                malformed: None,
            },
            Err(error) => ToolCall {
                id,
                name: self.name,
                input: Value::Null,
                malformed: Some(format!("the arguments are not valid JSON ({error})")),
            },
        }
    }
}

fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Chat-completion chunks into model events.
fn decode(
    events: impl futures::Stream<Item = Result<eventsource_stream::Event, ModelError>> + Send + 'static,
) -> impl futures::Stream<Item = Result<ModelEvent, ModelError>> + Send + 'static {
    async_stream::try_stream! {
        let mut calls: BTreeMap<usize, PartialCall> = BTreeMap::new();
        let mut finish: Option<StopReason> = None;
        let mut usage = Usage::default();
        let mut done = false;

        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let event = event?;
            if event.data.trim() == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Chunk = sse::parse(PROVIDER, &event.data)?;
            if let Some(error) = chunk.error {
                let message = http::error_message(&json!({ "error": error }).to_string())
                    .unwrap_or_else(|| error.to_string());
                Err(ModelError::Provider { provider: PROVIDER, message })?;
            }
            if let Some(wire) = chunk.usage {
                usage = Usage {
                    input_tokens: wire.prompt_tokens,
                    output_tokens: wire.completion_tokens,
                };
            }
            // Parasol asks for one choice; any others are ignored.
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
                yield ModelEvent::TextDelta(text);
            }
            for delta in choice.delta.tool_calls {
                let call = calls.entry(delta.index).or_default();
                if let Some(id) = delta.id {
                    call.id = id;
                }
                if let Some(function) = delta.function {
                    if let Some(name) = function.name {
                        call.name.push_str(&name);
                    }
                    if let Some(arguments) = function.arguments {
                        call.arguments.push_str(&arguments);
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                finish = Some(stop_reason(&reason));
            }
        }

        // Without a finish_reason the answer was cut off; a missing [DONE] after one is
        // tolerated, since some compatible servers omit it.
        let Some(mut reason) = finish else {
            Err(ModelError::Truncated { provider: PROVIDER })?;
            return;
        };
        if !done {
            tracing::debug!("chat-completions stream ended without [DONE]");
        }
        // Some servers report "stop" even when the turn ends in tool calls.
        if !calls.is_empty() && reason == StopReason::EndTurn {
            reason = StopReason::ToolUse;
        }
        for (index, call) in std::mem::take(&mut calls) {
            yield ModelEvent::ToolUse(call.finish(index));
        }
        yield ModelEvent::Stop { reason, usage };
    }
}
