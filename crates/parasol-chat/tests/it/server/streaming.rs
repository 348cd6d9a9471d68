//! Answers stream as Server-Sent Events, are saved as they go whatever the client does,
//! and can be resumed, stopped, or cut short by the model.

use std::time::{Duration, Instant};

use parasol_agent::StopReason;
use parasol_agent::testing::Step as ScriptStep;
use parasol_chat::store::{MessageId, MessageStatus};
use serde_json::{Value, json};

use super::harness::{
    Backend, ChatHarness, Frame, Sse, WEATHER_ANSWER, lookup, pause, slow_answer, slow_turns, stop,
    text, weather_turns,
};

on_both_servers!(
    a_posted_message_streams_its_step_and_text_and_is_stored,
    a_stream_resumed_mid_answer_gives_exactly_the_missing_events,
    a_stream_resumed_after_the_answer_gives_exactly_the_missing_events,
    a_resume_after_the_events_expired_is_served_from_the_database,
    dropping_the_client_mid_stream_still_saves_the_full_answer,
    stopping_saves_the_answer_as_stopped_with_its_partial_text,
    stopping_during_a_tool_call_closes_the_step_as_an_error,
    a_provider_failure_mid_answer_sends_an_error_and_saves_the_partial_text,
    shutting_down_saves_running_answers_as_interrupted_and_ends_their_streams,
    deleting_a_thread_mid_answer_ends_the_answer,
    a_burst_of_text_arrives_whole_in_order_and_resumes_anywhere,
);

fn names(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|frame| frame.event.as_str()).collect()
}

fn streamed_text(frames: &[Frame]) -> String {
    frames
        .iter()
        .filter(|frame| frame.event == "text")
        .map(|frame| frame.data["delta"].as_str().unwrap())
        .collect()
}

/// The frames as text for a snapshot, with tool durations (real time) masked.
fn transcript(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|frame| {
            let mut data = frame.data.clone();
            if data.get("duration_ms").is_some() {
                data["duration_ms"] = json!("<ms>");
            }
            format!("id: {}\nevent: {}\ndata: {data}\n", frame.id, frame.event)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Opens the events of `message` after `last` (`<id>.<seq>`) as `subject`.
async fn resume(server: &ChatHarness, subject: &str, message: i64, last: &str) -> Sse {
    let response = server
        .get(&format!("/api/messages/{message}/events"), subject)
        .header("last-event-id", last)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    Sse::new(response)
}

async fn events_after(server: &ChatHarness, message: i64, after: Option<u64>) -> Vec<Frame> {
    let path = match after {
        Some(after) => format!("/api/messages/{message}/events?after={after}"),
        None => format!("/api/messages/{message}/events"),
    };
    let response = server.get(&path, "alice").send().await.unwrap();
    assert_eq!(response.status(), 200);
    Sse::new(response).rest().await
}

async fn a_posted_message_streams_its_step_and_text_and_is_stored(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;

    let response = server
        .post_message("alice", &thread, "Weather in Oslo?")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let frames = Sse::new(response).rest().await;

    assert_eq!(
        names(&frames),
        [
            "user_message",
            "answer_start",
            "text",
            "step_start",
            "step_end",
            "text",
            "text",
            "message",
            "done"
        ]
    );
    let answer = frames[1].data["message_id"].as_i64().unwrap();
    for (seq, frame) in frames.iter().enumerate() {
        assert_eq!(frame.id, format!("{answer}.{seq}"));
    }
    assert_eq!(streamed_text(&frames), WEATHER_ANSWER);
    assert_eq!(frames[7].data["content"], WEATHER_ANSWER);
    assert!(
        frames[7].data["html"]
            .as_str()
            .unwrap()
            .contains("<strong>rain</strong>")
    );
    assert_eq!(
        frames[8].data,
        json!({ "status": "complete", "usage": { "input_tokens": 250, "output_tokens": 18 } })
    );
    insta::assert_snapshot!("weather_answer_transcript", transcript(&frames));

    let detail = server.thread("alice", &thread).await;
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "Weather in Oslo?");
    assert_eq!(messages[0], frames[0].data["message"]);
    let stored = &messages[1];
    assert_eq!(stored["id"], answer);
    assert_eq!(stored["role"], "assistant");
    assert_eq!(stored["status"], "complete");
    assert_eq!(stored["content"], WEATHER_ANSWER);
    assert_eq!(stored["html"], frames[7].data["html"]);
    assert_eq!(stored["usage"], frames[8].data["usage"]);
    let step = &stored["steps"][0];
    assert_eq!(step["id"], frames[3].data["step_id"]);
    assert_eq!(step["tool"], "lookup");
    assert_eq!(step["input"], json!({ "city": "Oslo", "sleep_ms": 50 }));
    assert_eq!(step["output"], r#"{"city":"Oslo","forecast":"rain"}"#);
    assert_eq!(step["is_error"], false);
    assert!(step["duration_ms"].as_i64().unwrap() >= 50, "{step}");
    assert_eq!(step["duration_ms"], frames[4].data["duration_ms"]);
}

async fn a_stream_resumed_mid_answer_gives_exactly_the_missing_events(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(slow_turns(8, 100));
    let thread = server.new_thread("alice").await;

    let mut first = server.start_answer("alice", &thread, "Go slowly").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(first.next().await.unwrap());
    }
    drop(first);
    let answer = seen[0].message_id();
    let resumed = resume(&server, "alice", answer, &seen[3].id)
        .await
        .rest()
        .await;

    assert_eq!(resumed[0].seq(), 4);
    assert!(
        names(&resumed).contains(&"text"),
        "resumed only after the answer"
    );
    seen.extend(resumed);
    assert_eq!(streamed_text(&seen), slow_answer(8));
    let replayed = events_after(&server, answer, None).await;
    assert_eq!(seen, replayed);
}

/// Text as fast as the model can send it: every event has its own id, in order, and a
/// resume from any of them gives the rest.
async fn a_burst_of_text_arrives_whole_in_order_and_resumes_anywhere(backend: Backend) {
    const PIECES: usize = 400;
    let server = ChatHarness::spawn(backend).await;
    let mut turn: Vec<ScriptStep> = (0..PIECES).map(|i| text(&format!("{i} "))).collect();
    turn.push(stop(StopReason::EndTurn, 10, PIECES as u64));
    server.script(vec![turn]);
    let thread = server.new_thread("alice").await;

    let all = server
        .start_answer("alice", &thread, "Count")
        .await
        .rest()
        .await;
    let answer = all[0].message_id();
    assert_eq!(all.len(), PIECES + 4);
    for (seq, frame) in all.iter().enumerate() {
        assert_eq!(frame.id, format!("{answer}.{seq}"));
    }
    let counted: String = (0..PIECES).map(|i| format!("{i} ")).collect();
    assert_eq!(streamed_text(&all), counted);

    for last in [1, 2, 150, PIECES + 1] {
        let rest = resume(&server, "alice", answer, &all[last].id)
            .await
            .rest()
            .await;
        assert_eq!(rest, all[last + 1..], "after {}", all[last].id);
    }
}

async fn a_stream_resumed_after_the_answer_gives_exactly_the_missing_events(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;
    let all = server
        .start_answer("alice", &thread, "Weather?")
        .await
        .rest()
        .await;
    let answer = all[0].message_id();

    let after_header = resume(&server, "alice", answer, &all[3].id)
        .await
        .rest()
        .await;
    let after_query = events_after(&server, answer, Some(5)).await;

    assert_eq!(after_header, all[4..]);
    assert_eq!(after_query, all[6..]);
}

async fn a_resume_after_the_events_expired_is_served_from_the_database(backend: Backend) {
    let server = ChatHarness::builder(backend)
        .config(|config| config.limits.event_retention = 0)
        .spawn()
        .await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;
    let live = server
        .start_answer("alice", &thread, "Weather?")
        .await
        .rest()
        .await;
    let answer = live[0].message_id();

    // The log goes as soon as the answer is saved; until then the live log answers.
    let mut stored = events_after(&server, answer, Some(2)).await;
    let started = Instant::now();
    while names(&stored).contains(&"text") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the log never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = events_after(&server, answer, Some(2)).await;
    }

    assert_eq!(
        names(&stored),
        ["step_start", "step_end", "message", "done"]
    );
    let seqs: Vec<u64> = stored.iter().map(Frame::seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    let live_data = |name: &str| {
        live.iter()
            .find(|frame| frame.event == name)
            .unwrap()
            .data
            .clone()
    };
    for frame in &stored {
        assert_eq!(frame.data, live_data(&frame.event), "{}", frame.event);
    }
}

async fn dropping_the_client_mid_stream_still_saves_the_full_answer(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(slow_turns(6, 50));
    let thread = server.new_thread("alice").await;

    let mut sse = server.start_answer("alice", &thread, "Go slowly").await;
    let user_message = sse.next().await.unwrap();
    sse.next().await.unwrap();
    drop(sse);

    let answer = server
        .finished_answer("alice", &thread, user_message.message_id())
        .await;
    assert_eq!(answer["status"], "complete");
    assert_eq!(answer["content"], slow_answer(6));
}

async fn stopping_saves_the_answer_as_stopped_with_its_partial_text(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(vec![vec![
        text("Partial "),
        pause(30_000),
        text("never shown"),
        stop(StopReason::EndTurn, 1, 1),
    ]]);
    let thread = server.new_thread("alice").await;
    let mut sse = server.start_answer("alice", &thread, "Write a lot").await;
    let before = sse.until("text").await;
    let answer = before[0].message_id();

    let started = Instant::now();
    let stopped = server
        .request(
            reqwest::Method::POST,
            &format!("/api/messages/{answer}/stop"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 202);
    let rest = sse.rest().await;

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(names(&rest), ["message", "done"]);
    assert_eq!(rest[0].data["content"], "Partial ");
    assert_eq!(rest[1].data, json!({ "status": "stopped", "usage": null }));
    let stored = server.finished_answer("alice", &thread, answer).await;
    assert_eq!(stored["status"], "stopped");
    assert_eq!(stored["content"], "Partial ");
    assert_eq!(stored["error"], Value::Null);
}

async fn stopping_during_a_tool_call_closes_the_step_as_an_error(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(vec![vec![
        lookup("call_1", "Oslo", 30_000),
        stop(StopReason::ToolUse, 1, 1),
    ]]);
    let thread = server.new_thread("alice").await;
    let mut sse = server.start_answer("alice", &thread, "Weather?").await;
    let answer = sse.until("step_start").await[0].message_id();

    let stopped = server
        .request(
            reqwest::Method::POST,
            &format!("/api/messages/{answer}/stop"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 202);
    let rest = sse.rest().await;

    assert_eq!(names(&rest), ["message", "done"]);
    let stored = server.finished_answer("alice", &thread, answer).await;
    assert_eq!(stored["status"], "stopped");
    let step = &stored["steps"][0];
    assert_eq!(step["is_error"], true);
    assert!(step["output"].as_str().unwrap().contains("ended before"));
}

async fn a_provider_failure_mid_answer_sends_an_error_and_saves_the_partial_text(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(vec![vec![
        text("Half an ans"),
        ScriptStep::Fail("upstream exploded".to_owned()),
    ]]);
    let thread = server.new_thread("alice").await;

    let frames = server
        .start_answer("alice", &thread, "Weather?")
        .await
        .rest()
        .await;

    assert_eq!(
        names(&frames),
        [
            "user_message",
            "answer_start",
            "text",
            "error",
            "message",
            "done"
        ]
    );
    assert_eq!(frames[3].data["code"], "generation_failed");
    let error = frames[3].data["message"].as_str().unwrap();
    assert!(error.contains("upstream exploded"), "{error}");
    assert_eq!(frames[4].data["content"], "Half an ans");
    assert_eq!(frames[5].data["status"], "interrupted");
    let stored = server
        .finished_answer("alice", &thread, frames[0].message_id())
        .await;
    assert_eq!(stored["status"], "interrupted");
    assert_eq!(stored["content"], "Half an ans");
    assert_eq!(stored["error"], error);
}

async fn shutting_down_saves_running_answers_as_interrupted_and_ends_their_streams(
    backend: Backend,
) {
    let mut server = ChatHarness::spawn(backend).await;
    server.script(vec![vec![
        text("Before the end "),
        pause(30_000),
        stop(StopReason::EndTurn, 1, 1),
    ]]);
    let thread = server.new_thread("alice").await;
    let mut sse = server.start_answer("alice", &thread, "Write a lot").await;
    let answer = sse.until("text").await[0].message_id();

    server.shut_down().await;
    let rest = sse.rest().await;

    assert_eq!(names(&rest), ["error", "message", "done"]);
    assert_eq!(rest[0].data["code"], "server_stopping");
    assert_eq!(rest[2].data["status"], "interrupted");
    let stored = server
        .db
        .store
        .message(user_id(&server, "alice").await, MessageId::new(answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, MessageStatus::Interrupted);
    assert_eq!(stored.content, "Before the end ");
    assert!(stored.error.unwrap().contains("server stopped"));
}

async fn deleting_a_thread_mid_answer_ends_the_answer(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(vec![vec![
        text("Soon gone "),
        pause(30_000),
        stop(StopReason::EndTurn, 1, 1),
    ]]);
    let thread = server.new_thread("alice").await;
    let mut sse = server.start_answer("alice", &thread, "Write a lot").await;
    sse.until("text").await;

    let deleted = server
        .request(
            reqwest::Method::DELETE,
            &format!("/api/threads/{thread}"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let rest = sse.rest().await;

    assert_eq!(names(&rest), ["message", "done"]);
    assert_eq!(server.db.count_rows("messages").await, 0);
    // The thread's place is free again: another thread may start an answer at once.
    server.script(weather_turns());
    let next = server.new_thread("alice").await;
    server
        .start_answer("alice", &next, "Weather?")
        .await
        .rest()
        .await;
}

/// The store's id for `subject`, who has been seen.
async fn user_id(server: &ChatHarness, subject: &str) -> parasol_chat::store::UserId {
    let identity = super::harness::identity(subject);
    server
        .db
        .store
        .upsert_user(&identity.subject, &identity.name, identity.email.as_deref())
        .await
        .unwrap()
}
