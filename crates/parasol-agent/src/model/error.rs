//! What can go wrong while talking to a model.

use std::path::PathBuf;

/// A model provider's failure, phrased so that the person reading it knows what to check.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The server could not be reached at all.
    #[error(
        "cannot reach the model provider at {url}: {reason}; check that the server is running \
         and that base_url is right"
    )]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// The transport's own words.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{provider} answered {status}: {message}{hint}")]
    Status {
        /// Which provider.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The provider's own error message.
        message: String,
        /// What to do about it, if there is something obvious.
        hint: &'static str,
    },
    /// The stream carried something that is not the provider's wire format.
    #[error("{provider} sent a malformed stream: {detail}")]
    Malformed {
        /// Which provider.
        provider: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The stream ended before the turn did.
    #[error("{provider} closed the stream before the answer was complete")]
    Truncated {
        /// Which provider.
        provider: &'static str,
    },
    /// The provider reported an error in the middle of the stream.
    #[error("{provider} reported an error mid-stream: {message}")]
    Provider {
        /// Which provider.
        provider: &'static str,
        /// Its message.
        message: String,
    },
    /// The local model file is missing or cannot be loaded.
    #[error("cannot load the model file {}: {reason}; fetch it with `scripts/fetch-model`", path.display())]
    ModelFile {
        /// Where the file was looked for.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The local model failed while running.
    #[error("the local model failed: {0}")]
    Local(String),
    /// The request does not fit the model's context even after trimming.
    #[error("the conversation needs {needed} tokens but the model takes {limit}")]
    ContextOverflow {
        /// Tokens the request needs.
        needed: usize,
        /// Tokens the model takes.
        limit: usize,
    },
}

impl ModelError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
