//! Test harness for Parasol: the real parts its tests run against, each started on a free
//! port by the test itself and stopped when its handle is dropped.
//!
//! - [`OidcProvider`]: the npm package `oidc-provider` as an OpenID provider, with the
//!   clients and users a test registers, and its development sign-in pages;
//! - [`Nginx`]: Debian's nginx in the foreground with a test's configuration, in a
//!   temporary prefix so that it needs no root and leaves nothing behind;
//! - [`Browser`]: an HTTP client with a cookie jar that follows redirects one hop at a
//!   time, records every hop, and can sign in through the provider's pages;
//! - [`Chrome`]: Debian's headless Chromium driven by chromedriver over WebDriver, for
//!   what only a real browser shows (scripts, streaming, layout, screenshots).
//!
//! The parts come from `scripts/install-test-deps`; when one is missing the error says so.

pub mod browserless;
pub mod chrome;
pub mod net;
pub mod nginx;
pub mod oidc;
mod output;

pub use browserless::{Browser, BrowserError, Form, Hop};
pub use chrome::{Chrome, ChromeError, ChromeSetup};
pub use net::{free_port, wait_for_port};
pub use nginx::{Nginx, NginxError};
pub use oidc::{Client, Lifetimes, OidcError, OidcProvider, ProviderSetup, TokenAuthMethod, User};

/// What the errors of this crate tell a developer whose machine lacks a part.
pub const INSTALL_HINT: &str = "run scripts/install-test-deps to install the test parts";
