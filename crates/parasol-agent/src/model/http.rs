//! What the HTTP providers share: sending with bounded retries, and reading error answers.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

use super::ModelError;

/// How often and how patiently a refused request (429, 5xx, no connection) is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles on each one.
    pub base_delay: Duration,
    /// The longest wait, whatever `Retry-After` asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.base_delay.saturating_mul(2u32.saturating_pow(attempt));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// The HTTP client a provider at `url` talks through.
pub(crate) fn client(url: &str, connect_timeout: Duration) -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|error| ModelError::Unreachable {
            url: url.to_owned(),
            reason: error.to_string(),
        })
}

/// Sends the request built by `build`, retrying what a retry may fix. Only the opening
/// of the stream is retried: once events have flowed, a failure is the caller's.
pub(crate) async fn send(
    provider: &'static str,
    url: &str,
    policy: RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, ModelError> {
    let mut attempt = 0;
    loop {
        let (error, retry_after) = match build().send().await {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let retry_after = retry_after(&response);
                (status_error(provider, response).await, retry_after)
            }
            Err(error) => (unreachable(url, &error), None),
        };
        if attempt >= policy.max_retries || !error.is_retryable() {
            return Err(error);
        }
        let delay = policy.delay(attempt, retry_after);
        tracing::warn!(provider, %error, ?delay, attempt = attempt + 1, "retrying model request");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn unreachable(url: &str, error: &reqwest::Error) -> ModelError {
    // reqwest's own message repeats the URL; the innermost cause says what happened
    // ("Connection refused", "failed to lookup address information").
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    ModelError::Unreachable {
        url: url.to_owned(),
        reason: cause.to_string(),
    }
}

/// Turns an error answer into a [`ModelError::Status`] carrying the provider's message.
async fn status_error(provider: &'static str, response: Response) -> ModelError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    ModelError::Status {
        provider,
        status: status.as_u16(),
        message: error_message(&body).unwrap_or_else(|| status_text(status, &body)),
        hint: hint(status),
    }
}

/// The `error.message` (OpenAI, Anthropic) or `message` field of an error body.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("message"))
        .or_else(|| value.get("error").filter(|error| error.is_string()))?;
    message.as_str().map(str::to_owned)
}

fn status_text(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return status.canonical_reason().unwrap_or("no message").to_owned();
    }
    body.chars().take(300).collect()
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "; check the API key",
        404 => "; check base_url and the model name",
        429 => "; the provider is limiting requests, try again later",
        _ => "",
    }
}

/// A connection-level failure in the middle of a stream.
pub(crate) fn read_error(provider: &'static str, error: impl std::fmt::Display) -> ModelError {
    ModelError::Malformed {
        provider,
        detail: format!("reading the stream failed: {error}"),
    }
}
