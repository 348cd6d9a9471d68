//! The identity crate's integration tests, in one binary so that it links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod jwks;
mod key_store;
mod legacy;
mod signing;
mod support;
mod time_and_audience;
