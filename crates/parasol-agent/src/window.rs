//! The conversation window: which part of a conversation fits in the model's context.
//!
//! Old exchanges are dropped whole, oldest first, so a tool result is never sent
//! without the call it answers. The exchange in progress is always kept.

use crate::message::Message;
use crate::model::{Model, ModelError, ModelRequest};

/// Tokens a message costs beyond its text (role markers and separators).
const PER_MESSAGE_OVERHEAD: usize = 4;

/// Trims `request.messages` so that the request and its answer fit `model`'s context.
pub fn fit(model: &dyn Model, request: &mut ModelRequest) -> Result<(), ModelError> {
    let limit = model.context_tokens();
    let tools: usize = request
        .tools
        .iter()
        .map(|tool| {
            model.count_tokens(&tool.input_schema.to_string())
                + model.count_tokens(&tool.description)
        })
        .sum();
    let fixed = model.count_tokens(&request.system) + tools + request.max_tokens as usize;
    let costs: Vec<usize> = request
        .messages
        .iter()
        .map(|message| cost(model, message))
        .collect();
    let mut total = fixed + costs.iter().sum::<usize>();

    let mut start = 0;
    while total > limit {
        // The next exchange after `start`; none means only the current one is left.
        let Some(next) = (start + 1..request.messages.len())
            .find(|&index| request.messages[index].starts_exchange())
        else {
            return Err(ModelError::ContextOverflow {
                needed: total,
                limit,
            });
        };
        total -= costs[start..next].iter().sum::<usize>();
        start = next;
    }
    if start > 0 {
        tracing::debug!(dropped = start, "conversation trimmed to fit the context");
        request.messages.drain(..start);
    }
    Ok(())
}

fn cost(model: &dyn Model, message: &Message) -> usize {
    let text: usize = message
        .content
        .iter()
        .map(|block| match block {
            crate::ContentBlock::Text { text } => model.count_tokens(text),
            crate::ContentBlock::ToolUse { name, input, .. } => {
                model.count_tokens(name) + model.count_tokens(&input.to_string())
            }
            crate::ContentBlock::ToolResult { content, .. } => model.count_tokens(content),
        })
        .sum();
    text + PER_MESSAGE_OVERHEAD
}
