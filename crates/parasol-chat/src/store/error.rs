//! The errors the store returns: bad input, a missing (or someone else's) record, a state
//! that forbids the change, and failures of the database itself.

use std::path::PathBuf;

/// Why a store operation failed.
///
/// A record that belongs to another user is reported exactly as a missing one
/// ([`StoreError::NotFound`]), so a caller cannot learn whether someone else's id exists.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input was refused before the database was asked.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No such record among the caller's own.
    #[error("not found")]
    NotFound,
    /// The message is not an assistant answer still being generated, so it takes no
    /// steps and cannot be finished.
    #[error("the message is not being generated")]
    NotGenerating,
    /// The step has already been given its output.
    #[error("the step has already finished")]
    StepFinished,
    /// The database URL names neither SQLite nor PostgreSQL. The URL itself is left out
    /// of the message because it may carry a password.
    #[error("the database url must start with sqlite: or postgres:")]
    UnsupportedUrl,
    /// The directory that holds the SQLite file could not be created.
    #[error("could not create the database directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it could not be created.
        #[source]
        source: std::io::Error,
    },
    /// The thread that saves questions could not be started.
    #[error("could not start the database writer's thread")]
    Thread(#[source] std::io::Error),
    /// The system could not supply random bytes for a new id.
    #[error("no randomness available for a new id")]
    Random(#[from] getrandom::Error),
    /// A stored value could not be read back, such as a role the code does not know.
    #[error("the database holds an unexpected {what}")]
    Corrupt {
        /// Which value was unexpected.
        what: &'static str,
    },
    /// The schema could not be brought up to date.
    #[error("could not migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// An input that the store refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A required text was empty, or only whitespace.
    #[error("{field} must not be empty")]
    Empty {
        /// The input's name.
        field: &'static str,
    },
    /// A text was longer than the store keeps.
    #[error("{field} must be at most {max} {unit}")]
    TooLong {
        /// The input's name.
        field: &'static str,
        /// The limit.
        max: usize,
        /// What the limit counts: characters or bytes.
        unit: &'static str,
    },
    /// A thread id that this store could never have issued.
    #[error("malformed thread id")]
    ThreadId,
    /// A page cursor that this store could never have issued.
    #[error("malformed page cursor")]
    Cursor,
    /// A page size outside the allowed range.
    #[error("page limit must be between 1 and {max}")]
    PageLimit {
        /// The largest page.
        max: u32,
    },
    /// A step's input was not JSON.
    #[error("step input must be JSON")]
    StepInput,
    /// An answer was finished with the `generating` status.
    #[error("a finished answer needs a final status")]
    NotFinal,
    /// A negative step duration.
    #[error("step duration must not be negative")]
    Duration,
    /// A token count too large to store.
    #[error("token count out of range")]
    TokenCount,
}
