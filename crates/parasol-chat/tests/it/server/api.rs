//! The JSON API around the stream: threads, feedback, limits, errors, the OpenAPI
//! document, the page, and the headers every response carries.

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{Backend, ChatHarness, pause, slow_turns, stop, text, weather_turns};
use parasol_agent::StopReason;

on_both_servers!(
    threads_are_created_listed_page_by_page_renamed_and_deleted,
    feedback_is_set_changed_and_cleared,
);

async fn send(
    server: &ChatHarness,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.request(method, path, "alice");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn threads_are_created_listed_page_by_page_renamed_and_deleted(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(server.new_thread("alice").await);
        server.db.clock.advance(1);
    }

    let first = server.get_json("/api/threads?limit=2", "alice").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = server
        .get_json(&format!("/api/threads?limit=2&cursor={cursor}"), "alice")
        .await;
    let listed: Vec<&str> = first["threads"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["threads"].as_array().unwrap())
        .map(|thread| thread["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[2], &ids[1], &ids[0]]);
    assert_eq!(second["next_cursor"], Value::Null);

    let path = format!("/api/threads/{}", ids[1]);
    let (status, renamed) = send(
        &server,
        Method::PATCH,
        &path,
        Some(json!({ "title": " Trip " })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["title"], "Trip");
    assert_eq!(
        server.thread("alice", &ids[1]).await["thread"]["title"],
        "Trip"
    );

    let (status, _) = send(&server, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, body) = send(&server, Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

async fn feedback_is_set_changed_and_cleared(backend: Backend) {
    let server = ChatHarness::spawn(backend).await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;
    let frames = server
        .start_answer("alice", &thread, "Weather?")
        .await
        .rest()
        .await;
    let answer = frames[0].message_id();
    let path = format!("/api/messages/{answer}/feedback");
    let feedback = |detail: Value| detail["messages"][1]["feedback"].clone();

    assert_eq!(
        send(&server, Method::PUT, &path, Some(json!({ "value": 1 })))
            .await
            .0,
        204
    );
    assert_eq!(feedback(server.thread("alice", &thread).await), 1);
    assert_eq!(
        send(&server, Method::PUT, &path, Some(json!({ "value": -1 })))
            .await
            .0,
        204
    );
    assert_eq!(feedback(server.thread("alice", &thread).await), -1);
    assert_eq!(
        send(&server, Method::PUT, &path, Some(json!({ "value": 0 })))
            .await
            .0,
        204
    );
    assert_eq!(feedback(server.thread("alice", &thread).await), Value::Null);

    // The person's own message takes no feedback.
    let user_message = frames[0].data["message"]["id"].as_i64().unwrap();
    let path = format!("/api/messages/{user_message}/feedback");
    assert_eq!(
        send(&server, Method::PUT, &path, Some(json!({ "value": 1 })))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_thread_created_without_a_title_is_named_after_its_first_message() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    server.script(weather_turns());
    let response = server
        .request(Method::POST, "/api/threads", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let thread: Value = response.json().await.unwrap();
    assert_eq!(thread["title"], "New chat");
    let id = thread["id"].as_str().unwrap();

    server
        .start_answer("alice", id, "Will it rain in Oslo tomorrow?\nThanks")
        .await
        .rest()
        .await;

    let detail = server.thread("alice", id).await;
    assert_eq!(detail["thread"]["title"], "Will it rain in Oslo tomorrow?");
}

#[tokio::test]
async fn a_message_longer_than_the_limit_is_payload_too_large() {
    let server = ChatHarness::builder(Backend::Sqlite)
        .config(|config| config.limits.max_message_bytes = 100)
        .spawn()
        .await;
    let thread = server.new_thread("alice").await;

    let response = server
        .post_message("alice", &thread, &"x".repeat(101))
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");

    // A body far past the limit is refused before it is parsed, with the same JSON.
    let huge = json!({ "content": "y".repeat(100_000) });
    let response = server
        .request(
            Method::POST,
            &format!("/api/threads/{thread}/messages"),
            "alice",
        )
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(server.db.count_rows("messages").await, 0);
}

#[tokio::test]
async fn too_many_messages_in_a_minute_are_refused_with_retry_after() {
    let server = ChatHarness::builder(Backend::Sqlite)
        .config(|config| config.limits.messages_per_minute = 2)
        .spawn()
        .await;
    server.script(weather_turns());
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;
    for _ in 0..2 {
        server
            .start_answer("alice", &thread, "Weather?")
            .await
            .rest()
            .await;
    }

    let response = server.post_message("alice", &thread, "Again?").await;

    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another user has a minute of their own.
    server.script(weather_turns());
    let bobs = server.new_thread("bob").await;
    server
        .start_answer("bob", &bobs, "Weather?")
        .await
        .rest()
        .await;
}

#[tokio::test]
async fn too_many_answers_at_once_are_refused_until_one_ends() {
    let server = ChatHarness::builder(Backend::Sqlite)
        .config(|config| config.limits.max_concurrent_generations = 1)
        .spawn()
        .await;
    server.script(vec![vec![
        text("Thinking "),
        pause(30_000),
        stop(StopReason::EndTurn, 1, 1),
    ]]);
    let first = server.new_thread("alice").await;
    let second = server.new_thread("alice").await;
    let mut running = server.start_answer("alice", &first, "Long one").await;
    let answer = running.until("answer_start").await[0].message_id();

    let response = server.post_message("alice", &second, "Another").await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));

    server
        .request(
            Method::POST,
            &format!("/api/messages/{answer}/stop"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    running.rest().await;
    server.finished_answer("alice", &first, answer).await;
    server.script(weather_turns());
    server
        .start_answer("alice", &second, "Another")
        .await
        .rest()
        .await;
}

#[tokio::test]
async fn a_second_message_while_answering_is_a_conflict_for_the_owner_and_not_found_for_others() {
    let server = ChatHarness::builder(Backend::Sqlite)
        .config(|config| config.limits.messages_per_minute = 1)
        .spawn()
        .await;
    server.script(slow_turns(4, 200));
    let alices = server.new_thread("alice").await;
    let mut running = server.start_answer("alice", &alices, "First").await;
    running.until("answer_start").await;

    // Alice is told her thread is busy; Bob, for the same thread, that there is none,
    // as for a thread that was never made, however often he tries.
    let again = server.post_message("alice", &alices, "Second").await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    let missing = crate::support::missing_thread_id();
    for thread in [alices.as_str(), missing.as_str(), alices.as_str()] {
        let response = server.post_message("bob", thread, "Mine?").await;
        assert_eq!(response.status(), 404, "bob posting to {thread}");
    }

    // None of Bob's refused messages counted against his one a minute.
    server.script(weather_turns());
    let bobs = server.new_thread("bob").await;
    server
        .start_answer("bob", &bobs, "Weather?")
        .await
        .rest()
        .await;
    running.rest().await;
    assert_eq!(server.db.count_rows("messages").await, 4);
}

#[tokio::test]
async fn a_malformed_body_is_a_bad_request_naming_the_field() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    let thread = server.new_thread("alice").await;
    let messages = format!("/api/threads/{thread}/messages");

    let (status, wrong_type) = send(
        &server,
        Method::POST,
        &messages,
        Some(json!({ "content": 5 })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(wrong_type["error"]["field"], "content");
    insta::assert_json_snapshot!("wrong_type_error", wrong_type);

    let (status, unknown) = send(
        &server,
        Method::POST,
        &messages,
        Some(json!({ "contnt": "hi" })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contnt")
    );

    let (status, empty) = send(
        &server,
        Method::POST,
        &messages,
        Some(json!({ "content": "   " })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(empty["error"]["field"], "content");

    let not_json = server
        .request(Method::POST, &messages, "alice")
        .header("content-type", "application/json")
        .body("{\"content\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    let (status, bad_value) = send(
        &server,
        Method::PUT,
        "/api/messages/1/feedback",
        Some(json!({ "value": 2 })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(bad_value["error"]["field"], "value");

    let (status, bad_limit) = send(&server, Method::GET, "/api/threads?limit=many", None).await;
    assert_eq!(status, 400);
    assert_eq!(bad_limit["error"]["field"], "limit");
    assert_eq!(server.db.count_rows("messages").await, 0);
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_path() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    let document = server.get_json("/api/openapi.json", "alice").await;

    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/me", "get"),
        ("/api/starters", "get"),
        ("/api/threads", "get"),
        ("/api/threads", "post"),
        ("/api/threads/{id}", "get"),
        ("/api/threads/{id}", "patch"),
        ("/api/threads/{id}", "delete"),
        ("/api/threads/{id}/messages", "post"),
        ("/api/messages/{id}/events", "get"),
        ("/api/messages/{id}/stop", "post"),
        ("/api/messages/{id}/feedback", "put"),
    ] {
        assert!(
            paths[path].get(method).is_some(),
            "{method} {path} is missing"
        );
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for schema in ["ErrorBody", "MessageView", "StepStartEvent", "DoneEvent"] {
        assert!(schemas.contains_key(schema), "{schema} is missing");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;
    server.script(weather_turns());
    let thread = server.new_thread("alice").await;

    let page = server.get("/", "alice").send().await.unwrap();
    let refused = server.http.get(server.url("/api/me")).send().await.unwrap();
    let missing = server.get("/api/nothing", "alice").send().await.unwrap();
    let ping = server.http.get(server.url("/ping")).send().await.unwrap();
    let stream = server.post_message("alice", &thread, "Weather?").await;

    for response in [&page, &refused, &missing, &ping, &stream] {
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "{}",
            response.url()
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    assert_eq!(missing.status(), 404);
    super::harness::Sse::new(stream).rest().await;
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_their_types() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/highlight.css", "text/css; charset=utf-8"),
    ] {
        let response = server.get(path, "alice").send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert!(!response.text().await.unwrap().is_empty(), "{path}");
    }
    let highlight = server
        .get("/static/highlight.css", "alice")
        .send()
        .await
        .unwrap();
    assert!(highlight.text().await.unwrap().contains(".hl-"));
}

#[tokio::test]
async fn the_starters_are_served_as_configured() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    let starters = server.get_json("/api/starters", "alice").await;

    assert_eq!(
        starters,
        json!([{ "title": "Weather", "message": "What is the weather tomorrow?" }])
    );
}

#[tokio::test]
async fn a_wrong_method_is_a_json_error() {
    let server = ChatHarness::spawn(Backend::Sqlite).await;

    let (status, body) = send(&server, Method::DELETE, "/api/threads", None).await;

    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}
