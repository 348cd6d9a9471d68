//! Users: recorded on first sight, refreshed on every later one.

use parasol_chat::store::{MAX_DISPLAY_NAME_CHARS, StoreError, ValidationError};

use crate::support::{START_MS, TestDb};

on_both_backends!(
    a_returning_user_keeps_their_id_and_gets_a_fresh_profile,
    an_identity_needs_a_subject,
    overlong_names_are_cut_and_overlong_emails_dropped,
);

async fn a_returning_user_keeps_their_id_and_gets_a_fresh_profile(db: &TestDb) {
    let first = db
        .store
        .upsert_user("sub-1", "Ada", Some("ada@example.com"))
        .await
        .unwrap();
    let other = db.store.upsert_user("sub-2", "Grace", None).await.unwrap();
    db.clock.advance(60_000);

    let again = db.store.upsert_user("sub-1", "Ada L.", None).await.unwrap();

    assert_eq!(again, first);
    assert_ne!(other, first);
    assert_eq!(
        db.user_row("sub-1").await,
        ("Ada L.".to_owned(), None, START_MS, START_MS + 60_000)
    );
    assert_eq!(db.count_rows("users").await, 2);
}

async fn an_identity_needs_a_subject(db: &TestDb) {
    for subject in ["", "   ", &"s".repeat(256)] {
        let refused = db.store.upsert_user(subject, "name", None).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Invalid(
                    ValidationError::Empty { field: "subject" }
                        | ValidationError::TooLong {
                            field: "subject",
                            ..
                        }
                ))
            ),
            "{subject:?}: {refused:?}"
        );
    }
    assert_eq!(db.count_rows("users").await, 0);
}

async fn overlong_names_are_cut_and_overlong_emails_dropped(db: &TestDb) {
    let long_name = "N".repeat(MAX_DISPLAY_NAME_CHARS + 10);
    let long_email = format!("{}@example.com", "e".repeat(400));

    db.store
        .upsert_user("sub", &long_name, Some(&long_email))
        .await
        .unwrap();

    let (name, email, _, _) = db.user_row("sub").await;
    assert_eq!(name.chars().count(), MAX_DISPLAY_NAME_CHARS);
    assert_eq!(email, None);
}
