//! Where the database lives, read from the configured URL and the data directory.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::error::StoreError;

/// The SQLite file's name in the data directory when no URL is configured.
pub const DEFAULT_SQLITE_FILE: &str = "chat.db";

/// A database to open.
#[derive(Debug)]
pub enum DatabaseLocation {
    /// A SQLite file, created with its directory if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL server. The URL is kept secret because it may carry a password.
    Postgres(SecretString),
}

impl DatabaseLocation {
    /// Reads the `[database] url` setting.
    ///
    /// No URL means SQLite at [`DEFAULT_SQLITE_FILE`] in `data_dir`. `sqlite:PATH` and
    /// `sqlite://PATH` name a file, a relative one inside `data_dir`; an in-memory
    /// database or URL parameters are refused, since each pooled connection would see
    /// a database of its own. `postgres://` and `postgresql://` URLs go to PostgreSQL
    /// as they are.
    pub fn from_config(url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        let Some(url) = url.map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(Self::Sqlite(data_dir.join(DEFAULT_SQLITE_FILE)));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(url.to_owned())));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(StoreError::UnsupportedUrl);
        };
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() || path.contains('?') || path.starts_with(":memory:") {
            return Err(StoreError::UnsupportedUrl);
        }
        Ok(Self::Sqlite(data_dir.join(path)))
    }
}
