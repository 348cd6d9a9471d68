//! Test databases on both backends, and helpers shared by the store tests.
//!
//! Each test gets a database of its own: a SQLite file in a temporary directory, or a
//! PostgreSQL database created for it on the server named by `PARASOL_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`) and dropped when the test ends, so
//! the tests run in parallel. A PostgreSQL that cannot be reached fails the test.

use std::sync::Arc;
use std::time::Duration;

use parasol_chat::store::{DatabaseLocation, ManualClock, Store, StoreError, ThreadId, UserId};
use secrecy::SecretString;
use sqlx::{Connection as _, PgConnection, SqliteConnection};
use tempfile::TempDir;

/// Where every test clock starts: an ordinary time in 2025, in milliseconds.
pub const START_MS: i64 = 1_750_000_000_000;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Runs each named `async fn(&TestDb)` once on SQLite and once on PostgreSQL, as
/// `<name>::on_sqlite` and `<name>::on_postgres`.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                let db = crate::support::sqlite().await;
                super::$case(&db).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let db = crate::support::postgres().await;
                super::$case(&db).await;
            }
        }
    )+};
}

/// A store on a fresh database, with a clock the test moves.
#[derive(Debug)]
pub struct TestDb {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    raw: Raw,
}

#[derive(Debug)]
enum Raw {
    Sqlite { _dir: TempDir, url: String },
    Postgres(PostgresDatabase),
}

/// A store on a new SQLite file in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&DatabaseLocation::Sqlite(path))
        .await
        .unwrap();
    TestDb::new(store, Raw::Sqlite { _dir: dir, url })
}

/// A store on a new PostgreSQL database.
pub async fn postgres() -> TestDb {
    let database = PostgresDatabase::create().await;
    let location = DatabaseLocation::Postgres(SecretString::from(database.url.clone()));
    let store = Store::connect(&location).await.unwrap();
    TestDb::new(store, Raw::Postgres(database))
}

impl TestDb {
    fn new(store: Store, raw: Raw) -> Self {
        let clock = Arc::new(ManualClock::new(START_MS));
        let store = store.with_clock(clock.clone());
        Self { store, clock, raw }
    }

    /// A user seen for the first time.
    pub async fn user(&self, subject: &str) -> UserId {
        self.store
            .upsert_user(subject, subject, Some(&format!("{subject}@example.com")))
            .await
            .unwrap()
    }

    /// How many rows `table` holds, read past the store.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.raw {
            Raw::Sqlite { url, .. } => {
                let mut conn = SqliteConnection::connect(url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
            }
            Raw::Postgres(database) => {
                let mut conn = PgConnection::connect(&database.url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// A user's stored name, e-mail, `first_seen` and `last_seen`, read past the store.
    pub async fn user_row(&self, subject: &str) -> (String, Option<String>, i64, i64) {
        let sql = "SELECT display_name, email, first_seen, last_seen FROM users WHERE subject = $1";
        match &self.raw {
            Raw::Sqlite { url, .. } => {
                let mut conn = SqliteConnection::connect(url).await.unwrap();
                let query = sqlx::query_as(sql).bind(subject);
                query.fetch_one(&mut conn).await.unwrap()
            }
            Raw::Postgres(database) => {
                let mut conn = PgConnection::connect(&database.url).await.unwrap();
                let query = sqlx::query_as(sql).bind(subject);
                query.fetch_one(&mut conn).await.unwrap()
            }
        }
    }
}

/// A well-formed thread id that names no thread.
pub fn missing_thread_id() -> ThreadId {
    ThreadId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap()
}

/// The outcome of a store call, reduced to what a caller could observe: "ok", or the
/// error's variant and message.
pub fn outcome<T>(result: &Result<T, StoreError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{error:?}: {error}"),
    }
}

/// A PostgreSQL database made for one test and dropped with it.
#[derive(Debug)]
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create() -> Self {
        let admin_url = std::env::var("PARASOL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = connect_admin(&admin_url).await;

        let mut suffix = [0_u8; 8];
        getrandom::fill(&mut suffix).unwrap();
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("parasol_test_{suffix}");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();

        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            admin_url,
            name,
            url: url.into(),
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the one running this, so the
        // database is dropped from a thread with a runtime of its own. FORCE ends the
        // store's pooled connections, which may not all have closed yet.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.unwrap();
                sqlx::query(&sql).execute(&mut admin).await.unwrap();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database {}", self.name);
        }
    }
}

async fn connect_admin(admin_url: &str) -> PgConnection {
    let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(admin_url));
    match attempt.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => panic!(
            "PostgreSQL is not reachable at {}: {error}. The store tests need it: start it, \
             or set PARASOL_TEST_POSTGRES_URL to a server where this user may create databases.",
            redacted(admin_url)
        ),
        Err(_) => panic!(
            "PostgreSQL at {} did not answer within 10 s. The store tests need it: start it, \
             or set PARASOL_TEST_POSTGRES_URL.",
            redacted(admin_url)
        ),
    }
}

/// The URL without its password, for a failure message.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.into()
        }
        Err(_) => "(an unparsable PARASOL_TEST_POSTGRES_URL)".to_owned(),
    }
}
