//! The agent loop.
//!
//! One run answers the last user message of a conversation: stream the model; if it
//! asks for tools, run them concurrently, hand the results back and stream it again;
//! stop when it answers without tools or the cycle limit is reached. The run is a
//! stream of [`AgentEvent`]s, and it is lazy: dropping the stream drops the model
//! request and any tool still running, which is how a stop or a closed connection
//! cancels the work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use serde_json::Value;

use crate::event::AgentEvent;
use crate::message::{ContentBlock, Message, Role};
use crate::model::{Model, ModelEvent, ModelRequest, StopReason, ToolCall, ToolChoice, Usage};
use crate::tool::{ToolError, ToolSet};
use crate::window;

/// How the agent behaves.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The system prompt.
    pub system_prompt: String,
    /// The most model calls in one run. The last one is offered no tools, so that the
    /// run ends with an answer rather than a dangling tool call.
    pub max_cycles: u32,
    /// How long one tool call may take.
    pub tool_timeout: Duration,
    /// The most tokens the model may generate in one call.
    pub max_tokens: u32,
    /// Whether the first model call of a run may (`Auto`) or must (`Required`) call a
    /// tool. A very small model rarely decides to call a tool on its own, yet writes a
    /// good call when made to; `Required` first, `Auto` after, gets it to look things
    /// up and then answer from what it found.
    pub first_tool_choice: ToolChoice,
    /// The same for the calls after the first. `None` here with `Required` first makes a
    /// small model look one thing up and then answer from it.
    pub later_tool_choice: ToolChoice,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            system_prompt: "You are a helpful assistant.".to_owned(),
            max_cycles: 6,
            tool_timeout: Duration::from_secs(30),
            max_tokens: 1024,
            first_tool_choice: ToolChoice::Auto,
            later_tool_choice: ToolChoice::Auto,
        }
    }
}

/// A model, its tools and its instructions.
#[derive(Debug, Clone)]
pub struct Agent {
    model: Arc<dyn Model>,
    tools: ToolSet,
    config: AgentConfig,
}

impl Agent {
    /// An agent that answers with `model`, which may call `tools`.
    pub fn new(model: Arc<dyn Model>, tools: ToolSet, config: AgentConfig) -> Self {
        Self {
            model,
            tools,
            config,
        }
    }

    /// The model it uses.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// Answers the conversation `history`, whose last message is the user's question.
    pub fn run(&self, history: Vec<Message>) -> BoxStream<'static, AgentEvent> {
        let agent = self.clone();
        async_stream::stream! {
            let mut conversation = history;
            let mut usage = Usage::default();
            for cycle in 1..=agent.config.max_cycles {
                let mut turn = Turn::default();
                let mut model_stream = match agent.start_turn(&conversation, cycle).await {
                    Ok(stream) => stream,
                    Err(message) => {
                        yield AgentEvent::Error { message };
                        return;
                    }
                };
                while let Some(event) = model_stream.next().await {
                    match event {
                        Ok(ModelEvent::TextDelta(text)) => {
                            turn.text.push_str(&text);
                            yield AgentEvent::TextDelta { text };
                        }
                        Ok(ModelEvent::ToolUse(call)) => turn.calls.push(call),
                        Ok(ModelEvent::Stop { reason, usage: turn_usage }) => {
                            usage += turn_usage;
                            turn.stop = Some(reason);
                        }
                        Err(error) => {
                            yield AgentEvent::Error { message: error.to_string() };
                            return;
                        }
                    }
                }
                let Some(stop_reason) = turn.stop.take() else {
                    yield AgentEvent::Error { message: "the model stream ended without a stop".into() };
                    return;
                };

                let assistant = turn.message();
                conversation.push(assistant.clone());
                yield AgentEvent::Message { message: assistant };

                if turn.calls.is_empty() {
                    yield AgentEvent::CycleEnd { cycle, stop_reason };
                    yield AgentEvent::Final { text: turn.text };
                    yield AgentEvent::Usage { usage };
                    return;
                }

                for call in &turn.calls {
                    yield AgentEvent::ToolStart {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        input: call.input.clone(),
                    };
                }
                let mut results = vec![None; turn.calls.len()];
                let mut running: FuturesUnordered<_> = turn
                    .calls
                    .iter()
                    .enumerate()
                    .map(|(index, call)| agent.run_tool(index, call))
                    .collect();
                while let Some((index, outcome, elapsed)) = running.next().await {
                    let call = &turn.calls[index];
                    let (output, error) = match &outcome {
                        Ok(value) => (Some(value.clone()), None),
                        Err(error) => (None, Some(error.to_string())),
                    };
                    yield AgentEvent::ToolEnd {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        output,
                        error,
                        duration_ms: elapsed.as_secs_f64() * 1000.0,
                    };
                    let mut block = result_block(call, outcome);
                    agent.shorten(&mut block);
                    results[index] = Some(block);
                }
                drop(running);

                let message = Message { role: Role::User, content: results.into_iter().flatten().collect() };
                conversation.push(message.clone());
                yield AgentEvent::Message { message };
                yield AgentEvent::CycleEnd { cycle, stop_reason };
            }
            // The last cycle offers no tools, so only a provider that calls them anyway, or
            // a limit of 0, ends up here.
            let message = match agent.config.max_cycles {
                0 => "the agent is configured with no cycles (agent.max_cycles = 0)".to_owned(),
                limit => format!("the model was still calling tools after {limit} cycles, the limit"),
            };
            yield AgentEvent::Error { message };
        }
        .boxed()
    }

    async fn start_turn(
        &self,
        conversation: &[Message],
        cycle: u32,
    ) -> Result<crate::model::ModelStream, String> {
        let last = cycle == self.config.max_cycles;
        let offer_tools = !last && !self.tools.is_empty();
        let mut request = ModelRequest {
            system: self.config.system_prompt.clone(),
            messages: conversation.to_vec(),
            tools: Vec::new(),
            tool_choice: match (offer_tools, cycle) {
                (false, _) => ToolChoice::None,
                (true, 1) => self.config.first_tool_choice,
                (true, _) => self.config.later_tool_choice,
            },
            max_tokens: self.config.max_tokens,
        };
        // A model told it may not call tools is better off not reading about them.
        if request.tool_choice != ToolChoice::None {
            request.tools = self.tools.specs();
        }
        window::fit(self.model.as_ref(), &mut request).map_err(|error| error.to_string())?;
        self.model
            .stream(request)
            .await
            .map_err(|error| error.to_string())
    }

    /// Cuts a tool result down to half of what the context leaves beside the answer, so
    /// that one large web page cannot crowd the conversation out, and says so at the cut.
    fn shorten(&self, block: &mut ContentBlock) {
        let ContentBlock::ToolResult { content, .. } = block else {
            return;
        };
        let room = self
            .model
            .context_tokens()
            .saturating_sub(self.config.max_tokens as usize);
        let limit = room / 2;
        let mut tokens = self.model.count_tokens(content);
        if tokens <= limit {
            return;
        }
        let total_chars = content.chars().count();
        let mut keep = total_chars.saturating_mul(limit) / tokens.max(1);
        // Token density varies along a text; a few proportional steps settle it.
        for _ in 0..4 {
            let cut = content
                .char_indices()
                .nth(keep)
                .map_or(content.len(), |(at, _)| at);
            tokens = self.model.count_tokens(&content[..cut]);
            if tokens <= limit {
                break;
            }
            keep = keep * 9 / 10;
        }
        let cut = content
            .char_indices()
            .nth(keep)
            .map_or(content.len(), |(at, _)| at);
        content.truncate(cut);
        let dropped = total_chars - keep;
        content.push_str(&format!("\n[truncated: {dropped} more characters]"));
    }

    async fn run_tool(
        &self,
        index: usize,
        call: &ToolCall,
    ) -> (usize, Result<Value, ToolError>, Duration) {
        let started = Instant::now();
        let outcome = match &call.malformed {
            Some(reason) => Err(ToolError::InvalidInput {
                tool: call.name.clone(),
                reason: reason.clone(),
            }),
            None => {
                self.tools
                    .call(&call.name, call.input.clone(), self.config.tool_timeout)
                    .await
            }
        };
        if let Err(error) = &outcome {
            tracing::info!(tool = %call.name, %error, "tool call failed");
        }
        (index, outcome, started.elapsed())
    }
}

/// What one model call produced.
#[derive(Default)]
struct Turn {
    text: String,
    calls: Vec<ToolCall>,
    stop: Option<StopReason>,
}

impl Turn {
    fn message(&self) -> Message {
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(ContentBlock::Text {
                text: self.text.clone(),
            });
        }
        content.extend(self.calls.iter().map(|call| ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.name.clone(),
            input: call.input.clone(),
        }));
        Message {
            role: Role::Assistant,
            content,
        }
    }
}

fn result_block(call: &ToolCall, outcome: Result<Value, ToolError>) -> ContentBlock {
    let (content, is_error) = match outcome {
        // A plain string result goes to the model as it is, without JSON quotes.
        Ok(Value::String(text)) => (text, false),
        Ok(value) => (value.to_string(), false),
        Err(error) => (error.to_string(), true),
    };

    ContentBlock::ToolResult {
        tool_use_id: call.id.clone(),
        content,
        is_error,
    }
}
