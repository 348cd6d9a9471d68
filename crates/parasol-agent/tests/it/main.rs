//! The agent runtime's integration tests, in one binary so that it links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent_loop;
mod anthropic;
#[cfg(feature = "local")]
mod local_model;
mod openai;
mod support;
mod window;
