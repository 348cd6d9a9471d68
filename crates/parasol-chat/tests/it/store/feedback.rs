//! Feedback on answers: one verdict per person and answer, changed in place.

use parasol_chat::store::{Feedback, MessageId, StoreError};

use crate::support::TestDb;

on_both_backends!(
    feedback_can_be_changed_and_cleared,
    only_answers_take_feedback,
);

async fn feedback_can_be_changed_and_cleared(db: &TestDb) {
    let alice = db.user("alice").await;
    let thread = db.store.create_thread(alice, "t").await.unwrap();
    let answer = db.store.start_answer(alice, &thread.id).await.unwrap();
    let verdict = |db: &TestDb| {
        let store = db.store.clone();
        async move {
            store
                .message(alice, answer.id)
                .await
                .unwrap()
                .unwrap()
                .feedback
        }
    };

    db.store
        .set_feedback(alice, answer.id, Some(Feedback::Up))
        .await
        .unwrap();
    assert_eq!(verdict(db).await, Some(Feedback::Up));

    db.store
        .set_feedback(alice, answer.id, Some(Feedback::Down))
        .await
        .unwrap();
    assert_eq!(verdict(db).await, Some(Feedback::Down));
    assert_eq!(db.count_rows("feedback").await, 1);

    db.store
        .set_feedback(alice, answer.id, Some(Feedback::Down))
        .await
        .unwrap();
    assert_eq!(db.count_rows("feedback").await, 1);

    db.store.set_feedback(alice, answer.id, None).await.unwrap();
    assert_eq!(verdict(db).await, None);
    assert_eq!(db.count_rows("feedback").await, 0);

    // Clearing what is not there is no error.
    db.store.set_feedback(alice, answer.id, None).await.unwrap();

    let detail = db
        .store
        .thread_detail(alice, &thread.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.messages[0].feedback, None);
}

async fn only_answers_take_feedback(db: &TestDb) {
    let alice = db.user("alice").await;
    let thread = db.store.create_thread(alice, "t").await.unwrap();
    let question = db
        .store
        .append_user_message(alice, &thread.id, "q", "<p>q</p>")
        .await
        .unwrap();

    let on_question = db
        .store
        .set_feedback(alice, question.id, Some(Feedback::Up))
        .await;
    let on_nothing = db
        .store
        .set_feedback(alice, MessageId::new(987_654), Some(Feedback::Up))
        .await;

    assert!(
        matches!(on_question, Err(StoreError::NotFound)),
        "{on_question:?}"
    );
    assert!(
        matches!(on_nothing, Err(StoreError::NotFound)),
        "{on_nothing:?}"
    );
    assert_eq!(db.count_rows("feedback").await, 0);
}
