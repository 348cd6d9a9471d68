//! The chat API's JSON shapes: what the browser sends, what it gets back, and the payload
//! of each Server-Sent Event. The OpenAPI document is generated from these types.
//!
//! Times are Unix milliseconds. Ids are numbers except thread ids, which are 22-character
//! random strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::store;

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code: `unauthenticated`, `not_found`, `method_not_allowed`,
    /// `invalid_request`, `payload_too_large`, `conflict`, `rate_limited` or `internal`.
    pub code: String,
    /// A sentence for people; not to be parsed.
    pub message: String,
    /// For `invalid_request`, the input at fault when it can be named: a JSON path into
    /// the body (`content`), or a query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The signed-in user, as the identity token describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// The stable identifier at the gateway.
    pub subject: String,
    /// The display name.
    pub name: String,
    /// The e-mail address, when the identity provider gave one.
    pub email: Option<String>,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
}

/// A suggested first message, shown on an empty thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Starter {
    /// The button's text.
    pub title: String,
    /// The message it sends.
    pub message: String,
}

/// A thread without its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThreadView {
    /// The thread's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When it was created.
    pub created_at: i64,
    /// When a message was last added or finished in it.
    pub updated_at: i64,
}

impl From<store::Thread> for ThreadView {
    fn from(thread: store::Thread) -> Self {
        Self {
            id: thread.id.to_string(),
            title: thread.title,
            created_at: thread.created_at,
            updated_at: thread.updated_at,
        }
    }
}

/// One page of the user's threads, most recently active first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThreadList {
    /// The threads on this page.
    pub threads: Vec<ThreadView>,
    /// The `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// A thread with all its messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThreadDetailView {
    /// The thread.
    pub thread: ThreadView,
    /// Its messages, oldest first.
    pub messages: Vec<MessageView>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person.
    User,
    /// The agent.
    Assistant,
}

impl From<store::Role> for Role {
    fn from(role: store::Role) -> Self {
        match role {
            store::Role::User => Self::User,
            store::Role::Assistant => Self::Assistant,
        }
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written in full.
    Complete,
    /// Still being generated.
    Generating,
    /// Cut short by an error or a server that stopped; `error` says which.
    Interrupted,
    /// Stopped by the person.
    Stopped,
}

impl From<store::MessageStatus> for Status {
    fn from(status: store::MessageStatus) -> Self {
        match status {
            store::MessageStatus::Complete => Self::Complete,
            store::MessageStatus::Generating => Self::Generating,
            store::MessageStatus::Interrupted => Self::Interrupted,
            store::MessageStatus::Stopped => Self::Stopped,
        }
    }
}

/// Tokens the model read and wrote for one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

impl From<store::TokenUsage> for Usage {
    fn from(usage: store::TokenUsage) -> Self {
        Self {
            input_tokens: usage.input,
            output_tokens: usage.output,
        }
    }
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// The message's id.
    pub id: i64,
    /// Who wrote it.
    pub role: Role,
    /// The markdown text.
    pub content: String,
    /// The text rendered to sanitized HTML, safe to insert as markup.
    pub html: String,
    /// Where it is in its life.
    pub status: Status,
    /// What went wrong, for an interrupted answer.
    pub error: Option<String>,
    /// Tokens used, for a finished answer whose model reported them.
    pub usage: Option<Usage>,
    /// When it was created.
    pub created_at: i64,
    /// The tool calls made while answering; empty for the person's messages.
    pub steps: Vec<StepView>,
    /// The owner's verdict: 1, -1, or null for none.
    pub feedback: Option<i64>,
}

impl From<store::Message> for MessageView {
    fn from(message: store::Message) -> Self {
        Self {
            id: message.id.get(),
            role: message.role.into(),
            content: message.content,
            html: message.html,
            status: message.status.into(),
            error: message.error,
            usage: message.usage.map(Usage::from),
            created_at: message.created_at,
            steps: message.steps.into_iter().map(StepView::from).collect(),
            feedback: message.feedback.map(store::Feedback::value),
        }
    }
}

/// One tool call made while an answer was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    /// The step's id.
    pub id: i64,
    /// The tool's name.
    pub tool: String,
    /// The arguments the model gave it.
    pub input: Value,
    /// The tool's output (often JSON text) or its error message; null while it runs.
    /// Untrusted text: show it as text, never as markup.
    pub output: Option<String>,
    /// Whether `output` is an error.
    pub is_error: bool,
    /// How long it ran; null while it runs.
    pub duration_ms: Option<i64>,
}

impl From<store::Step> for StepView {
    fn from(step: store::Step) -> Self {
        Self {
            id: step.id.get(),
            tool: step.tool_name,
            input: parse_input(&step.input_json),
            output: step.output,
            is_error: step.is_error,
            duration_ms: step.duration_ms,
        }
    }
}

/// A stored tool input as JSON; the store only keeps valid JSON, so the fallback to a
/// string is for a database edited by hand.
pub(crate) fn parse_input(input_json: &str) -> Value {
    serde_json::from_str(input_json).unwrap_or_else(|_| Value::String(input_json.to_owned()))
}

/// The body of `POST /api/threads`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateThread {
    /// The title; by default the thread is named after its first message.
    #[serde(default)]
    pub title: Option<String>,
}

/// The body of `PATCH /api/threads/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameThread {
    /// The new title, 1 to 200 characters once trimmed.
    pub title: String,
}

/// The body of `POST /api/threads/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The person's message, in markdown.
    pub content: String,
}

/// The body of `PUT /api/messages/{id}/feedback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// 1 (helpful), -1 (not helpful) or 0 (no verdict).
    pub value: i64,
}

/// `user_message`: the person's message as stored, first event of a new generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserMessageEvent {
    /// The message.
    pub message: MessageView,
}

/// `answer_start`: the answer's id; every event's `id:` begins with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswerStartEvent {
    /// The answer's message id.
    pub message_id: i64,
}

/// `text`: a piece of the answer's markdown, to be shown as plain text until the
/// `message` event brings the rendered HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TextEvent {
    /// The text to append.
    pub delta: String,
}

/// `step_start`: a tool call began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepStartEvent {
    /// The step's id, as in the thread's stored steps.
    pub step_id: i64,
    /// The tool's name.
    pub tool: String,
    /// The arguments the model gave it.
    pub input: Value,
}

/// `step_end`: a tool call finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepEndEvent {
    /// The step's id.
    pub step_id: i64,
    /// The tool's name.
    pub tool: String,
    /// Its output or error message; untrusted text.
    pub output: String,
    /// Whether `output` is an error.
    pub is_error: bool,
    /// How long it ran.
    pub duration_ms: i64,
}

/// `message`: the answer as saved, rendered; replaces whatever `text` showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageEvent {
    /// The answer's id.
    pub message_id: i64,
    /// The sanitized HTML.
    pub html: String,
    /// The markdown text.
    pub content: String,
}

/// `done`: the last event of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DoneEvent {
    /// How the answer ended: `complete`, `stopped` or `interrupted` (or `generating`,
    /// when another server is still writing it).
    pub status: Status,
    /// Tokens used, when the model reported them.
    pub usage: Option<Usage>,
}

/// `error`: the generation failed; `message` and `done` follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEvent {
    /// `generation_failed` (the model or the agent failed), `server_stopping` (the
    /// server is shutting down) or `internal` (the answer could not be saved).
    pub code: String,
    /// What went wrong, for the person.
    pub message: String,
}
