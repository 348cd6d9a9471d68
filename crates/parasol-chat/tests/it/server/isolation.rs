//! One user's threads and answers are invisible to every other user: each attempt is a
//! 404 exactly like a missing record.

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{Backend, ChatHarness, weather_turns};

on_both_servers!(another_users_thread_and_answer_are_not_found_whatever_is_tried);

/// Sends a request as `subject` and returns the status and body.
async fn attempt(
    server: &ChatHarness,
    method: Method,
    path: &str,
    subject: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.request(method, path, subject);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn another_users_thread_and_answer_are_not_found_whatever_is_tried(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;
    let frames = server
        .start_answer("alice", &thread, "Weather in Oslo?")
        .await
        .rest()
        .await;
    let answer = frames[0].message_id();
    let missing_thread = "AAAAAAAAAAAAAAAAAAAAAA";
    let missing_answer = answer + 1000;

    let attempts = |thread: &str, answer: i64| {
        vec![
            (Method::GET, format!("/api/threads/{thread}"), None),
            (
                Method::PATCH,
                format!("/api/threads/{thread}"),
                Some(json!({ "title": "Mine now" })),
            ),
            (
                Method::POST,
                format!("/api/threads/{thread}/messages"),
                Some(json!({ "content": "hello" })),
            ),
            (Method::DELETE, format!("/api/threads/{thread}"), None),
            (Method::GET, format!("/api/messages/{answer}/events"), None),
            (Method::POST, format!("/api/messages/{answer}/stop"), None),
            (
                Method::PUT,
                format!("/api/messages/{answer}/feedback"),
                Some(json!({ "value": -1 })),
            ),
        ]
    };
    for ((method, path, body), (_, missing_path, _)) in attempts(&thread, answer)
        .into_iter()
        .zip(attempts(missing_thread, missing_answer))
    {
        let theirs = attempt(&server, method.clone(), &path, "bob", body.clone()).await;
        let missing = attempt(&server, method.clone(), &missing_path, "bob", body).await;
        assert_eq!(theirs.0, 404, "{method} {path} as bob: {}", theirs.1);
        assert_eq!(theirs, missing, "{method} {path} tells theirs from missing");
    }

    // Bob sees none of it, and Alice's thread is as she left it.
    let bobs = server.get_json("/api/threads", "bob").await;
    assert_eq!(bobs["threads"], json!([]));
    let detail = server.thread("alice", &thread).await;
    assert_eq!(detail["thread"]["title"], "Test thread");
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["feedback"], Value::Null);
    assert_eq!(messages[1]["status"], "complete");
}
