//! What the agent tells its caller while it works.
//!
//! The chat server turns these into Server-Sent Events and the CLI into terminal output,
//! so they are serialisable as they are: `{"type": "text_delta", "text": "..."}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::Message;
use crate::model::{StopReason, Usage};

/// One step of an agent run. A run ends with [`AgentEvent::Usage`] after
/// [`AgentEvent::Final`], or with [`AgentEvent::Error`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A piece of the answer's text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A tool call is starting.
    ToolStart {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// Its arguments.
        input: Value,
    },
    /// A tool call finished, with its output or its error.
    ToolEnd {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// What it returned, when it succeeded.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        /// Why it failed, when it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// How long it ran, in milliseconds.
        duration_ms: f64,
    },
    /// One round of model call and tool runs is over.
    CycleEnd {
        /// Which round, from 1.
        cycle: u32,
        /// Why the model stopped in this round.
        stop_reason: StopReason,
    },
    /// A message was added to the conversation: an assistant turn, or the tool results
    /// handed back to the model. Saving these reproduces the conversation.
    Message {
        /// The message.
        message: Message,
    },
    /// The answer is complete.
    Final {
        /// The text of the last assistant turn.
        text: String,
    },
    /// Tokens used by the whole run.
    Usage {
        /// The totals.
        usage: Usage,
    },
    /// The run failed and is over.
    Error {
        /// What went wrong, for the person.
        message: String,
    },
}
