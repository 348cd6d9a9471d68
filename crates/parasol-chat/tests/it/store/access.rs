//! One user's threads are invisible to another: every attempt answers exactly as a
//! missing id does.

use parasol_chat::store::{
    AnswerOutcome, Feedback, MessageId, MessageStatus, NewStep, StepId, StepOutcome,
};

use crate::support::{TestDb, missing_thread_id, outcome};

on_both_backends!(
    another_users_thread_reads_as_missing,
    another_users_thread_cannot_be_renamed,
    another_users_thread_cannot_be_deleted,
    another_users_thread_takes_no_messages,
    another_users_answer_cannot_be_written_to,
    another_users_answer_takes_no_feedback,
    the_thread_list_shows_only_ones_own_threads,
);

async fn another_users_thread_reads_as_missing(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();
    let missing = missing_thread_id();

    assert_eq!(db.store.thread(bob, &thread.id).await.unwrap(), None);
    assert_eq!(db.store.thread(bob, &missing).await.unwrap(), None);
    assert_eq!(db.store.thread_detail(bob, &thread.id).await.unwrap(), None);
    assert_eq!(db.store.thread_detail(bob, &missing).await.unwrap(), None);
    assert_eq!(
        db.store.count_messages(bob, &thread.id).await.unwrap(),
        None
    );
    assert_eq!(db.store.count_messages(bob, &missing).await.unwrap(), None);

    let question = db
        .store
        .append_user_message(alice, &thread.id, "hello", "<p>hello</p>")
        .await
        .unwrap();
    assert_eq!(db.store.message(bob, question.id).await.unwrap(), None);
    assert_eq!(
        db.store
            .message(bob, MessageId::new(999_999))
            .await
            .unwrap(),
        None
    );
    assert!(
        db.store
            .message(alice, question.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn another_users_thread_cannot_be_renamed(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();

    let theirs = db.store.rename_thread(bob, &thread.id, "Mine now").await;
    let missing = db
        .store
        .rename_thread(bob, &missing_thread_id(), "Mine now")
        .await;

    assert_eq!(outcome(&theirs), outcome(&missing));
    assert_eq!(outcome(&theirs), "NotFound: not found");
    let kept = db.store.thread(alice, &thread.id).await.unwrap().unwrap();
    assert_eq!(kept.title, "Alice's plans");
}

async fn another_users_thread_cannot_be_deleted(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();

    let theirs = db.store.delete_thread(bob, &thread.id).await;
    let missing = db.store.delete_thread(bob, &missing_thread_id()).await;

    assert_eq!(outcome(&theirs), outcome(&missing));
    assert_eq!(outcome(&theirs), "NotFound: not found");
    assert!(db.store.thread(alice, &thread.id).await.unwrap().is_some());
}

async fn another_users_thread_takes_no_messages(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();
    let missing = missing_thread_id();

    let theirs = db
        .store
        .append_user_message(bob, &thread.id, "hi", "<p>hi</p>")
        .await;
    let nowhere = db
        .store
        .append_user_message(bob, &missing, "hi", "<p>hi</p>")
        .await;
    assert_eq!(outcome(&theirs), outcome(&nowhere));
    assert_eq!(outcome(&theirs), "NotFound: not found");

    let theirs = db.store.start_answer(bob, &thread.id).await;
    let nowhere = db.store.start_answer(bob, &missing).await;
    assert_eq!(outcome(&theirs), outcome(&nowhere));
    assert_eq!(outcome(&theirs), "NotFound: not found");

    assert_eq!(
        db.store.count_messages(alice, &thread.id).await.unwrap(),
        Some(0)
    );
}

async fn another_users_answer_cannot_be_written_to(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();
    let answer = db.store.start_answer(alice, &thread.id).await.unwrap();
    let step = db
        .store
        .append_step(alice, answer.id, &new_step())
        .await
        .unwrap();
    let nowhere = MessageId::new(answer.id.get() + 1000);

    let theirs = db.store.append_step(bob, answer.id, &new_step()).await;
    let missing = db.store.append_step(bob, nowhere, &new_step()).await;
    assert_eq!(outcome(&theirs), outcome(&missing));
    assert_eq!(outcome(&theirs), "NotFound: not found");

    let done = StepOutcome {
        output: "taken",
        is_error: false,
        duration_ms: 1,
    };
    let theirs = db.store.finish_step(bob, step.id, &done).await;
    let missing = db
        .store
        .finish_step(bob, StepId::new(step.id.get() + 1000), &done)
        .await;
    assert_eq!(outcome(&theirs), outcome(&missing));
    assert_eq!(outcome(&theirs), "NotFound: not found");

    let end = AnswerOutcome {
        content: "hijacked",
        html: "<p>hijacked</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: None,
    };
    let theirs = db.store.finish_answer(bob, answer.id, &end).await;
    let missing = db.store.finish_answer(bob, nowhere, &end).await;
    assert_eq!(outcome(&theirs), outcome(&missing));
    assert_eq!(outcome(&theirs), "NotFound: not found");

    let untouched = db.store.message(alice, answer.id).await.unwrap().unwrap();
    assert_eq!(untouched.status, MessageStatus::Generating);
    assert_eq!(untouched.content, "");
    assert_eq!(untouched.steps[0].output, None);
}

async fn another_users_answer_takes_no_feedback(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let thread = db
        .store
        .create_thread(alice, "Alice's plans")
        .await
        .unwrap();
    let answer = db.store.start_answer(alice, &thread.id).await.unwrap();
    db.store
        .set_feedback(alice, answer.id, Some(Feedback::Up))
        .await
        .unwrap();
    let nowhere = MessageId::new(answer.id.get() + 1000);

    for feedback in [Some(Feedback::Down), None] {
        let theirs = db.store.set_feedback(bob, answer.id, feedback).await;
        let missing = db.store.set_feedback(bob, nowhere, feedback).await;
        assert_eq!(outcome(&theirs), outcome(&missing));
        assert_eq!(outcome(&theirs), "NotFound: not found");
    }

    let kept = db.store.message(alice, answer.id).await.unwrap().unwrap();
    assert_eq!(kept.feedback, Some(Feedback::Up));
    assert_eq!(db.count_rows("feedback").await, 1);
}

async fn the_thread_list_shows_only_ones_own_threads(db: &TestDb) {
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let mine = db.store.create_thread(alice, "Alice's").await.unwrap();
    db.store.create_thread(bob, "Bob's").await.unwrap();

    let page = db.store.list_threads(alice, 10, None).await.unwrap();

    assert_eq!(page.threads, vec![mine]);
    assert_eq!(page.next, None);
}

fn new_step() -> NewStep<'static> {
    NewStep {
        tool_name: "get_daily_forecast",
        tool_call_id: "call_1",
        input_json: r#"{"days": 3}"#,
    }
}
