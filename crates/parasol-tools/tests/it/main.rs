//! The base tools' integration tests, in one binary so that it links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch;
mod calculator;
mod current_time;
mod guard;
mod http_request;
mod open_meteo;
mod schemas;
mod support;
mod think;
mod weather;
