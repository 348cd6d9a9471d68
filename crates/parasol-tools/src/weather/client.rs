//! The Open-Meteo forecast API, with a small cache of recent answers.
//!
//! The API answers a bad request with HTTP 400 and `{"error": true, "reason": "..."}`;
//! the reason is handed on, since it says exactly what to change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// What went wrong while asking for the weather.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The API answered with its error object.
    #[error("the weather service refused the request: {0}")]
    Api(String),
    /// No answer within the timeout.
    #[error("the weather service did not answer within {} s; try again later", .0.as_secs_f32())]
    Timeout(Duration),
    /// No connection, or an error status without the API's error object.
    #[error("the weather service is unavailable ({0}); try again later")]
    Unavailable(String),
    /// An answer that is not the forecast format.
    #[error("the weather service sent an answer that could not be read: {0}")]
    Malformed(String),
}

/// A cached answer: the body as it came, kept for `ttl`.
struct Entry {
    stored: Instant,
    body: Arc<str>,
}

/// The HTTP client for one Open-Meteo base URL.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    forecast_url: String,
    timeout: Duration,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("forecast_url", &self.forecast_url)
            .finish_non_exhaustive()
    }
}

/// Answers kept at most; beyond it the oldest goes. A weather agent for one place asks
/// a handful of distinct questions a day.
const CACHE_ENTRIES: usize = 128;

impl Client {
    /// A client for the API at `base_url` (`https://api.open-meteo.com`).
    pub fn new(base_url: &str, timeout: Duration, ttl: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("parasol/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientError::Unavailable(error.to_string()))?;
        Ok(Self {
            http,
            forecast_url: format!("{}/v1/forecast", base_url.trim_end_matches('/')),
            timeout,
            ttl,
            cache: Arc::default(),
        })
    }

    /// Fetches the forecast for `query` (pairs of parameter and value), from the cache
    /// when the same query was answered less than `ttl` ago.
    pub async fn forecast<T: DeserializeOwned>(
        &self,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let url = reqwest::Url::parse_with_params(&self.forecast_url, query)
            .map_err(|error| ClientError::Unavailable(format!("bad base URL: {error}")))?;
        let body = match self.cached(url.as_str()) {
            Some(body) => body,
            None => {
                let body = self.fetch(url.clone()).await?;
                self.store(url.as_str(), Arc::clone(&body));
                body
            }
        };
        serde_json::from_str(&body).map_err(|error| ClientError::Malformed(error.to_string()))
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<Arc<str>, ClientError> {
        let transport = |error: reqwest::Error| {
            if error.is_timeout() {
                ClientError::Timeout(self.timeout)
            } else {
                ClientError::Unavailable(innermost(&error))
            }
        };
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        let body = response.text().await.map_err(transport)?;
        if status.is_success() {
            return Ok(body.into());
        }
        match serde_json::from_str::<ApiError>(&body) {
            Ok(ApiError {
                error: true,
                reason,
            }) => Err(ClientError::Api(reason)),
            _ => Err(ClientError::Unavailable(format!("HTTP {status}"))),
        }
    }

    fn cached(&self, key: &str) -> Option<Arc<str>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(key)?;
        (entry.stored.elapsed() < self.ttl).then(|| Arc::clone(&entry.body))
    }

    fn store(&self, key: &str, body: Arc<str>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, entry| entry.stored.elapsed() < self.ttl);
        let oldest = cache
            .iter()
            .min_by_key(|(_, entry)| entry.stored)
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest.filter(|_| cache.len() >= CACHE_ENTRIES) {
            cache.remove(&oldest);
        }
        cache.insert(
            key.to_owned(),
            Entry {
                stored: Instant::now(),
                body,
            },
        );
    }
}

#[derive(serde::Deserialize)]
struct ApiError {
    error: bool,
    #[serde(default)]
    reason: String,
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
