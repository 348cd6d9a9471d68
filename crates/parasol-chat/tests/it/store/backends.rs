//! SQLite and PostgreSQL give the same answers to the same calls.

use parasol_chat::store::{
    AnswerOutcome, Feedback, MessageStatus, NewStep, StepOutcome, Store, ThreadCursor, TokenUsage,
};
use serde_json::{Value, json};

use crate::support::{self, TestDb, missing_thread_id, outcome};

#[tokio::test]
async fn sqlite_and_postgres_answer_a_whole_session_identically() {
    let sqlite = support::sqlite().await;
    let postgres = support::postgres().await;

    let on_sqlite = session(&sqlite).await;
    let on_postgres = session(&postgres).await;

    assert_eq!(on_sqlite, on_postgres);
}

/// Runs a session of every kind of call and returns what came back, with thread ids (the
/// only random part) replaced by their order of creation.
async fn session(db: &TestDb) -> String {
    let store = &db.store;
    let mut log = Vec::new();
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    log.push(json!({ "users": [alice, bob] }));

    let mut threads = Vec::new();
    for title in ["First", "Second", "Third"] {
        threads.push(store.create_thread(alice, title).await.unwrap());
        db.clock.advance(1);
    }
    let [first, second, third] = &threads[..] else {
        unreachable!()
    };

    store
        .append_user_message(alice, &first.id, "Weather?", "<p>Weather?</p>")
        .await
        .unwrap();
    let answer = store.start_answer(alice, &first.id).await.unwrap();
    let input = r#"{"days": 2}"#;
    for (i, tool) in ["get_daily_forecast", "calculator"].into_iter().enumerate() {
        db.clock.advance(3);
        let call = format!("call_{i}");
        let step = NewStep {
            tool_name: tool,
            tool_call_id: &call,
            input_json: input,
        };
        let step = store.append_step(alice, answer.id, &step).await.unwrap();
        let done = StepOutcome {
            output: "out",
            is_error: i == 1,
            duration_ms: 3,
        };
        log.push(json!(
            store.finish_step(alice, step.id, &done).await.unwrap()
        ));
    }
    let end = AnswerOutcome {
        content: "Rain.",
        html: "<p>Rain.</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: Some(TokenUsage {
            input: 300,
            output: 12,
        }),
    };
    log.push(json!(
        store.finish_answer(alice, answer.id, &end).await.unwrap()
    ));
    store
        .set_feedback(alice, answer.id, Some(Feedback::Down))
        .await
        .unwrap();
    store
        .set_feedback(alice, answer.id, Some(Feedback::Up))
        .await
        .unwrap();

    // Ties in activity time sort by the random thread id, which differs between runs.
    db.clock.advance(1);
    store
        .append_user_message(alice, &second.id, "And now?", "<p>And now?</p>")
        .await
        .unwrap();
    let cut = store.start_answer(alice, &second.id).await.unwrap();
    let step = NewStep {
        tool_name: "http_request",
        tool_call_id: "c",
        input_json: "{}",
    };
    store.append_step(alice, cut.id, &step).await.unwrap();
    db.clock.advance(5);
    log.push(json!(
        store
            .rename_thread(alice, &third.id, "  Renamed  ")
            .await
            .unwrap()
    ));
    log.push(json!(store.interrupt_generating_answers().await.unwrap()));

    log.push(errors(store, alice, bob, &threads).await);
    log.push(pages(store, alice).await);
    for thread in &threads {
        log.push(json!(store.thread_detail(alice, &thread.id).await.unwrap()));
        log.push(json!(
            store.count_messages(alice, &thread.id).await.unwrap()
        ));
    }
    store.delete_thread(alice, &third.id).await.unwrap();
    log.push(pages(store, alice).await);

    let mut text = Value::Array(log).to_string();
    for (i, thread) in threads.iter().enumerate() {
        text = text.replace(thread.id.as_str(), &format!("thread-{i}"));
    }
    text
}

/// What someone else and bad input get back.
async fn errors(
    store: &Store,
    alice: parasol_chat::store::UserId,
    bob: parasol_chat::store::UserId,
    threads: &[parasol_chat::store::Thread],
) -> Value {
    let first = &threads[0].id;
    json!([
        outcome(&store.rename_thread(bob, first, "x").await),
        outcome(&store.delete_thread(bob, first).await),
        outcome(&store.append_user_message(bob, first, "x", "x").await),
        outcome(&store.thread_detail(bob, first).await.map(|d| d.is_some())),
        outcome(&store.rename_thread(alice, &missing_thread_id(), "x").await),
        outcome(&store.rename_thread(alice, first, " ").await),
        outcome(&store.list_threads(alice, 0, None).await),
    ])
}

/// Alice's threads two at a time, with the cursors.
async fn pages(store: &Store, alice: parasol_chat::store::UserId) -> Value {
    let mut pages = Vec::new();
    let mut cursor: Option<ThreadCursor> = None;
    loop {
        let page = store.list_threads(alice, 2, cursor.as_ref()).await.unwrap();
        pages.push(json!(page));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Value::Array(pages)
}
