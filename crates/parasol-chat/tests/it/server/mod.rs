//! The chat server over HTTP: identity, isolation between users, streaming, and the API
//! around it, on a server bound to port 0.

#[macro_use]
mod harness;

mod api;
mod auth;
mod isolation;
mod streaming;
