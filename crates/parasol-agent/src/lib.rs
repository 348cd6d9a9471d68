//! Parasol's agent runtime.
//!
//! The pieces, from the bottom up:
//!
//! - [`message`]: the conversation as the agent and every provider see it;
//! - [`model`]: the streaming [`Model`] interface and its providers (OpenAI-compatible
//!   endpoints, Anthropic, and a local GGUF model run in process through llama.cpp);
//! - [`tool`]: the [`Tool`] trait, with a JSON Schema derived from each tool's argument
//!   type, and the [`ToolSet`] the agent offers to the model;
//! - [`agent`]: the loop that streams the model, runs the tools it asks for and feeds
//!   the results back, emitting [`AgentEvent`]s for the chat server and the CLI alike;
//! - [`window`]: the conversation window that keeps a request within the model's context.
#![warn(missing_docs)]

pub mod agent;
pub mod event;
pub mod message;
pub mod model;
pub mod testing;
pub mod tool;
pub mod window;

pub use agent::{Agent, AgentConfig};
pub use event::AgentEvent;
pub use message::{ContentBlock, Message, Role};
pub use model::{Model, ModelError, ModelEvent, ModelRequest, StopReason, ToolChoice, Usage};
pub use tool::{Tool, ToolError, ToolSet, ToolSpec};
