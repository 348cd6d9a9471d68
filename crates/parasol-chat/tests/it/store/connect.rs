//! Opening the database: where the configuration points, and what SQLite is set up with.

use std::path::Path;

use parasol_chat::store::{DEFAULT_SQLITE_FILE, DatabaseLocation, Store, StoreError};
use secrecy::ExposeSecret as _;
use sqlx::{Connection as _, SqliteConnection};

#[test]
fn the_database_url_picks_the_backend_and_file() {
    let data = Path::new("/var/lib/parasol");
    let sqlite = |url: Option<&str>| match DatabaseLocation::from_config(url, data) {
        Ok(DatabaseLocation::Sqlite(path)) => path,
        other => panic!("{url:?}: {other:?}"),
    };

    assert_eq!(sqlite(None), data.join(DEFAULT_SQLITE_FILE));
    assert_eq!(sqlite(Some("  ")), data.join(DEFAULT_SQLITE_FILE));
    assert_eq!(sqlite(Some("sqlite://chat/x.db")), data.join("chat/x.db"));
    assert_eq!(sqlite(Some("sqlite:x.db")), data.join("x.db"));
    assert_eq!(sqlite(Some("sqlite:///srv/x.db")), Path::new("/srv/x.db"));

    let url = "postgres://chat:secret@db.internal/chat";
    match DatabaseLocation::from_config(Some(url), data) {
        Ok(location @ DatabaseLocation::Postgres(_)) => {
            let DatabaseLocation::Postgres(secret) = &location else {
                unreachable!()
            };
            assert_eq!(secret.expose_secret(), url);
            assert!(!format!("{location:?}").contains("secret@"), "{location:?}");
        }
        other => panic!("{other:?}"),
    }
    for refused in [
        "mysql://x",
        "sqlite::memory:",
        "sqlite://",
        "sqlite:x.db?mode=ro",
        "x.db",
    ] {
        assert!(
            matches!(
                DatabaseLocation::from_config(Some(refused), data),
                Err(StoreError::UnsupportedUrl)
            ),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn sqlite_creates_its_directory_and_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not/yet/there").join(DEFAULT_SQLITE_FILE);

    let store = Store::connect(&DatabaseLocation::Sqlite(path.clone()))
        .await
        .unwrap();
    let alice = store.upsert_user("alice", "Alice", None).await.unwrap();
    store.create_thread(alice, "kept").await.unwrap();
    store.close().await;

    assert!(path.is_file());
    let mut raw = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    raw.close().await.unwrap();

    // Opening again finds the migrations applied and the data in place.
    let store = Store::connect(&DatabaseLocation::Sqlite(path))
        .await
        .unwrap();
    let again = store.upsert_user("alice", "Alice", None).await.unwrap();
    assert_eq!(again, alice);
    assert_eq!(
        store
            .list_threads(alice, 10, None)
            .await
            .unwrap()
            .threads
            .len(),
        1
    );
    assert_eq!(store.backend_name(), "sqlite");
}
