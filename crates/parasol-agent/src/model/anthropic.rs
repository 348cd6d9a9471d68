//! The Anthropic Messages API.
//!
//! A streamed answer is a sequence of content blocks. Text blocks grow by `text_delta`;
//! a `tool_use` block opens with its id and name and its input arrives as pieces of JSON
//! text (`input_json_delta`) that only parse once the block stops.

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

const PROVIDER: &str = "anthropic";
const API_VERSION: &str = "2023-06-01";

/// Where and what to ask.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// The API root, without `/v1`.
    pub base_url: String,
    /// The `x-api-key`.
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

impl AnthropicConfig {
    /// Anthropic's own API with the given model.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: "https://api.anthropic.com".to_owned(),
            api_key: None,
            model: model.into(),
            context_tokens: 200_000,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A Messages API client.
#[derive(Debug, Clone)]
pub struct AnthropicModel {
    config: AnthropicConfig,
    client: reqwest::Client,
    url: String,
}

impl AnthropicModel {
    /// A client for `config`.
    pub fn new(config: AnthropicConfig) -> Result<Self, ModelError> {
        let url = format!("{}/v1/messages", config.base_url.trim_end_matches('/'));
        let client = http::client(&url, config.connect_timeout)?;
        Ok(Self {
            config,
            client,
            url,
        })
    }

    fn body(&self, request: &ModelRequest) -> Value {
        let messages: Vec<Value> = request.messages.iter().map(wire_message).collect();
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": messages,
            "stream": true,
        });
        // Anthropic has no "none" choice that keeps the tools listed; leaving them out
        // has the same effect.
        if !request.tools.is_empty() && request.tool_choice != ToolChoice::None {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "name": tool.name,
                        "description": tool.description,
                        "input_schema": tool.input_schema,
                    })
                })
                .collect();
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = match request.tool_choice {
                ToolChoice::Required => json!({ "type": "any" }),
                _ => json!({ "type": "auto" }),
            };
        }
        body
    }
}

fn wire_message(message: &Message) -> Value {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let content: Vec<Value> = message
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text { text } => json!({ "type": "text", "text": text }),
            ContentBlock::ToolUse { id, name, input } => {
                json!({ "type": "tool_use", "id": id, "name": name, "input": input })
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => json!({
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": content,
                "is_error": is_error,
            }),
        })
        .collect();
    json!({ "role": role, "content": content })
}

#[async_trait]
impl Model for AnthropicModel {
    fn describe(&self) -> String {
        format!("{PROVIDER}:{}", self.config.model)
    }

    fn context_tokens(&self) -> usize {
        self.config.context_tokens
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let body = self.body(&request);
        let response = http::send(PROVIDER, &self.url, self.config.retry, || {
            let builder = self
                .client
                .post(&self.url)
                .header("anthropic-version", API_VERSION)
                .json(&body);
            match &self.config.api_key {
                Some(key) => builder.header("x-api-key", key.expose_secret()),
                None => builder,
            }
        })
        .await?;
        Ok(decode(sse::events(PROVIDER, response)).boxed())
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<DeltaUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: Value,
    },
}

#[derive(Debug, Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<StartUsage>,
}

#[derive(Debug, Deserialize)]
struct StartUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeltaUsage {
    #[serde(default)]
    output_tokens: u64,
}

struct OpenToolUse {
    id: String,
    name: String,
    json: String,
}

impl OpenToolUse {
    fn finish(self) -> ToolCall {
        let json = if self.json.trim().is_empty() {
            "{}"
        } else {
            &self.json
        };
        match serde_json::from_str(json) {
            Ok(input) => ToolCall {
                id: self.id,
                name: self.name,
                input,
                malformed: None,
            },
            Err(error) => ToolCall {
                id: self.id,
                name: self.name,
                input: Value::Null,
                malformed: Some(format!("the input is not valid JSON ({error})")),
            },
        }
    }
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" | "stop_sequence" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Messages API events into model events.
fn decode(
    events: impl futures::Stream<Item = Result<eventsource_stream::Event, ModelError>> + Send + 'static,
) -> impl futures::Stream<Item = Result<ModelEvent, ModelError>> + Send + 'static {
    async_stream::try_stream! {
        let mut open: BTreeMap<usize, OpenToolUse> = BTreeMap::new();
        let mut usage = Usage::default();
        let mut reason: Option<StopReason> = None;
        let mut stopped = false;

        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let event = event?;
            match sse::parse::<WireEvent>(PROVIDER, &event.data)? {
                WireEvent::MessageStart { message } => {
                    if let Some(start) = message.usage {
                        usage.input_tokens = start.input_tokens;
                        usage.output_tokens = start.output_tokens;
                    }
                }
                WireEvent::ContentBlockStart { index, content_block } => match content_block {
                    WireBlock::ToolUse { id, name } => {
                        open.insert(index, OpenToolUse { id, name, json: String::new() });
                    }
                    WireBlock::Text { text } if !text.is_empty() => {
                        yield ModelEvent::TextDelta(text);
                    }
                    _ => {}
                },
                WireEvent::ContentBlockDelta { index, delta } => match delta {
                    WireDelta::TextDelta { text } => yield ModelEvent::TextDelta(text),
                    WireDelta::InputJsonDelta { partial_json } => {
                        let Some(call) = open.get_mut(&index) else {
                            Err(ModelError::Malformed {
                                provider: PROVIDER,
                                detail: format!("input_json_delta for block {index}, which is not a tool_use block"),
                            })?;
                            return;
                        };
                        call.json.push_str(&partial_json);
                    }
                    WireDelta::Other => {}
                },
                WireEvent::ContentBlockStop { index } => {
                    if let Some(call) = open.remove(&index) {
                        yield ModelEvent::ToolUse(call.finish());
                    }
                }
                WireEvent::MessageDelta { delta, usage: delta_usage } => {
                    if let Some(stop) = delta.stop_reason {
                        reason = Some(stop_reason(&stop));
                    }
                    if let Some(delta_usage) = delta_usage {
                        // The count in message_delta is cumulative.
                        usage.output_tokens = delta_usage.output_tokens;
                    }
                }
                WireEvent::MessageStop => {
                    stopped = true;
                    break;
                }
                WireEvent::Ping => {}
                WireEvent::Error { error } => {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| error.to_string(), str::to_owned);
                    Err(ModelError::Provider { provider: PROVIDER, message })?;
                }
            }
        }

        if !stopped || !open.is_empty() {
            Err(ModelError::Truncated { provider: PROVIDER })?;
            return;
        }
        yield ModelEvent::Stop { reason: reason.unwrap_or(StopReason::EndTurn), usage };
    }
}
