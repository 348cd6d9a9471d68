//! The records the store hands out and the inputs its writes take.

use std::fmt;

use serde::Serialize;

use super::error::ValidationError;
use super::ids::{MessageId, StepId, ThreadId};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person.
    User,
    /// The agent.
    Assistant,
}

impl Role {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    pub(crate) fn from_db(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Written in full. Every user message is complete.
    Complete,
    /// An answer still streaming in.
    Generating,
    /// An answer cut short by something other than the person: a server that stopped
    /// mid-answer, or an error (then [`Message::error`] says which).
    Interrupted,
    /// An answer the person stopped.
    Stopped,
}

impl MessageStatus {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Generating => "generating",
            Self::Interrupted => "interrupted",
            Self::Stopped => "stopped",
        }
    }

    pub(crate) fn from_db(value: &str) -> Option<Self> {
        match value {
            "complete" => Some(Self::Complete),
            "generating" => Some(Self::Generating),
            "interrupted" => Some(Self::Interrupted),
            "stopped" => Some(Self::Stopped),
            _ => None,
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's verdict on an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// Helpful: stored as +1.
    Up,
    /// Not helpful: stored as -1.
    Down,
}

impl Feedback {
    /// The stored value, +1 or -1.
    pub fn value(self) -> i64 {
        match self {
            Self::Up => 1,
            Self::Down => -1,
        }
    }

    /// The verdict for a stored or submitted value; anything but ±1 is none.
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::Up),
            -1 => Some(Self::Down),
            _ => None,
        }
    }
}

/// Tokens a model read and wrote for one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
}

/// A conversation, without its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thread {
    /// The thread's id.
    pub id: ThreadId,
    /// Its title.
    pub title: String,
    /// When it was created, in Unix milliseconds.
    pub created_at: i64,
    /// When a message was last added or finished in it, in Unix milliseconds. Renaming
    /// and feedback leave it alone, so the list order follows the conversation.
    pub updated_at: i64,
}

/// A conversation with all its messages, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadDetail {
    /// The thread.
    pub thread: Thread,
    /// Its messages by sequence number, each with its steps.
    pub messages: Vec<Message>,
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The thread it belongs to.
    pub thread_id: ThreadId,
    /// Its place in the thread, from 1.
    pub seq: i64,
    /// Who wrote it.
    pub role: Role,
    /// The markdown text.
    pub content: String,
    /// The text rendered to sanitized HTML.
    pub html: String,
    /// Where it is in its life.
    pub status: MessageStatus,
    /// What went wrong, for an answer that failed.
    pub error: Option<String>,
    /// Tokens used, for a finished answer whose model reported them.
    pub usage: Option<TokenUsage>,
    /// When it was created, in Unix milliseconds.
    pub created_at: i64,
    /// The owner's verdict on it, if any.
    pub feedback: Option<Feedback>,
    /// The tool calls made while answering, in order; empty for a user message.
    pub steps: Vec<Step>,
}

/// One tool call made while an answer was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The step's id.
    pub id: StepId,
    /// The answer it belongs to.
    pub message_id: MessageId,
    /// Its place among the answer's steps, from 1.
    pub seq: i64,
    /// The tool's name.
    pub tool_name: String,
    /// The model's id for the call.
    pub tool_call_id: String,
    /// The call's arguments, as JSON text.
    pub input_json: String,
    /// The tool's output, or its error message; none while the tool runs.
    pub output: Option<String>,
    /// Whether the output is an error.
    pub is_error: bool,
    /// When the tool was started, in Unix milliseconds.
    pub started_at: i64,
    /// How long it ran; none while it runs.
    pub duration_ms: Option<i64>,
}

/// A tool call that has just started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStep<'a> {
    /// The tool's name.
    pub tool_name: &'a str,
    /// The model's id for the call.
    pub tool_call_id: &'a str,
    /// The call's arguments as JSON text.
    pub input_json: &'a str,
}

/// How a tool call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome<'a> {
    /// The output, or the error message.
    pub output: &'a str,
    /// Whether `output` is an error.
    pub is_error: bool,
    /// How long the tool ran, as the agent measured it.
    pub duration_ms: i64,
}

/// How an answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOutcome<'a> {
    /// The full markdown text.
    pub content: &'a str,
    /// `content` rendered to sanitized HTML.
    pub html: &'a str,
    /// Any status but [`MessageStatus::Generating`].
    pub status: MessageStatus,
    /// What went wrong, if anything. Long texts are cut, since this is a diagnostic.
    pub error: Option<&'a str>,
    /// Tokens used, if the model reported them.
    pub usage: Option<TokenUsage>,
}

/// One page of a user's threads, newest activity first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadPage {
    /// The threads on this page.
    pub threads: Vec<Thread>,
    /// Where the next page starts; none on the last page.
    pub next: Option<ThreadCursor>,
}

/// A position in a user's thread list: the last thread of a page.
///
/// The list is ordered by `updated_at` and then by id, so the pair marks a place that
/// stays put while newer threads are added before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ThreadCursor {
    pub(crate) updated_at: i64,
    pub(crate) id: ThreadId,
}

impl ThreadCursor {
    /// Reads a cursor from its text form, `<updated_at>.<thread id>`, as a client sends
    /// it back.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let (updated_at, id) = text.split_once('.').ok_or(ValidationError::Cursor)?;
        let updated_at = updated_at.parse().map_err(|_| ValidationError::Cursor)?;
        let id = ThreadId::parse(id).map_err(|_| ValidationError::Cursor)?;
        Ok(Self { updated_at, id })
    }
}

impl fmt::Display for ThreadCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.updated_at, self.id)
    }
}

impl From<ThreadCursor> for String {
    fn from(cursor: ThreadCursor) -> Self {
        cursor.to_string()
    }
}

/// A question just saved, the answer started after it, and the thread as the model is
/// shown it: what [`Store::ask`](super::Store::ask) returns.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The person's message, as saved.
    pub question: Message,
    /// The empty answer, [`MessageStatus::Generating`].
    pub answer: Message,
    /// Every message of the thread up to the question, which is the last, that is not
    /// still being generated: who wrote it and its markdown, oldest first.
    pub history: Vec<(Role, String)>,
}
