//! Rows as the database returns them, and their conversion into the public records.
//!
//! The derived `FromRow` impls are generic over the row type, so the same structs decode
//! SQLite and PostgreSQL rows.

use std::collections::HashMap;

use super::error::StoreError;
use super::ids::{MessageId, StepId, ThreadId};
use super::model::{Feedback, Message, MessageStatus, Role, Step, Thread, TokenUsage};

/// The columns of [`ThreadRow`], in a form that fits any query on `threads`.
pub(crate) const THREAD_COLUMNS: &str = "id, title, created_at, updated_at";

/// The columns of [`MessageRow`], for a query on `messages m` joined with the owner's
/// `feedback f`.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.thread_id, m.seq, m.role, m.content, \
     m.html, m.status, m.error, m.input_tokens, m.output_tokens, m.created_at, \
     f.value AS feedback";

/// The columns of [`StepRow`], for a query on `steps s`.
pub(crate) const STEP_COLUMNS: &str = "s.id, s.message_id, s.seq, s.tool_name, \
     s.tool_call_id, s.input_json, s.output, s.is_error, s.started_at, s.duration_ms";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ThreadRow {
    id: String,
    title: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ThreadRow> for Thread {
    fn from(row: ThreadRow) -> Self {
        Self {
            id: ThreadId::from_db(row.id),
            title: row.title,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    thread_id: String,
    seq: i64,
    role: String,
    content: String,
    html: String,
    status: String,
    error: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    created_at: i64,
    feedback: Option<i64>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        let role = Role::from_db(&row.role).ok_or(StoreError::Corrupt { what: "role" })?;
        let status =
            MessageStatus::from_db(&row.status).ok_or(StoreError::Corrupt { what: "status" })?;
        let usage = match (row.input_tokens, row.output_tokens) {
            (Some(input), Some(output)) => Some(TokenUsage {
                input: u64::try_from(input).map_err(|_| corrupt_usage())?,
                output: u64::try_from(output).map_err(|_| corrupt_usage())?,
            }),
            _ => None,
        };
        Ok(Self {
            id: MessageId(row.id),
            thread_id: ThreadId::from_db(row.thread_id),
            seq: row.seq,
            role,
            content: row.content,
            html: row.html,
            status,
            error: row.error,
            usage,
            created_at: row.created_at,
            feedback: row.feedback.and_then(Feedback::from_value),
            steps: Vec::new(),
        })
    }
}

fn corrupt_usage() -> StoreError {
    StoreError::Corrupt {
        what: "token count",
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StepRow {
    id: i64,
    message_id: i64,
    seq: i64,
    tool_name: String,
    tool_call_id: String,
    input_json: String,
    output: Option<String>,
    is_error: bool,
    started_at: i64,
    duration_ms: Option<i64>,
}

impl From<StepRow> for Step {
    fn from(row: StepRow) -> Self {
        Self {
            id: StepId(row.id),
            message_id: MessageId(row.message_id),
            seq: row.seq,
            tool_name: row.tool_name,
            tool_call_id: row.tool_call_id,
            input_json: row.input_json,
            output: row.output,
            is_error: row.is_error,
            started_at: row.started_at,
            duration_ms: row.duration_ms,
        }
    }
}

/// Messages with their steps attached, both already in order.
pub(crate) fn assemble(
    messages: Vec<MessageRow>,
    steps: Vec<StepRow>,
) -> Result<Vec<Message>, StoreError> {
    let mut messages = messages
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let index: HashMap<MessageId, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| (message.id, i))
        .collect();
    for step in steps.into_iter().map(Step::from) {
        // A step whose message is not in the list was added after the messages were
        // read; it belongs to a later read.
        if let Some(message) = index
            .get(&step.message_id)
            .and_then(|&i| messages.get_mut(i))
        {
            message.steps.push(step);
        }
    }
    Ok(messages)
}
