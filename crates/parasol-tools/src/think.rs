//! The `think` tool: a scratchpad the model writes to, which changes nothing.

use parasol_agent::Tool;
use schemars::JsonSchema;
use serde::Deserialize;

/// The longest thought accepted, in characters.
pub const MAX_THOUGHT: usize = 8_000;

/// Why a thought was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThinkError {
    /// Longer than [`MAX_THOUGHT`].
    #[error("the thought has {length} characters, more than the {max} allowed; be briefer")]
    TooLong {
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
}

/// The think tool's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ThinkArgs {
    /// The reasoning to note: a plan, a check of results so far, or what to do next.
    pub thought: String,
}

/// Lets the model reason in a step of its own between tool calls. It has no effect: the
/// thought stays in the conversation as the call's arguments, and the reply only
/// acknowledges it.
#[derive(Debug, Clone, Default)]
pub struct Think;

impl Tool for Think {
    type Args = ThinkArgs;
    type Output = String;
    type Error = ThinkError;
    const NAME: &'static str = "think";

    fn description(&self) -> String {
        format!(
            "Write down your reasoning before acting: plan the next steps, check results \
             from earlier tools against the request, or weigh options. Nothing is looked up \
             or changed; the thought is only noted. At most {MAX_THOUGHT} characters."
        )
    }

    async fn call(&self, args: ThinkArgs) -> Result<String, ThinkError> {
        let length = args.thought.chars().count();
        if length > MAX_THOUGHT {
            return Err(ThinkError::TooLong {
                length,
                max: MAX_THOUGHT,
            });
        }
        Ok("Noted.".to_owned())
    }
}
