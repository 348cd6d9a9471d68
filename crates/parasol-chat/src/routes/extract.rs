//! Request extractors whose refusals are [`ApiError`]s: JSON bodies that name the field at
//! fault, and ids from the path.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::store::{MessageId, ThreadId};

/// A JSON body. Malformed JSON and wrong types are `invalid_request` naming the JSON path
/// at fault, a body over the limit is `payload_too_large`.
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(request, state).await?;
        parse(&bytes).map(Self)
    }
}

/// A JSON body that may be left out (empty), giving `T::default()`.
#[derive(Debug, Clone)]
pub(crate) struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length == "0");
        if declared_empty || !request.headers().contains_key(header::CONTENT_TYPE) {
            let bytes = read_bytes(request, state).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(T::default()));
            }
            return parse(&bytes).map(Self);
        }
        let bytes = read_json_body(request, state).await?;
        parse(&bytes).map(Self)
    }
}

async fn read_json_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(request.headers()) {
        return Err(ApiError::invalid(
            "the body must be JSON, sent with Content-Type: application/json",
            None,
        ));
    }
    read_bytes(request, state).await
}

async fn read_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is too large".to_owned())
            } else {
                ApiError::invalid(rejection.body_text(), None)
            }
        })
}

/// Reads `bytes` as a `T`, naming the JSON path of the first value that does not fit.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner();
        let field = (path != ".").then_some(path);
        let message = match (&field, inner.classify()) {
            (_, serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
                format!("the body is not valid JSON: {inner}")
            }
            (Some(field), _) => format!("invalid value for `{field}`: {inner}"),
            (None, _) => format!("invalid request body: {inner}"),
        };
        ApiError::invalid(message, field)
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::invalid(format!("the body is not valid JSON: {error}"), None))?;
    Ok(value)
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5 && essence.to_ascii_lowercase().ends_with("+json"))
}

/// A thread id from the path. A malformed id names no thread, so it is `not_found` like
/// any other missing one.
pub(crate) fn thread_id(raw: &str) -> Result<ThreadId, ApiError> {
    ThreadId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// A message id from the path; anything but a positive number is `not_found`.
pub(crate) fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(MessageId::new)
        .ok_or(ApiError::NotFound)
}
