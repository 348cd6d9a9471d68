//! The chat API's one error type, and how each error becomes a JSON response with a stable
//! code.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::generation::GenerationError;
use crate::store::{StoreError, ValidationError};
use crate::wire::{ErrorBody, ErrorDetail};

/// Why an API request failed. Each variant has a fixed status and code; the message of
/// an [`ApiError::Internal`] stays in the server's log and the client is told only that
/// something went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid identity token came with the request.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// No such record among the caller's own. Someone else's record is reported the
    /// same way, so its existence cannot be learned.
    #[error("not found")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is malformed.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The input at fault, when it can be named.
        field: Option<String>,
    },
    /// The body, or the message in it, is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request clashes with the state of the record, such as a second message posted
    /// to a thread whose answer is still being written.
    #[error("{0}")]
    Conflict(&'static str),
    /// The user has asked too much too fast.
    #[error("{message}")]
    RateLimited {
        /// What limit was hit.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// Something failed on the server.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An [`ApiError::InvalidRequest`] about `field`.
    pub fn invalid(message: impl Into<String>, field: Option<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            field,
        }
    }

    /// An [`ApiError::Internal`] wrapping `error`.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    fn body(&self) -> ErrorBody {
        let (message, field) = match self {
            Self::InvalidRequest { message, field } => (message.clone(), field.clone()),
            Self::Internal(_) => ("something went wrong on the server".to_owned(), None),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            tracing::error!(error = %chain(source.as_ref()), "request failed");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::RateLimited { retry_after, .. } = &self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_seconds(*retry_after)),
            );
        }
        response
    }
}

/// An error and its causes, each by its message: `Debug` output of a driver error could
/// carry more than a log should.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A wait in whole seconds, rounded up and at least 1, as `Retry-After` carries it
/// (RFC 9110, section 10.2.3).
fn retry_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Invalid(invalid) => invalid.into(),
            StoreError::NotGenerating => Self::Conflict("the answer is no longer being generated"),
            other => Self::internal(other),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        let field = match &error {
            ValidationError::Empty { field } | ValidationError::TooLong { field, .. } => {
                Some((*field).to_owned())
            }
            ValidationError::Cursor => Some("cursor".to_owned()),
            ValidationError::PageLimit { .. } => Some("limit".to_owned()),
            _ => None,
        };
        Self::invalid(error.to_string(), field)
    }
}

impl From<GenerationError> for ApiError {
    fn from(error: GenerationError) -> Self {
        match error {
            GenerationError::NotFound => Self::NotFound,
            GenerationError::TooLong { max } => {
                Self::PayloadTooLarge(format!("a message may be at most {max} bytes"))
            }
            GenerationError::Busy => {
                Self::Conflict("an answer is still being generated in this thread")
            }
            error @ (GenerationError::RateLimited { retry_after }
            | GenerationError::TooManyGenerations { retry_after }) => Self::RateLimited {
                message: error.to_string(),
                retry_after,
            },
            GenerationError::Store(error) => error.into(),
            error @ GenerationError::StartFailed(_) => Self::internal(error),
        }
    }
}
