//! Parasol's gateway: it signs people in and turns their session into an identity token.
//!
//! nginx asks `/oauth2/auth` about every request; the answer is a 401, or a 200 carrying a
//! short-lived Ed25519-signed `X-User-JWT` for the chat server. People sign in through an
//! OpenID Connect provider or a local users file, and their session lives in an encrypted,
//! authenticated cookie (or in Redis, with the cookie holding only its sealed id). The
//! gateway can also be the reverse proxy itself, so that nginx is optional.
#![warn(missing_docs)]

pub mod authz;
pub mod config;
pub mod cookies;
pub mod limit;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod proxy;
pub mod redirect;
pub mod routes;
pub mod seal;
pub mod secret;
pub mod server;
pub mod session;
pub mod session_store;
pub mod state;
pub mod tokens;
pub mod users;

pub use config::GateConfig;
pub use state::{BuildError, Gate};
