//! The test kit's integration tests, in one binary so that it links once: each part is
//! started for real and used the way Parasol's own tests will use it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browserless;
mod chrome;
mod nginx;
mod oidc;
mod support;
