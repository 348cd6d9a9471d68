//! The task that runs one answer: it owns the agent's stream, saves the answer as it goes,
//! and publishes every event to the answer's log.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use parasol_agent::{Agent, AgentEvent, message::Message};
use serde_json::Value;
use tracing::Instrument as _;

use super::event::StreamEvent;
use super::limits::Slot;
use super::{Cancel, Run};
use crate::render::render_markdown;
use crate::store::{
    AnswerOutcome, MAX_CONTENT_BYTES, MAX_STEP_INPUT_BYTES, MAX_STEP_OUTPUT_BYTES,
    MAX_TOOL_FIELD_BYTES, MessageStatus, NewStep, StepId, StepOutcome, Store, StoreError,
    TokenUsage,
};
use crate::wire::{
    DoneEvent, ErrorEvent, MessageEvent, StepEndEvent, StepStartEvent, TextEvent, Usage,
};

/// The error saved with an answer cut short by the server shutting down.
const SHUTDOWN_ERROR: &str = "the server stopped while this answer was being written";

/// The error saved when the agent's stream ends without an answer or an error.
const NO_ANSWER_ERROR: &str = "the agent stopped without finishing its answer";

/// The most text events left unannounced in a row: a bound on how long subscribers go
/// without news while the model keeps up a stream faster than they are woken.
const MAX_UNANNOUNCED: usize = 32;

/// The error shown when the answer could not be saved as it streamed.
const SAVE_ERROR: &str = "the answer could not be saved";

/// How an answer ended.
#[derive(Debug)]
enum Ending {
    Complete,
    Stopped,
    Interrupted { code: &'static str, error: String },
}

/// What has been said and done so far in one answer.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    /// The stored step of each running tool call, by the model's call id.
    steps: HashMap<String, (StepId, String)>,
    /// Set after a tool call, so that the next text starts a new paragraph instead of
    /// running on from the text before the call.
    paragraph_break: bool,
    finished: bool,
    usage: Option<TokenUsage>,
}

/// Runs the answer of `run` to its end, in a task of its own.
pub(super) fn spawn(
    store: Store,
    agent: Arc<Agent>,
    run: Arc<Run>,
    history: Vec<Message>,
    slot: Slot,
) {
    let span = tracing::info_span!(
        "generation",
        message = %run.message,
        user = run.owner.get(),
    );
    tokio::spawn(
        async move {
            drive(&store, &agent, &run, history).await;
            // Giving the slot back only now keeps a second answer in the thread from
            // starting before this one is saved.
            drop(slot);
        }
        .instrument(span),
    );
}

async fn drive(store: &Store, agent: &Agent, run: &Run, history: Vec<Message>) {
    let mut answer = Answer::default();
    let mut cancel = run.cancel.subscribe();
    let mut stream = agent.run(history);

    let ending = loop {
        let next = if let Some(ready) = next_ready(&mut stream, run).await {
            ready
        } else {
            tokio::select! {
                biased;
                cancelled = cancel.wait_for(Option::is_some) => {
                    let reason = cancelled.map_or(Cancel::Shutdown, |reason| {
                        (*reason).unwrap_or(Cancel::Shutdown)
                    });
                    break match reason {
                        Cancel::ByUser | Cancel::Deleted => Ending::Stopped,
                        Cancel::Shutdown => Ending::Interrupted {
                            code: "server_stopping",
                            error: SHUTDOWN_ERROR.to_owned(),
                        },
                    };
                }
                next = stream.next() => next,
            }
        };
        let Some(event) = next else {
            break answer.natural_end();
        };
        // Text waiting in the log goes out before anything that may wait on the store.
        if !matches!(event, AgentEvent::TextDelta { .. }) {
            run.log.announce();
        }
        match answer.apply(store, run, event).await {
            Ok(None) => {}
            Ok(Some(ending)) => break ending,
            Err(StoreError::NotFound) => {
                tracing::debug!("the answer's thread is gone");
                break Ending::Stopped;
            }
            Err(error) => {
                tracing::error!(%error, "could not save the answer while it streamed");
                break Ending::Interrupted {
                    code: "internal",
                    error: SAVE_ERROR.to_owned(),
                };
            }
        }
    };
    // Dropping the stream drops the model request and any tool still running.
    drop(stream);
    run.log.announce();

    answer.finish(store, run, ending).await;
}

/// While text is waiting unannounced in the log, the agent's next event if it is ready
/// after the other tasks have had a turn (the model's connection among them, which
/// decodes the next chunk); `None` once nothing more is ready, or enough is waiting,
/// with the waiting text announced.
///
/// Why: a model streams one token per chunk, and waking the answer's subscribers for
/// each would make their connections write each token on its own, one system call and
/// one TCP segment a token. Announcing once the model has nothing more ready lets a
/// connection write everything that came meanwhile at once. Nothing waits on a timer:
/// when the model is slower than the server, as models are, every token still goes out
/// the moment it comes.
async fn next_ready(
    stream: &mut BoxStream<'static, AgentEvent>,
    run: &Run,
) -> Option<Option<AgentEvent>> {
    let waiting = run.log.unannounced();
    if waiting == 0 {
        return None;
    }
    if waiting < MAX_UNANNOUNCED {
        tokio::task::yield_now().await;
        if let Some(next) = futures::future::poll_immediate(stream.next()).await {
            return Some(next);
        }
    }
    run.log.announce();
    None
}

impl Answer {
    /// Saves and publishes one agent event; returns how the answer ended, if it did.
    async fn apply(
        &mut self,
        store: &Store,
        run: &Run,
        event: AgentEvent,
    ) -> Result<Option<Ending>, StoreError> {
        match event {
            AgentEvent::TextDelta { mut text } => {
                if self.paragraph_break && !self.text.is_empty() && !text.is_empty() {
                    text.insert_str(0, "\n\n");
                }
                if !text.is_empty() {
                    self.paragraph_break = false;
                }
                let first = self.text.is_empty();
                self.text.push_str(&text);
                let event = StreamEvent::Text(TextEvent { delta: text });
                // The first text goes out at once, since it is what the person waits
                // for; the rest are announced in batches (see `next_ready`).
                if first {
                    run.log.push(event);
                } else {
                    run.log.append(event);
                }
            }
            AgentEvent::ToolStart { id, name, input } => {
                self.start_step(store, run, id, name, input).await?;
            }
            AgentEvent::ToolEnd {
                id,
                output,
                error,
                duration_ms,
                ..
            } => {
                self.end_step(store, run, &id, output, error, duration_ms)
                    .await?;
            }
            AgentEvent::Final { .. } => self.finished = true,
            AgentEvent::Usage { usage } => {
                self.usage = Some(TokenUsage {
                    input: usage.input_tokens,
                    output: usage.output_tokens,
                });
            }
            AgentEvent::Error { message } => {
                tracing::info!(error = %message, "the agent failed mid-answer");
                return Ok(Some(Ending::Interrupted {
                    code: "generation_failed",
                    error: message,
                }));
            }
            AgentEvent::CycleEnd { .. } | AgentEvent::Message { .. } => {}
        }
        Ok(None)
    }

    async fn start_step(
        &mut self,
        store: &Store,
        run: &Run,
        call_id: String,
        tool: String,
        input: Value,
    ) -> Result<(), StoreError> {
        let tool = bounded_name(&tool);
        let mut input_json = input.to_string();
        if input_json.len() > MAX_STEP_INPUT_BYTES {
            input_json = r#"{"truncated":true}"#.to_owned();
        }
        let new = NewStep {
            tool_name: &tool,
            tool_call_id: cut(&call_id, MAX_TOOL_FIELD_BYTES),
            input_json: &input_json,
        };
        let step = store.append_step(run.owner, run.message, &new).await?;

        self.paragraph_break = true;
        run.log.push(StreamEvent::StepStart(StepStartEvent {
            step_id: step.id.get(),
            tool: tool.clone(),
            input,
        }));
        self.steps.insert(call_id, (step.id, tool));
        Ok(())
    }

    async fn end_step(
        &mut self,
        store: &Store,
        run: &Run,
        call_id: &str,
        output: Option<Value>,
        error: Option<String>,
        duration_ms: f64,
    ) -> Result<(), StoreError> {
        let Some((step_id, tool)) = self.steps.remove(call_id) else {
            tracing::warn!(call_id, "a tool call ended that never started");
            return Ok(());
        };
        let (output, is_error) = match (output, error) {
            (_, Some(error)) => (error, true),
            (Some(Value::String(text)), None) => (text, false),
            (Some(value), None) => (value.to_string(), false),
            (None, None) => (String::new(), false),
        };
        let output = cut(&output, MAX_STEP_OUTPUT_BYTES).to_owned();
        // The agent measures in fractional milliseconds; anything odd counts as zero.
        let duration_ms = if duration_ms.is_finite() && duration_ms > 0.0 {
            duration_ms.round().min(i64::MAX as f64) as i64
        } else {
            0
        };
        let outcome = StepOutcome {
            output: &output,
            is_error,
            duration_ms,
        };
        store.finish_step(run.owner, step_id, &outcome).await?;

        run.log.push(StreamEvent::StepEnd(StepEndEvent {
            step_id: step_id.get(),
            tool,
            output,
            is_error,
            duration_ms,
        }));
        Ok(())
    }

    /// How the answer ended when the agent's stream ran out.
    fn natural_end(&self) -> Ending {
        if self.finished {
            Ending::Complete
        } else {
            Ending::Interrupted {
                code: "generation_failed",
                error: NO_ANSWER_ERROR.to_owned(),
            }
        }
    }

    /// Saves the answer as it ended and publishes the last events: `error` if it failed,
    /// then `message` and `done`. They go out even when saving fails, so that the person
    /// sees the end of the answer; the failure is logged.
    async fn finish(self, store: &Store, run: &Run, ending: Ending) {
        let (status, error) = match ending {
            Ending::Complete => (MessageStatus::Complete, None),
            Ending::Stopped => (MessageStatus::Stopped, None),
            Ending::Interrupted { code, error } => {
                run.log.push(StreamEvent::Error(ErrorEvent {
                    code: code.to_owned(),
                    message: error.clone(),
                }));
                (MessageStatus::Interrupted, Some(error))
            }
        };
        let content = cut(&self.text, MAX_CONTENT_BYTES);
        let html = render_markdown(content);
        let outcome = AnswerOutcome {
            content,
            html: &html,
            status,
            error: error.as_deref(),
            usage: self.usage,
        };
        match store.finish_answer(run.owner, run.message, &outcome).await {
            Ok(_) => tracing::info!(%status, "answer saved"),
            // The thread was deleted while the answer was written.
            Err(StoreError::NotFound) => tracing::debug!("the answer's thread is gone"),
            Err(error) => tracing::error!(%error, %status, "could not save the finished answer"),
        }

        run.log.push(StreamEvent::Message(MessageEvent {
            message_id: run.message.get(),
            html,
            content: content.to_owned(),
        }));
        run.log.push(StreamEvent::Done(DoneEvent {
            status: status.into(),
            usage: self.usage.map(Usage::from),
        }));
        run.log.finish();
    }
}

/// A tool name the store accepts: models can make names up, empty or endless.
fn bounded_name(name: &str) -> String {
    let name = cut(name.trim(), MAX_TOOL_FIELD_BYTES);
    if name.is_empty() {
        "unnamed".to_owned()
    } else {
        name.to_owned()
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cutting_never_splits_a_character() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }
}
