//! Parasol's chat server: what it stores and how it shows model output.
//!
//! [`store`] keeps users, threads, messages, tool steps and feedback in SQLite or
//! PostgreSQL, every read and write scoped to the user it acts for. [`render`] turns
//! markdown, which comes from people and from models and so is untrusted, into sanitized
//! HTML with server-side syntax highlighting.
#![warn(missing_docs)]

pub mod render;
pub mod store;
