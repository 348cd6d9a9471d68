//! The OpenAI-compatible provider against a local server speaking chat-completions SSE.

use std::time::Duration;

use parasol_agent::model::{OpenAiConfig, OpenAiModel, RetryPolicy};
use parasol_agent::{
    Message, Model, ModelError, ModelEvent, ModelRequest, StopReason, ToolChoice, ToolSpec, Usage,
};
use secrecy::SecretString;
use serde_json::json;

use crate::support::{FakeProvider, Reply, calls_of, collect, fixture, opening_error, text_of};

fn model(server: &FakeProvider) -> OpenAiModel {
    let mut config = OpenAiConfig::new("gpt-4o-mini");
    config.base_url = format!("{}/v1", server.url());
    config.api_key = Some(SecretString::from("sk-test-123"));
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    OpenAiModel::new(config).unwrap()
}

fn request() -> ModelRequest {
    ModelRequest {
        system: "You are a weather assistant.".into(),
        messages: vec![Message::user("Will it rain tomorrow?")],
        tools: vec![ToolSpec {
            name: "get_hourly_weather_data".into(),
            description: "Hourly readings".into(),
            input_schema: json!({ "type": "object", "properties": { "from_date": { "type": "string" } } }),
        }],
        tool_choice: ToolChoice::Auto,
        max_tokens: 256,
    }
}

#[tokio::test]
async fn text_streams_in_pieces_and_ends_with_usage() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("openai/text.sse"), 7)]).await;
    let (events, error) = collect(model(&server).stream(request()).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        text_of(&events),
        "It's a clear day in Madrid, with a high of 14 °C."
    );
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Stop {
            reason: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 96,
                output_tokens: 15
            }
        })
    );
}

#[tokio::test]
async fn the_request_carries_the_key_the_tools_and_the_conversation() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("openai/text.sse"), 4096)]).await;
    collect(model(&server).stream(request()).await.unwrap()).await;

    let received = &server.received()[0];
    assert_eq!(received.headers["authorization"], "Bearer sk-test-123");
    assert_eq!(received.body["model"], "gpt-4o-mini");
    assert_eq!(received.body["stream"], true);
    assert_eq!(
        received.body["messages"][0],
        json!({ "role": "system", "content": "You are a weather assistant." })
    );
    assert_eq!(
        received.body["messages"][1]["content"],
        "Will it rain tomorrow?"
    );
    assert_eq!(
        received.body["tools"][0]["function"]["name"],
        "get_hourly_weather_data"
    );
    assert_eq!(received.body["tool_choice"], "auto");
}

#[tokio::test]
async fn split_arguments_of_two_tool_calls_are_assembled() {
    let server =
        FakeProvider::start(vec![Reply::sse(&fixture("openai/two_tool_calls.sse"), 13)]).await;
    let (events, error) = collect(model(&server).stream(request()).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    let calls = calls_of(&events);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_3sYkQ0yH1pDxW8vT2nLm5RaE");
    assert_eq!(calls[0].name, "get_hourly_weather_data");
    assert_eq!(
        calls[0].input,
        json!({ "from_date": "2026-12-04", "to_date": "2026-12-04" })
    );
    assert_eq!(calls[1].name, "current_time");
    assert_eq!(calls[1].input, json!({ "timezone": "Europe/Madrid" }));
    assert!(
        matches!(events.last(), Some(ModelEvent::Stop { reason: StopReason::ToolUse, usage }) if usage.input_tokens == 182)
    );
}

#[tokio::test]
async fn tool_results_are_sent_back_as_tool_messages() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("openai/text.sse"), 4096)]).await;
    let mut request = request();
    request.messages.push(Message {
        role: parasol_agent::Role::Assistant,
        content: vec![parasol_agent::ContentBlock::ToolUse {
            id: "call_1".into(),
            name: "get_hourly_weather_data".into(),
            input: json!({ "from_date": "2026-12-04" }),
        }],
    });
    request.messages.push(Message {
        role: parasol_agent::Role::User,
        content: vec![parasol_agent::ContentBlock::ToolResult {
            tool_use_id: "call_1".into(),
            content: "{\"rain_mm\": 0}".into(),
            is_error: false,
        }],
    });
    collect(model(&server).stream(request).await.unwrap()).await;

    let messages = &server.received()[0].body["messages"];
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["content"], serde_json::Value::Null);
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["arguments"],
        "{\"from_date\":\"2026-12-04\"}"
    );
    assert_eq!(
        messages[3],
        json!({ "role": "tool", "tool_call_id": "call_1", "content": "{\"rain_mm\": 0}" })
    );
}

#[tokio::test]
async fn invalid_tool_arguments_are_marked_for_the_model_to_fix() {
    let server =
        FakeProvider::start(vec![Reply::sse(&fixture("openai/bad_arguments.sse"), 4096)]).await;
    let (events, _) = collect(model(&server).stream(request()).await.unwrap()).await;

    let ModelEvent::ToolUse(call) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(
        call.malformed
            .as_deref()
            .is_some_and(|why| why.contains("not valid JSON")),
        "{call:?}"
    );
}

#[tokio::test]
async fn an_error_in_the_middle_of_the_stream_is_reported_with_its_message() {
    let server = FakeProvider::start(vec![Reply::sse(
        &fixture("openai/error_mid_stream.sse"),
        64,
    )])
    .await;
    let (events, error) = collect(model(&server).stream(request()).await.unwrap()).await;

    assert_eq!(text_of(&events), "Let me");
    let error = error.expect("an error").to_string();
    assert!(
        error.contains("The server had an error while processing your request"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stream_cut_off_before_the_finish_is_an_error() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("openai/truncated.sse"), 64)]).await;
    let (_, error) = collect(model(&server).stream(request()).await.unwrap()).await;
    assert!(
        matches!(error, Some(ModelError::Truncated { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_json_in_the_stream_is_an_error_not_a_panic() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("openai/malformed.sse"), 64)]).await;
    let (_, error) = collect(model(&server).stream(request()).await.unwrap()).await;
    let Some(ModelError::Malformed { detail, .. }) = error else {
        panic!("{error:?}")
    };
    assert!(detail.contains("event data"), "{detail}");
}

#[tokio::test]
async fn a_refused_key_is_reported_with_the_providers_message_and_not_retried() {
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-test-***123. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let server = FakeProvider::start(vec![Reply::error(401, body), Reply::error(401, body)]).await;
    let error = opening_error(model(&server).stream(request()).await);

    let text = error.to_string();
    assert!(
        text.contains("401") && text.contains("Incorrect API key provided"),
        "{text}"
    );
    assert!(text.contains("check the API key"), "{text}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_backoff() {
    let limited = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    let server = FakeProvider::start(vec![
        Reply::error(429, limited).with_header("retry-after", "0"),
        Reply::error(
            503,
            r#"{"error":{"message":"The engine is currently overloaded","type":"server_error"}}"#,
        ),
        Reply::sse(&fixture("openai/text.sse"), 4096),
    ])
    .await;
    let (events, error) = collect(model(&server).stream(request()).await.unwrap()).await;

    assert!(error.is_none());
    assert!(text_of(&events).starts_with("It's a clear day"));
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let busy =
        r#"{"error":{"message":"The engine is currently overloaded","type":"server_error"}}"#;
    let server = FakeProvider::start(vec![Reply::error(500, busy); 5]).await;
    let error = opening_error(model(&server).stream(request()).await);

    assert!(error.to_string().contains("overloaded"), "{error}");
    assert_eq!(server.received().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn an_unreachable_server_is_named_in_the_error() {
    // Bind and drop a listener to find a port nobody is listening on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = OpenAiConfig::new("llama3");
    config.base_url = format!("http://127.0.0.1:{port}/v1");
    config.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let error =
        opening_error(OpenAiModel::new(config).unwrap().stream(request()).await).to_string();

    assert!(
        error.contains(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        "{error}"
    );
    assert!(
        error.contains("check that the server is running"),
        "{error}"
    );
}
