//! Threads: creation, the list's order and pages, renaming, and deletion with everything
//! a thread holds.

use parasol_chat::store::{
    AnswerOutcome, Feedback, MAX_PAGE_LIMIT, MAX_TITLE_CHARS, MessageStatus, NewStep, StepOutcome,
    StoreError, ThreadCursor, ThreadId, ValidationError,
};

use crate::support::{START_MS, TestDb};

on_both_backends!(
    a_new_thread_has_a_url_safe_random_id_and_its_title,
    threads_are_listed_by_latest_activity_first,
    thread_pages_follow_their_cursor_without_gaps_or_repeats,
    a_page_limit_out_of_range_is_refused,
    renaming_trims_the_title_and_keeps_the_activity_time,
    titles_must_be_one_to_two_hundred_characters,
    deleting_a_thread_deletes_its_messages_steps_and_feedback,
);

async fn a_new_thread_has_a_url_safe_random_id_and_its_title(db: &TestDb) {
    let alice = db.user("alice").await;

    let first = db
        .store
        .create_thread(alice, "  Weather in Oslo  ")
        .await
        .unwrap();
    let second = db
        .store
        .create_thread(alice, "Weather in Oslo")
        .await
        .unwrap();

    assert_eq!(first.title, "Weather in Oslo");
    assert_eq!(ThreadId::parse(first.id.as_str()).unwrap(), first.id);
    assert_ne!(first.id, second.id);
    assert_eq!((first.created_at, first.updated_at), (START_MS, START_MS));
    let stored = db.store.thread(alice, &first.id).await.unwrap().unwrap();
    assert_eq!(stored, first);
}

async fn threads_are_listed_by_latest_activity_first(db: &TestDb) {
    let alice = db.user("alice").await;
    let oldest = db.store.create_thread(alice, "oldest").await.unwrap();
    db.clock.advance(1);
    let middle = db.store.create_thread(alice, "middle").await.unwrap();
    db.clock.advance(1);
    let newest = db.store.create_thread(alice, "newest").await.unwrap();
    db.clock.advance(1);

    // A new message makes the oldest thread the most recently active.
    db.store
        .append_user_message(alice, &oldest.id, "again", "<p>again</p>")
        .await
        .unwrap();

    let page = db.store.list_threads(alice, 10, None).await.unwrap();
    let titles: Vec<&str> = page.threads.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["oldest", "newest", "middle"]);
    assert_eq!(page.threads[0].updated_at, START_MS + 3);
    assert_eq!(page.threads[1].id, newest.id);
    assert_eq!(page.threads[2].id, middle.id);
}

async fn thread_pages_follow_their_cursor_without_gaps_or_repeats(db: &TestDb) {
    let alice = db.user("alice").await;
    let mut created = Vec::new();
    for i in 0..7 {
        // Pairs of threads share a millisecond, so the cursor's tie-break on the id counts.
        if i % 2 == 0 {
            db.clock.advance(1);
        }
        created.push(
            db.store
                .create_thread(alice, &format!("thread {i}"))
                .await
                .unwrap(),
        );
    }

    let mut seen = Vec::new();
    let mut cursor: Option<ThreadCursor> = None;
    let mut pages = 0;
    loop {
        let page = db
            .store
            .list_threads(alice, 3, cursor.as_ref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.threads.len() <= 3);
        seen.extend(page.threads);
        match page.next {
            // The cursor goes to the client as text and comes back.
            Some(next) => cursor = Some(ThreadCursor::parse(&next.to_string()).unwrap()),
            None => break,
        }
    }

    let mut expected = created;
    expected.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
}

async fn a_page_limit_out_of_range_is_refused(db: &TestDb) {
    let alice = db.user("alice").await;

    for limit in [0, MAX_PAGE_LIMIT + 1] {
        let refused = db.store.list_threads(alice, limit, None).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Invalid(ValidationError::PageLimit {
                    max: MAX_PAGE_LIMIT
                }))
            ),
            "limit {limit}: {refused:?}"
        );
    }
    assert!(
        db.store
            .list_threads(alice, MAX_PAGE_LIMIT, None)
            .await
            .is_ok()
    );
    assert_eq!(
        ThreadCursor::parse("nonsense"),
        Err(ValidationError::Cursor)
    );
    assert_eq!(
        ThreadCursor::parse("12.short"),
        Err(ValidationError::Cursor)
    );
}

async fn renaming_trims_the_title_and_keeps_the_activity_time(db: &TestDb) {
    let alice = db.user("alice").await;
    let thread = db.store.create_thread(alice, "New chat").await.unwrap();
    db.clock.advance(5_000);

    let renamed = db
        .store
        .rename_thread(alice, &thread.id, "\t Trip to Bergen \n")
        .await
        .unwrap();

    assert_eq!(renamed.title, "Trip to Bergen");
    assert_eq!(renamed.updated_at, thread.updated_at);
    let stored = db.store.thread(alice, &thread.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "Trip to Bergen");
}

async fn titles_must_be_one_to_two_hundred_characters(db: &TestDb) {
    let alice = db.user("alice").await;
    let thread = db.store.create_thread(alice, "New chat").await.unwrap();
    let longest = "é".repeat(MAX_TITLE_CHARS);
    let too_long = "é".repeat(MAX_TITLE_CHARS + 1);

    let empty = db.store.rename_thread(alice, &thread.id, "").await;
    let blank = db.store.rename_thread(alice, &thread.id, " \t ").await;
    let long = db.store.rename_thread(alice, &thread.id, &too_long).await;
    let new_blank = db.store.create_thread(alice, "   ").await;

    for refused in [empty, blank, new_blank] {
        assert!(
            matches!(
                refused,
                Err(StoreError::Invalid(ValidationError::Empty {
                    field: "title"
                }))
            ),
            "{refused:?}"
        );
    }
    assert!(
        matches!(
            long,
            Err(StoreError::Invalid(ValidationError::TooLong {
                field: "title",
                max: 200,
                ..
            }))
        ),
        "{long:?}"
    );
    // Characters count, not bytes: 200 two-byte characters fit.
    let renamed = db
        .store
        .rename_thread(alice, &thread.id, &longest)
        .await
        .unwrap();
    assert_eq!(renamed.title, longest);
}

async fn deleting_a_thread_deletes_its_messages_steps_and_feedback(db: &TestDb) {
    let alice = db.user("alice").await;
    let doomed = db.store.create_thread(alice, "doomed").await.unwrap();
    let kept = db.store.create_thread(alice, "kept").await.unwrap();
    for thread in [&doomed, &kept] {
        fill_thread(db, alice, &thread.id).await;
    }
    assert_eq!(db.count_rows("messages").await, 4);

    db.store.delete_thread(alice, &doomed.id).await.unwrap();

    assert_eq!(
        db.store.thread_detail(alice, &doomed.id).await.unwrap(),
        None
    );
    assert!(matches!(
        db.store.delete_thread(alice, &doomed.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(db.count_rows("threads").await, 1);
    assert_eq!(db.count_rows("messages").await, 2);
    assert_eq!(db.count_rows("steps").await, 1);
    assert_eq!(db.count_rows("feedback").await, 1);
    assert_eq!(db.count_rows("users").await, 1);
    let survivor = db
        .store
        .thread_detail(alice, &kept.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(survivor.messages.len(), 2);
}

/// A question, and an answer with one step and feedback.
async fn fill_thread(db: &TestDb, owner: parasol_chat::store::UserId, thread: &ThreadId) {
    db.store
        .append_user_message(owner, thread, "hi", "<p>hi</p>")
        .await
        .unwrap();
    let answer = db.store.start_answer(owner, thread).await.unwrap();
    let step = NewStep {
        tool_name: "think",
        tool_call_id: "c1",
        input_json: "{}",
    };
    let step = db.store.append_step(owner, answer.id, &step).await.unwrap();
    let done = StepOutcome {
        output: "ok",
        is_error: false,
        duration_ms: 3,
    };
    db.store.finish_step(owner, step.id, &done).await.unwrap();
    let end = AnswerOutcome {
        content: "hello",
        html: "<p>hello</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: None,
    };
    db.store
        .finish_answer(owner, answer.id, &end)
        .await
        .unwrap();
    db.store
        .set_feedback(owner, answer.id, Some(Feedback::Up))
        .await
        .unwrap();
}
