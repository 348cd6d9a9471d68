//! The gateway's integration tests, one binary with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod expiry;
mod id_token_attacks;
mod limit;
mod local_sign_in;
mod oidc_flow;
mod redirect;
mod redis_sessions;
mod sessions;
mod support;
mod through_nginx;
mod tokens;
mod users;
