//! The conversation: messages made of text, tool calls and tool results.
//!
//! The shape follows the Anthropic Messages API (tool results travel in a user turn),
//! because it maps onto every other provider's format without loss.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message. The system prompt travels beside the messages, not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person, or the agent handing tool results back to the model.
    User,
    /// The model.
    Assistant,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Plain text (markdown, for the assistant).
    Text {
        /// The text itself.
        text: String,
    },
    /// The model asks for a tool to be run.
    ToolUse {
        /// The provider's id for this call, echoed back in the result.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, as the model wrote them.
        input: Value,
    },
    /// What a tool returned, or why it failed.
    ToolResult {
        /// The id of the [`ContentBlock::ToolUse`] this answers.
        tool_use_id: String,
        /// The result as text (JSON for structured output).
        content: String,
        /// Whether `content` describes a failure.
        #[serde(default)]
        is_error: bool,
    },
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it holds, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message holding one piece of text.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    /// An assistant message holding one piece of text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    /// The message's text blocks joined together.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether this message starts a new exchange: a user message with text in it,
    /// rather than one that only carries tool results.
    pub fn starts_exchange(&self) -> bool {
        self.role == Role::User
            && self
                .content
                .iter()
                .any(|block| matches!(block, ContentBlock::Text { .. }))
    }
}
