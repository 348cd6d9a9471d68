//! Parasol's base tools, built on [`parasol_agent::Tool`].
//!
//! Each tool is a module of its own:
//!
//! - [`calculator`]: bounded arithmetic, so the model need not compute in its head;
//! - [`http_request`]: HTTP on the public internet, guarded against server-side request
//!   forgery at every hop;
//! - [`current_time`]: the date and time now in an IANA time zone;
//! - [`batch`]: several calls of the other tools at once, results in order;
//! - [`think`]: a scratchpad that changes nothing;
//! - [`weather`]: Open-Meteo's hourly and daily forecast for one place, with the
//!   weather agent's prompt and starters.
//!
//! [`base_tools`] registers all of them, with `batch` dispatching to the others.
#![warn(missing_docs)]

pub mod batch;
pub mod calculator;
pub mod current_time;
pub mod http_request;
pub mod think;
pub mod weather;

use std::time::Duration;

use parasol_agent::ToolSet;

pub use batch::Batch;
pub use calculator::Calculator;
pub use current_time::CurrentTime;
pub use http_request::{HttpRequest, HttpRequestConfig};
pub use think::Think;

/// How the base tools are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseToolsConfig {
    /// The bounds and allowlist of `http_request`.
    pub http: HttpRequestConfig,
    /// The IANA time zone `current_time` answers in when not asked for another: the
    /// user's own.
    pub time_zone: String,
    /// How long each call inside a `batch` may take.
    pub batch_call_timeout: Duration,
}

impl Default for BaseToolsConfig {
    fn default() -> Self {
        let http = HttpRequestConfig::default();
        Self {
            // A batch call may be an HTTP request, so it gets a little more than one.
            batch_call_timeout: http.timeout + Duration::from_secs(5),
            http,
            time_zone: "UTC".into(),
        }
    }
}

/// Why the base tools could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BaseToolsError {
    /// The HTTP tool's configuration is wrong, or its client would not build.
    #[error(transparent)]
    Http(#[from] http_request::HttpRequestError),
    /// The default time zone is unknown.
    #[error(transparent)]
    TimeZone(#[from] current_time::CurrentTimeError),
}

/// The base tools: `calculator`, `http_request`, `current_time`, `think`, and `batch`
/// over those four.
pub fn base_tools(config: BaseToolsConfig) -> Result<ToolSet, BaseToolsError> {
    let mut tools = ToolSet::new();
    tools
        .register(Calculator)
        .register(HttpRequest::new(config.http)?)
        .register(CurrentTime::new(&config.time_zone)?)
        .register(Think);

    // The batch holds a copy of the set made before it joins, so it cannot reach itself.
    let batch = Batch::new(tools.clone(), config.batch_call_timeout);
    tools.register(batch);
    Ok(tools)
}
