//! Server-Sent Events from a streaming HTTP answer.

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::Response;

use super::ModelError;
use super::http::read_error;

/// The events of `response`, parsed by the `eventsource-stream` crate.
pub(crate) fn events(
    provider: &'static str,
    response: Response,
) -> impl Stream<Item = Result<Event, ModelError>> + Send + 'static {
    response.bytes_stream().eventsource().map(move |item| {
        item.map_err(|error| match error {
            EventStreamError::Transport(error) => read_error(provider, error),
            other => ModelError::Malformed {
                provider,
                detail: other.to_string(),
            },
        })
    })
}

/// Parses an event's data as JSON of type `T`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    provider: &'static str,
    data: &str,
) -> Result<T, ModelError> {
    serde_json::from_str(data).map_err(|error| ModelError::Malformed {
        provider,
        detail: format!("{error} in event data {}", abbreviate(data)),
    })
}

fn abbreviate(data: &str) -> String {
    const LIMIT: usize = 120;
    if data.chars().count() <= LIMIT {
        return format!("`{data}`");
    }
    format!("`{}…`", data.chars().take(LIMIT).collect::<String>())
}
