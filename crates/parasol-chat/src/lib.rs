//! Parasol's chat server (the `parasol chat` role): the web UI, the chat API with streamed
//! answers, and the threads behind them.
//!
//! - [`config`]: the `[chat]` section;
//! - [`identity`]: the `X-User-JWT` check every request but the health checks goes
//!   through, against the gateway's JWKS, a key file or a verifier handed in;
//! - [`generation`]: answers generated in tasks of their own, saved as they stream, with
//!   an event log per answer that streams replay and follow;
//! - [`wire`]: the API's JSON shapes, from which the OpenAPI document is generated;
//! - [`server`]: [`ChatServer`], which puts it together and serves it;
//! - [`store`] keeps users, threads, messages, tool steps and feedback in SQLite or
//!   PostgreSQL, every read and write scoped to the user it acts for;
//! - [`render`] turns markdown, which comes from people and from models and so is
//!   untrusted, into sanitized HTML with server-side syntax highlighting.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod generation;
pub mod identity;
pub mod render;
mod routes;
pub mod server;
mod state;
pub mod store;
pub mod wire;

pub use config::{ChatConfig, IdentityConfig, LimitsConfig};
pub use error::ApiError;
pub use identity::{IDENTITY_HEADER, VerifierSource};
pub use server::{ChatServer, ServerError};
pub use wire::Starter;
