//! Messages and steps: the order they come back in, how answers and steps end, and
//! answers cut short by a restart.

use parasol_chat::store::{
    AnswerOutcome, MAX_ERROR_CHARS, Message, MessageStatus, NewStep, Role, StepOutcome, StoreError,
    ThreadId, TokenUsage, UserId, ValidationError,
};

use crate::support::{START_MS, TestDb, outcome};

on_both_backends!(
    a_thread_returns_its_messages_and_steps_in_order,
    finishing_an_answer_closes_its_steps_still_running,
    an_answer_finishes_once_and_takes_no_steps_after,
    a_step_finishes_once,
    answers_generating_at_startup_are_marked_interrupted,
    messages_are_counted_per_thread,
    bad_message_and_step_input_is_refused,
    a_long_error_is_cut_and_a_stopped_answer_keeps_its_text,
    concurrent_writes_to_one_thread_get_distinct_sequence_numbers,
    asking_saves_the_question_and_starts_the_answer_together,
    asking_in_someone_elses_thread_saves_nothing,
    many_people_asking_at_once_each_get_their_own_exchange,
);

async fn a_thread_returns_its_messages_and_steps_in_order(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let (question, finished) = question_and_answer_with_three_steps(db, alice, &thread).await;

    let detail = db
        .store
        .thread_detail(alice, &thread)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.messages.len(), 2);
    assert_eq!(detail.messages[0], question);
    assert_eq!(detail.messages[1], finished);
    assert_eq!(detail.thread.updated_at, START_MS + 113);

    let [user, assistant] = &detail.messages[..] else {
        unreachable!()
    };
    assert_eq!(
        (user.seq, user.role, user.status),
        (1, Role::User, MessageStatus::Complete)
    );
    assert_eq!(assistant.seq, 2);
    assert_eq!(assistant.role, Role::Assistant);
    assert_eq!(assistant.status, MessageStatus::Complete);
    assert_eq!(assistant.content, "Sunny.");
    assert_eq!(assistant.html, "<p>Sunny.</p>");
    assert_eq!(
        assistant.usage,
        Some(TokenUsage {
            input: 120,
            output: 8
        })
    );
    assert_eq!(assistant.created_at, START_MS + 10);
    let order: Vec<(i64, &str, &str)> = assistant
        .steps
        .iter()
        .map(|s| (s.seq, s.tool_name.as_str(), s.tool_call_id.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (1, "current_time", "call_0"),
            (2, "get_daily_forecast", "call_1"),
            (3, "think", "call_2")
        ]
    );
    let durations: Vec<Option<i64>> = assistant.steps.iter().map(|s| s.duration_ms).collect();
    assert_eq!(durations, [Some(9), Some(8), Some(7)]);
    assert!(assistant.steps[1].is_error);
    assert_eq!(assistant.steps[0].started_at, START_MS + 11);
    assert_eq!(assistant.steps[0].input_json, "{\"a\": 1}");
}

async fn finishing_an_answer_closes_its_steps_still_running(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let answer = db.store.start_answer(alice, &thread).await.unwrap();
    let step = NewStep {
        tool_name: "http_request",
        tool_call_id: "c",
        input_json: "{}",
    };
    db.store.append_step(alice, answer.id, &step).await.unwrap();
    db.clock.advance(250);

    let end = AnswerOutcome {
        content: "I was stopped",
        html: "<p>I was stopped</p>",
        status: MessageStatus::Stopped,
        error: None,
        usage: None,
    };
    let stopped = db
        .store
        .finish_answer(alice, answer.id, &end)
        .await
        .unwrap();

    assert_eq!(stopped.status, MessageStatus::Stopped);
    assert_eq!(stopped.usage, None);
    let step = &stopped.steps[0];
    assert!(step.is_error);
    assert_eq!(step.duration_ms, Some(250));
    assert!(
        step.output
            .as_deref()
            .is_some_and(|o| o.contains("ended before"))
    );
}

async fn an_answer_finishes_once_and_takes_no_steps_after(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let question = db
        .store
        .append_user_message(alice, &thread, "q", "<p>q</p>")
        .await
        .unwrap();
    let answer = db.store.start_answer(alice, &thread).await.unwrap();
    let end = AnswerOutcome {
        content: "a",
        html: "<p>a</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: None,
    };
    db.store
        .finish_answer(alice, answer.id, &end)
        .await
        .unwrap();
    let step = NewStep {
        tool_name: "think",
        tool_call_id: "c",
        input_json: "{}",
    };

    let again = db.store.finish_answer(alice, answer.id, &end).await;
    let late_step = db.store.append_step(alice, answer.id, &step).await;
    let user_step = db.store.append_step(alice, question.id, &step).await;
    let user_finish = db.store.finish_answer(alice, question.id, &end).await;

    assert!(matches!(again, Err(StoreError::NotGenerating)), "{again:?}");
    assert!(
        matches!(late_step, Err(StoreError::NotGenerating)),
        "{late_step:?}"
    );
    assert!(
        matches!(user_step, Err(StoreError::NotGenerating)),
        "{user_step:?}"
    );
    assert!(
        matches!(user_finish, Err(StoreError::NotGenerating)),
        "{user_finish:?}"
    );
    assert_eq!(db.count_rows("steps").await, 0);
    let unchanged = db.store.message(alice, question.id).await.unwrap().unwrap();
    assert_eq!(unchanged.content, "q");
}

async fn a_step_finishes_once(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let answer = db.store.start_answer(alice, &thread).await.unwrap();
    let step = NewStep {
        tool_name: "calculator",
        tool_call_id: "c",
        input_json: "{}",
    };
    let step = db.store.append_step(alice, answer.id, &step).await.unwrap();
    let first = StepOutcome {
        output: "42",
        is_error: false,
        duration_ms: 2,
    };
    let second = StepOutcome {
        output: "43",
        is_error: true,
        duration_ms: 5,
    };

    let finished = db.store.finish_step(alice, step.id, &first).await.unwrap();
    let again = db.store.finish_step(alice, step.id, &second).await;

    assert_eq!(finished.output.as_deref(), Some("42"));
    assert_eq!(finished.duration_ms, Some(2));
    assert!(matches!(again, Err(StoreError::StepFinished)), "{again:?}");
    let stored = db.store.message(alice, answer.id).await.unwrap().unwrap();
    assert_eq!(stored.steps, [finished]);
}

async fn answers_generating_at_startup_are_marked_interrupted(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let (bob, bobs_thread) = thread_of(db, "bob").await;
    let done = db.store.start_answer(alice, &thread).await.unwrap();
    let end = AnswerOutcome {
        content: "done",
        html: "<p>done</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: None,
    };
    db.store.finish_answer(alice, done.id, &end).await.unwrap();
    let cut = db.store.start_answer(alice, &thread).await.unwrap();
    let step = NewStep {
        tool_name: "http_request",
        tool_call_id: "c",
        input_json: "{}",
    };
    db.store.append_step(alice, cut.id, &step).await.unwrap();
    let bobs_cut = db.store.start_answer(bob, &bobs_thread).await.unwrap();
    db.clock.advance(40);

    assert_eq!(db.store.interrupt_generating_answers().await.unwrap(), 2);
    assert_eq!(db.store.interrupt_generating_answers().await.unwrap(), 0);

    let cut = db.store.message(alice, cut.id).await.unwrap().unwrap();
    assert_eq!(cut.status, MessageStatus::Interrupted);
    assert!(
        cut.error
            .as_deref()
            .is_some_and(|e| e.contains("server stopped"))
    );
    assert!(cut.steps[0].is_error);
    assert_eq!(cut.steps[0].duration_ms, Some(40));
    let bobs_cut = db.store.message(bob, bobs_cut.id).await.unwrap().unwrap();
    assert_eq!(bobs_cut.status, MessageStatus::Interrupted);
    let done = db.store.message(alice, done.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.error), (MessageStatus::Complete, None));
}

async fn messages_are_counted_per_thread(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let other = db.store.create_thread(alice, "other").await.unwrap();
    for text in ["one", "two", "three"] {
        db.store
            .append_user_message(alice, &thread, text, text)
            .await
            .unwrap();
    }
    db.store.start_answer(alice, &thread).await.unwrap();

    assert_eq!(
        db.store.count_messages(alice, &thread).await.unwrap(),
        Some(4)
    );
    assert_eq!(
        db.store.count_messages(alice, &other.id).await.unwrap(),
        Some(0)
    );
}

async fn bad_message_and_step_input_is_refused(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let answer = db.store.start_answer(alice, &thread).await.unwrap();

    let blank = db
        .store
        .append_user_message(alice, &thread, "  \n ", "")
        .await;
    let not_json = NewStep {
        tool_name: "think",
        tool_call_id: "c",
        input_json: "{oops",
    };
    let not_json = db.store.append_step(alice, answer.id, &not_json).await;
    let nameless = NewStep {
        tool_name: "",
        tool_call_id: "c",
        input_json: "{}",
    };
    let nameless = db.store.append_step(alice, answer.id, &nameless).await;
    let unfinished = AnswerOutcome {
        content: "",
        html: "",
        status: MessageStatus::Generating,
        error: None,
        usage: None,
    };
    let unfinished = db.store.finish_answer(alice, answer.id, &unfinished).await;
    let negative = StepOutcome {
        output: "",
        is_error: false,
        duration_ms: -1,
    };
    let negative = db
        .store
        .finish_step(alice, parasol_chat::store::StepId::new(1), &negative)
        .await;
    let huge = TokenUsage {
        input: u64::MAX,
        output: 0,
    };
    let huge = AnswerOutcome {
        content: "",
        html: "",
        status: MessageStatus::Complete,
        error: None,
        usage: Some(huge),
    };
    let huge = db.store.finish_answer(alice, answer.id, &huge).await;

    let invalid = |r: &Result<_, StoreError>| match r {
        Err(StoreError::Invalid(e)) => Some(e.clone()),
        _ => None,
    };
    assert_eq!(
        invalid(&blank.map(|_| ())),
        Some(ValidationError::Empty { field: "content" })
    );
    assert_eq!(
        invalid(&not_json.map(|_| ())),
        Some(ValidationError::StepInput)
    );
    assert_eq!(
        invalid(&nameless.map(|_| ())),
        Some(ValidationError::Empty { field: "tool name" })
    );
    assert_eq!(
        invalid(&unfinished.map(|_| ())),
        Some(ValidationError::NotFinal)
    );
    assert_eq!(
        invalid(&negative.map(|_| ())),
        Some(ValidationError::Duration)
    );
    assert_eq!(
        invalid(&huge.map(|_| ())),
        Some(ValidationError::TokenCount)
    );
    assert_eq!(db.count_messages_in(alice, &thread).await, 1);
}

async fn a_long_error_is_cut_and_a_stopped_answer_keeps_its_text(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let answer = db.store.start_answer(alice, &thread).await.unwrap();
    let long_error = "ü".repeat(MAX_ERROR_CHARS + 50);
    let end = AnswerOutcome {
        content: "partial text",
        html: "<p>partial text</p>",
        status: MessageStatus::Interrupted,
        error: Some(&long_error),
        usage: Some(TokenUsage {
            input: 5,
            output: 2,
        }),
    };

    let ended = db
        .store
        .finish_answer(alice, answer.id, &end)
        .await
        .unwrap();

    assert_eq!(ended.status, MessageStatus::Interrupted);
    assert_eq!(ended.content, "partial text");
    assert_eq!(
        ended.error.map(|e| e.chars().count()),
        Some(MAX_ERROR_CHARS)
    );
}

async fn concurrent_writes_to_one_thread_get_distinct_sequence_numbers(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let answer = db.store.start_answer(alice, &thread).await.unwrap();

    // The agent runs tools concurrently, and a person may post while an answer streams.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = db.store.clone();
        let thread = thread.clone();
        tasks.spawn(async move {
            let call_id = format!("call_{i}");
            let step = NewStep {
                tool_name: "think",
                tool_call_id: &call_id,
                input_json: "{}",
            };
            store.append_step(alice, answer.id, &step).await.unwrap();
            store
                .append_user_message(alice, &thread, "more", "<p>more</p>")
                .await
                .unwrap();
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }

    let detail = db
        .store
        .thread_detail(alice, &thread)
        .await
        .unwrap()
        .unwrap();
    let message_seqs: Vec<i64> = detail.messages.iter().map(|m| m.seq).collect();
    assert_eq!(message_seqs, (1..=9).collect::<Vec<_>>());
    let step_seqs: Vec<i64> = detail.messages[0].steps.iter().map(|s| s.seq).collect();
    assert_eq!(step_seqs, (1..=8).collect::<Vec<_>>());
}

async fn asking_saves_the_question_and_starts_the_answer_together(db: &TestDb) {
    let (alice, thread) = thread_of(db, "alice").await;
    let (_, first_answer) = question_and_answer_with_three_steps(db, alice, &thread).await;
    // An answer that never got any text is still given back; the caller skips it.
    let cut_short = db.store.start_answer(alice, &thread).await.unwrap();
    let stopped = AnswerOutcome {
        content: "",
        html: "",
        status: MessageStatus::Stopped,
        error: None,
        usage: None,
    };
    db.store
        .finish_answer(alice, cut_short.id, &stopped)
        .await
        .unwrap();
    db.clock.advance(5);

    let exchange = db
        .store
        .ask(
            alice,
            &thread,
            "And after?",
            "<p>And after?</p>",
            Some("Unused"),
        )
        .await
        .unwrap();

    let stored = db
        .store
        .thread_detail(alice, &thread)
        .await
        .unwrap()
        .unwrap();
    let [.., question, answer] = &stored.messages[..] else {
        unreachable!()
    };
    assert_eq!(&exchange.question, question);
    assert_eq!(&exchange.answer, answer);
    assert_eq!((question.seq, answer.seq), (4, 5));
    assert_eq!(question.status, MessageStatus::Complete);
    assert_eq!(
        (answer.role, answer.status),
        (Role::Assistant, MessageStatus::Generating)
    );
    assert_eq!(stored.thread.updated_at, START_MS + 118);
    // Not the thread's first message, so the title stays.
    assert_eq!(stored.thread.title, "New chat");

    let history: Vec<(Role, &str)> = exchange
        .history
        .iter()
        .map(|(role, content)| (*role, content.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (Role::User, "Weather tomorrow?"),
            (Role::Assistant, first_answer.content.as_str()),
            (Role::Assistant, ""),
            (Role::User, "And after?"),
        ]
    );

    let (_, fresh) = thread_of(db, "alice").await;
    let first = db
        .store
        .ask(alice, &fresh, "Hello", "<p>Hello</p>", Some("Hello"))
        .await
        .unwrap();
    assert_eq!(first.question.seq, 1);
    let renamed = db.store.thread(alice, &fresh).await.unwrap().unwrap();
    assert_eq!(renamed.title, "Hello");
}

async fn asking_in_someone_elses_thread_saves_nothing(db: &TestDb) {
    let (_, thread) = thread_of(db, "alice").await;
    let mallory = db.user("mallory").await;

    let asked = db
        .store
        .ask(
            mallory,
            &thread,
            "Mine now",
            "<p>Mine now</p>",
            Some("Mine"),
        )
        .await;
    assert!(
        matches!(asked, Err(StoreError::NotFound)),
        "{}",
        outcome(&asked)
    );
    let missing = db
        .store
        .ask(
            mallory,
            &crate::support::missing_thread_id(),
            "x",
            "<p>x</p>",
            None,
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "{}",
        outcome(&missing)
    );
    let blank = db.store.ask(mallory, &thread, "  ", "", None).await;
    assert!(
        matches!(blank, Err(StoreError::Invalid(_))),
        "{}",
        outcome(&blank)
    );

    assert_eq!(db.count_rows("messages").await, 0);
    assert_eq!(db.count_rows("threads WHERE title = 'New chat'").await, 1);
}

/// On SQLite the asks waiting for the writer are saved together; each must still come
/// back with its own question, answer and history, and one in someone else's thread must
/// save nothing while the others are saved.
async fn many_people_asking_at_once_each_get_their_own_exchange(db: &TestDb) {
    const PEOPLE: usize = 40;
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        people.push(thread_of(db, &format!("person-{i}")).await);
    }
    let mallory = db.user("mallory").await;
    let (_, targeted) = people[7].clone();

    let asks = people.iter().enumerate().map(|(i, (owner, thread))| {
        let store = db.store.clone();
        let (owner, thread) = (*owner, thread.clone());
        async move {
            let content = format!("Question {i}");
            let html = format!("<p>Question {i}</p>");
            let title = format!("Title {i}");
            store
                .ask(owner, &thread, &content, &html, Some(&title))
                .await
        }
    });
    let intruder = db
        .store
        .ask(mallory, &targeted, "Mine", "<p>Mine</p>", Some("Mine"));
    let (asked, intruded) = tokio::join!(futures::future::join_all(asks), intruder);

    assert!(
        matches!(intruded, Err(StoreError::NotFound)),
        "{}",
        outcome(&intruded)
    );
    for (i, ((owner, thread), exchange)) in people.iter().zip(asked).enumerate() {
        let exchange = exchange.unwrap();
        assert_eq!((exchange.question.seq, exchange.answer.seq), (1, 2));
        assert_eq!(exchange.question.content, format!("Question {i}"));
        assert_eq!(exchange.answer.status, MessageStatus::Generating);
        assert_eq!(exchange.history, [(Role::User, format!("Question {i}"))]);

        let stored = db
            .store
            .thread_detail(*owner, thread)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.thread.title, format!("Title {i}"));
        assert_eq!(stored.messages, [exchange.question, exchange.answer]);
    }
    let rows = i64::try_from(2 * PEOPLE).unwrap();
    assert_eq!(db.count_rows("messages").await, rows);
}

/// A question, then an answer whose three tools finish in reverse order, at known times.
async fn question_and_answer_with_three_steps(
    db: &TestDb,
    alice: UserId,
    thread: &ThreadId,
) -> (Message, Message) {
    let question = db
        .store
        .append_user_message(
            alice,
            thread,
            "Weather tomorrow?",
            "<p>Weather tomorrow?</p>",
        )
        .await
        .unwrap();
    db.clock.advance(10);
    let answer = db.store.start_answer(alice, thread).await.unwrap();
    let mut steps = Vec::new();
    for (i, tool) in ["current_time", "get_daily_forecast", "think"]
        .into_iter()
        .enumerate()
    {
        db.clock.advance(1);
        let call_id = format!("call_{i}");
        let step = NewStep {
            tool_name: tool,
            tool_call_id: &call_id,
            input_json: "{\"a\": 1}",
        };
        steps.push(db.store.append_step(alice, answer.id, &step).await.unwrap());
    }
    // Concurrent tools may finish in any order; the steps keep the order they started in.
    for (step, ms) in steps.iter().rev().zip([7, 8, 9]) {
        let done = StepOutcome {
            output: "done",
            is_error: ms == 8,
            duration_ms: ms,
        };
        db.store.finish_step(alice, step.id, &done).await.unwrap();
    }
    db.clock.advance(100);
    let end = AnswerOutcome {
        content: "Sunny.",
        html: "<p>Sunny.</p>",
        status: MessageStatus::Complete,
        error: None,
        usage: Some(TokenUsage {
            input: 120,
            output: 8,
        }),
    };
    let finished = db
        .store
        .finish_answer(alice, answer.id, &end)
        .await
        .unwrap();
    (question, finished)
}

async fn thread_of(db: &TestDb, subject: &str) -> (UserId, ThreadId) {
    let user = db.user(subject).await;
    let thread = db.store.create_thread(user, "New chat").await.unwrap();
    (user, thread.id)
}

impl TestDb {
    async fn count_messages_in(&self, owner: UserId, thread: &ThreadId) -> u64 {
        self.store
            .count_messages(owner, thread)
            .await
            .unwrap()
            .unwrap()
    }
}
