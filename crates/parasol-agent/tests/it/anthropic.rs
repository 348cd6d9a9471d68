//! The Anthropic provider against a local server speaking the Messages API's SSE.

use std::time::Duration;

use parasol_agent::model::{AnthropicConfig, AnthropicModel, RetryPolicy};
use parasol_agent::{
    Message, Model, ModelError, ModelEvent, ModelRequest, StopReason, ToolChoice, ToolSpec, Usage,
};
use secrecy::SecretString;
use serde_json::json;

use crate::support::{FakeProvider, Reply, calls_of, collect, fixture, opening_error, text_of};

fn model(server: &FakeProvider) -> AnthropicModel {
    let mut config = AnthropicConfig::new("claude-sonnet-4-5");
    config.base_url = server.url();
    config.api_key = Some(SecretString::from("sk-ant-test"));
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    AnthropicModel::new(config).unwrap()
}

fn request(choice: ToolChoice) -> ModelRequest {
    ModelRequest {
        system: "You are a weather assistant.".into(),
        messages: vec![Message::user("Forecast for the week, and the time?")],
        tools: vec![ToolSpec {
            name: "get_daily_forecast".into(),
            description: "Daily summary".into(),
            input_schema: json!({ "type": "object", "properties": { "days": { "type": "integer" } } }),
        }],
        tool_choice: choice,
        max_tokens: 512,
    }
}

#[tokio::test]
async fn text_and_two_tool_uses_with_split_input_json() {
    let server = FakeProvider::start(vec![Reply::sse(
        &fixture("anthropic/two_tool_uses.sse"),
        11,
    )])
    .await;
    let (events, error) = collect(
        model(&server)
            .stream(request(ToolChoice::Auto))
            .await
            .unwrap(),
    )
    .await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        text_of(&events),
        "I'll check the forecast and the local time."
    );
    let calls = calls_of(&events);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(calls[0].input, json!({ "days": 7 }));
    assert_eq!(calls[1].name, "current_time");
    assert_eq!(calls[1].input, json!({ "timezone": "Europe/Madrid" }));
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Stop {
            reason: StopReason::ToolUse,
            usage: Usage {
                input_tokens: 472,
                output_tokens: 89
            }
        })
    );
}

#[tokio::test]
async fn the_request_follows_the_messages_api() {
    let server = FakeProvider::start(vec![Reply::sse(&fixture("anthropic/text.sse"), 4096)]).await;
    let (events, _) = collect(
        model(&server)
            .stream(request(ToolChoice::Required))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&events), "Hello! How can I help you today?");

    let received = &server.received()[0];
    assert_eq!(received.headers["x-api-key"], "sk-ant-test");
    assert_eq!(received.headers["anthropic-version"], "2023-06-01");
    assert_eq!(received.body["system"], "You are a weather assistant.");
    assert_eq!(
        received.body["tools"][0]["input_schema"]["properties"]["days"]["type"],
        "integer"
    );
    assert_eq!(received.body["tool_choice"], json!({ "type": "any" }));
    assert_eq!(received.body["messages"][0]["content"][0]["type"], "text");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_reported() {
    let server = FakeProvider::start(vec![Reply::sse(
        &fixture("anthropic/error_mid_stream.sse"),
        32,
    )])
    .await;
    let (events, error) = collect(
        model(&server)
            .stream(request(ToolChoice::Auto))
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(text_of(&events), "The");
    let Some(ModelError::Provider { message, .. }) = error else {
        panic!("{error:?}")
    };
    assert_eq!(message, "Overloaded");
}

#[tokio::test]
async fn a_stream_cut_off_inside_a_tool_use_is_an_error() {
    let server =
        FakeProvider::start(vec![Reply::sse(&fixture("anthropic/truncated.sse"), 32)]).await;
    let (events, error) = collect(
        model(&server)
            .stream(request(ToolChoice::Auto))
            .await
            .unwrap(),
    )
    .await;

    assert!(events.is_empty(), "{events:?}");
    assert!(
        matches!(error, Some(ModelError::Truncated { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_overloaded_api_is_retried_then_reported() {
    let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#;
    let server = FakeProvider::start(vec![Reply::error(529, overloaded); 3]).await;
    let error = opening_error(model(&server).stream(request(ToolChoice::Auto)).await).to_string();

    assert!(
        error.contains("529") && error.contains("Overloaded"),
        "{error}"
    );
    assert_eq!(server.received().len(), 3);
}
