//! The events of one answer's stream, as they go out as Server-Sent Events.

use serde::Serialize;

use crate::store::MessageId;
use crate::wire::{
    AnswerStartEvent, DoneEvent, ErrorEvent, MessageEvent, StepEndEvent, StepStartEvent, TextEvent,
    UserMessageEvent,
};

/// One event of an answer's stream. It serialises as its payload alone; the SSE `event:`
/// field carries [`StreamEvent::name`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StreamEvent {
    /// `user_message`: the person's message, as stored.
    UserMessage(UserMessageEvent),
    /// `answer_start`: the answer's id.
    AnswerStart(AnswerStartEvent),
    /// `text`: a piece of the answer.
    Text(TextEvent),
    /// `step_start`: a tool call began.
    StepStart(StepStartEvent),
    /// `step_end`: a tool call ended.
    StepEnd(StepEndEvent),
    /// `message`: the answer as saved.
    Message(MessageEvent),
    /// `done`: the end.
    Done(DoneEvent),
    /// `error`: the generation failed.
    Error(ErrorEvent),
}

impl StreamEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UserMessage(_) => "user_message",
            Self::AnswerStart(_) => "answer_start",
            Self::Text(_) => "text",
            Self::StepStart(_) => "step_start",
            Self::StepEnd(_) => "step_end",
            Self::Message(_) => "message",
            Self::Done(_) => "done",
            Self::Error(_) => "error",
        }
    }
}

/// An event with its place in the answer's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqEvent {
    /// The answer the event belongs to.
    pub message_id: MessageId,
    /// Its number, from 0.
    pub seq: u64,
    /// The event.
    pub event: StreamEvent,
}

impl SeqEvent {
    /// The SSE `id:` field, `<message_id>.<seq>`, which a client sends back as
    /// `Last-Event-ID` to resume after this event.
    pub fn id(&self) -> String {
        format!("{}.{}", self.message_id, self.seq)
    }
}
