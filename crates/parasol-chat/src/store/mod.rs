//! The chat server's persistence: users, threads, messages, tool steps and feedback, in
//! SQLite (the default, one file in the data directory) or PostgreSQL.
//!
//! [`Store`] is one type over both backends. Every query is one SQL string written for
//! both: SQLite reads PostgreSQL's `$1` placeholders too, times are `i64` Unix
//! milliseconds, and the schemas (in `migrations/`) agree on types, ordering and
//! collation, so the two backends give the same answers.
//!
//! Every operation on a thread, a message or a step names the user it acts for, and the
//! SQL matches on that owner. Someone else's record is therefore indistinguishable from
//! a missing one: reads return `Ok(None)` and writes [`StoreError::NotFound`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$pool` bound to whichever pool the store reads from. The body is
/// compiled once per backend, which is how one SQL string serves both without a
/// hand-written copy of each query.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { readers: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// [`on_pool!`] for anything that writes: on SQLite that is the one writing connection,
/// on PostgreSQL the same pool as the reads.
macro_rules! on_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { writer: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

mod ask;
mod clock;
mod error;
mod feedback;
mod health;
mod ids;
mod location;
mod messages;
mod model;
mod rows;
mod steps;
mod threads;
mod users;
mod validate;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StoreError, ValidationError};
pub use ids::{MessageId, StepId, ThreadId, UserId};
pub use location::{DEFAULT_SQLITE_FILE, DatabaseLocation};
/// The title of a thread created without one, until its first message names it (see
/// [`Store::ask`]).
pub const DEFAULT_THREAD_TITLE: &str = "New chat";

pub use model::{
    AnswerOutcome, Exchange, Feedback, Message, MessageStatus, NewStep, Role, Step, StepOutcome,
    Thread, ThreadCursor, ThreadDetail, ThreadPage, TokenUsage,
};
pub use validate::{
    MAX_CONTENT_BYTES, MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_BYTES, MAX_ERROR_CHARS, MAX_HTML_BYTES,
    MAX_PAGE_LIMIT, MAX_STEP_INPUT_BYTES, MAX_STEP_OUTPUT_BYTES, MAX_SUBJECT_BYTES,
    MAX_TITLE_CHARS, MAX_TOOL_FIELD_BYTES,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite write waits for another connection's write to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads run beside the write in progress, on connections of their own.
const SQLITE_MAX_READERS: u32 = 4;

const POSTGRES_MAX_CONNECTIONS: u32 = 10;

/// How long a caller waits for a pooled connection before the store reports an error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The chat database. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
enum Backend {
    /// SQLite lets one connection write at a time. With several writing connections the
    /// others wait for the lock in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms
    /// between tries; through one writing connection they queue in the pool instead and
    /// each starts as soon as the write before it ends.
    Sqlite {
        readers: SqlitePool,
        writer: SqlitePool,
        /// Saves the writes on every answer's way, many at once (see `writer`).
        writer_thread: writer::Writer,
    },
    Postgres(PgPool),
}

impl Store {
    /// Opens the database and brings its schema up to date.
    pub async fn connect(location: &DatabaseLocation) -> Result<Self, StoreError> {
        let backend = match location {
            DatabaseLocation::Sqlite(path) => open_sqlite(path).await?,
            DatabaseLocation::Postgres(url) => Backend::Postgres(open_postgres(url).await?),
        };
        Ok(Self {
            backend,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same store, telling time by `clock` from now on.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// `"sqlite"` or `"postgres"`, for logs and health reports.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection, waiting for the ones in use to come back.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
        on_writer!(self, pool => pool.close().await);
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

async fn open_sqlite(path: &Path) -> Result<Backend, StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }

    // WAL lets readers go on while one connection writes; with it, NORMAL syncing cannot
    // corrupt the file and loses at most the last commits on a power cut. Foreign keys
    // are off by default in SQLite, and the cascading deletes depend on them. The busy
    // timeout still matters for other processes writing the same file.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    // A connection to a local file cannot be lost the way a network one can, so sqlx's
    // check on each acquire would only add a round trip to SQLite's thread.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await?;
    SQLITE_MIGRATIONS.run(&writer).await?;

    let readers = SqlitePoolOptions::new()
        .max_connections(SQLITE_MAX_READERS)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    tracing::info!(backend = "sqlite", path = %path.display(), "chat database ready");
    let writer_thread = writer::Writer::start(writer.clone())?;
    Ok(Backend::Sqlite {
        readers,
        writer,
        writer_thread,
    })
}

async fn open_postgres(url: &SecretString) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.expose_secret().parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;

    // sqlx takes an advisory lock around the migrations, so replicas starting together
    // do not race.
    POSTGRES_MIGRATIONS.run(&pool).await?;
    tracing::info!(backend = "postgres", "chat database ready");
    Ok(pool)
}
