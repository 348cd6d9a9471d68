//! The streaming model interface and its providers.
//!
//! A provider turns a [`ModelRequest`] into a stream of [`ModelEvent`]s: text as it
//! arrives, each tool call once its arguments are complete, then one stop with the
//! reason and token usage. Providers never panic on what a server sends them: a
//! malformed or truncated stream ends in a [`ModelError`].

mod anthropic;
mod error;
mod http;
#[cfg(feature = "local")]
pub mod local;
mod openai;
mod sse;

use std::fmt;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use anthropic::{AnthropicConfig, AnthropicModel};
pub use error::ModelError;
pub use http::RetryPolicy;
pub use openai::{OpenAiConfig, OpenAiModel};

use crate::message::Message;
use crate::tool::ToolSpec;

/// Whether, and how, the model may call tools in this turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides between answering and calling a tool.
    #[default]
    Auto,
    /// The model must call one of the tools.
    Required,
    /// The model must answer in text.
    None,
}

/// Everything a provider needs for one turn.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The system prompt.
    pub system: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Whether it may, must or must not call them.
    pub tool_choice: ToolChoice,
    /// An upper bound on the tokens generated in this turn.
    pub max_tokens: u32,
}

/// A tool call as the model made it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The provider's id for the call.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments. `Value::Null` when the model's arguments were not valid JSON;
    /// then `malformed` says why.
    pub input: Value,
    /// Why the arguments could not be read, for the agent to tell the model.
    pub malformed: Option<String>,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It wants the tools it asked for to be run.
    ToolUse,
    /// It hit the token limit.
    MaxTokens,
    /// The provider filtered the answer.
    ContentFilter,
    /// Something else, as the provider named it.
    Other(String),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndTurn => f.write_str("end_turn"),
            Self::ToolUse => f.write_str("tool_use"),
            Self::MaxTokens => f.write_str("max_tokens"),
            Self::ContentFilter => f.write_str("content_filter"),
            Self::Other(other) => f.write_str(other),
        }
    }
}

/// Tokens read and written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// One thing the model said.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// A piece of the answer's text.
    TextDelta(String),
    /// A complete tool call.
    ToolUse(ToolCall),
    /// The end of the turn. Always the last event of a successful stream.
    Stop {
        /// Why it stopped.
        reason: StopReason,
        /// What the turn cost.
        usage: Usage,
    },
}

/// The events of one turn.
pub type ModelStream = BoxStream<'static, Result<ModelEvent, ModelError>>;

/// A language model that streams its answer.
#[async_trait]
pub trait Model: Send + Sync + fmt::Debug {
    /// The provider and model, for logs and errors (`"openai:gpt-4o-mini"`).
    fn describe(&self) -> String;

    /// How many tokens of context the model takes, prompt and answer together.
    fn context_tokens(&self) -> usize;

    /// An estimate of how many tokens `text` takes. Providers that hold a tokenizer
    /// count exactly; the default assumes about four bytes a token.
    fn count_tokens(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }

    /// Starts a turn. Errors that happen before the first event (unreachable server,
    /// refused request) come back here; later ones arrive in the stream.
    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError>;
}
