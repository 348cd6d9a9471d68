//! The identifiers of stored records.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::error::ValidationError;

/// A user's row id, as returned by [`Store::upsert_user`](super::Store::upsert_user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub(crate) i64);

impl UserId {
    /// The number behind the id.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A message's id. It is a plain number, so it is only ever used together with the owner
/// whose threads it must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(pub(crate) i64);

impl MessageId {
    /// An id as it arrives from a client. Whether it exists is for the store to say.
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    /// The number behind the id.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A tool step's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StepId(pub(crate) i64);

impl StepId {
    /// An id as it arrives from a caller. Whether it exists is for the store to say.
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    /// The number behind the id.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// How many random bytes make a thread id: 128 bits, so ids cannot be guessed.
const THREAD_ID_BYTES: usize = 16;

/// The length of a thread id in base64url without padding.
const THREAD_ID_LEN: usize = 22;

/// A thread's id: 128 random bits in unpadded base64url, safe in a URL path as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ThreadId(String);

impl ThreadId {
    /// A fresh random id.
    pub(crate) fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0_u8; THREAD_ID_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// An id read back from the database, which only holds ids this store issued.
    pub(crate) fn from_db(id: String) -> Self {
        Self(id)
    }

    /// Checks the shape of an id from a client: 22 base64url characters. A well-formed id
    /// may still name no thread.
    pub fn parse(id: &str) -> Result<Self, ValidationError> {
        let well_formed = id.len() == THREAD_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(Self(id.to_owned()))
        } else {
            Err(ValidationError::ThreadId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
