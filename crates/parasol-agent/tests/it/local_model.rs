//! The real embedded model, SmolLM2-135M-Instruct, run in process through llama.cpp.
//!
//! `scripts/fetch-model` puts the file where these tests look for it
//! (`data/models/` at the workspace root, or `$PARASOL_TEST_MODEL`).

use std::path::PathBuf;
use std::sync::OnceLock;

use futures::StreamExt;
use parasol_agent::model::local::{LocalConfig, LocalModel};
use parasol_agent::tool::schema_of;
use parasol_agent::{
    Message, Model, ModelError, ModelEvent, ModelRequest, StopReason, ToolChoice, ToolSpec,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::support::{calls_of, collect, text_of};

fn model_path() -> PathBuf {
    match std::env::var_os("PARASOL_TEST_MODEL") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

/// The tests share one model, whose worker serves one request at a time; they take
/// turns so that each one's counts and timings are its own.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

fn model() -> &'static LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = model_path();
        assert!(
            path.exists(),
            "{} is missing: run scripts/fetch-model first",
            path.display()
        );
        let mut config = LocalConfig::new(path);
        config.temperature = 0.0;
        LocalModel::load(config).expect("the model loads")
    })
}

/// The forecast tool's arguments, as a weather tool would declare them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ForecastArgs {
    /// How many days to forecast, starting today (1 to 16).
    #[schemars(range(min = 1, max = 16))]
    days: u8,
}

fn forecast_tool() -> ToolSpec {
    ToolSpec {
        name: "get_daily_forecast".into(),
        description: "Daily weather forecast for Madrid: temperatures, rain and sky.".into(),
        input_schema: schema_of::<ForecastArgs>(),
    }
}

#[tokio::test]
async fn the_model_answers_a_greeting() {
    let _turn = turn().await;
    let request = ModelRequest {
        system: "You are a friendly assistant.".into(),
        messages: vec![Message::user("Hello! How are you today?")],
        max_tokens: 48,
        ..ModelRequest::default()
    };
    let (events, error) = collect(model().stream(request).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    let text = text_of(&events);
    assert!(
        text.split_whitespace().count() >= 3,
        "a few words at least: {text:?}"
    );
    let Some(ModelEvent::Stop { reason, usage }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(matches!(
        reason,
        StopReason::EndTurn | StopReason::MaxTokens
    ));
    assert!(
        usage.input_tokens > 10 && usage.output_tokens > 0,
        "{usage:?}"
    );
}

#[tokio::test]
async fn asked_about_the_weather_it_emits_a_call_that_matches_the_schema() {
    let _turn = turn().await;
    let request = ModelRequest {
        system: "You are a weather assistant for Madrid.".into(),
        messages: vec![Message::user(
            "Make a weather forecast for the next 7 days.",
        )],
        tools: vec![forecast_tool()],
        tool_choice: ToolChoice::Required,
        max_tokens: 64,
    };
    let (events, error) = collect(model().stream(request).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    let calls = calls_of(&events);
    assert_eq!(calls.len(), 1, "{events:?}");
    let call = calls[0];
    assert_eq!(call.name, "get_daily_forecast");
    assert!(call.malformed.is_none(), "{call:?}");
    let validator = jsonschema::validator_for(&forecast_tool().input_schema).unwrap();
    assert!(
        validator.is_valid(&call.input),
        "{} against {}",
        call.input,
        forecast_tool().input_schema
    );
    serde_json::from_value::<ForecastArgs>(call.input.clone()).expect("the arguments parse");
    assert!(matches!(
        events.last(),
        Some(ModelEvent::Stop {
            reason: StopReason::ToolUse,
            ..
        })
    ));
}

#[tokio::test]
async fn a_dropped_stream_stops_generation_and_the_next_request_is_served() {
    let _turn = turn().await;
    let long = ModelRequest {
        system: "You are a storyteller.".into(),
        messages: vec![Message::user(
            "Tell me a very long story about a lighthouse keeper.",
        )],
        max_tokens: 400,
        ..ModelRequest::default()
    };
    let before = model().tokens_generated();
    let mut stream = model().stream(long).await.unwrap();
    let first = stream.next().await;
    assert!(
        matches!(first, Some(Ok(ModelEvent::TextDelta(_)))),
        "{first:?}"
    );
    drop(stream);

    let short = ModelRequest {
        system: "You are terse.".into(),
        messages: vec![Message::user("Say hello.")],
        max_tokens: 16,
        ..ModelRequest::default()
    };
    // The worker takes one request at a time, so the short answer comes after the story
    // has stopped.
    let (events, error) = collect(model().stream(short).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    let Some(ModelEvent::Stop { usage, .. }) = events.last() else {
        panic!("{events:?}")
    };

    let story = model().tokens_generated() - before - usage.output_tokens;
    // The worker notices the closed stream at its next send, a token or a few later;
    // had it gone on, the story would have run to its 400 tokens.
    assert!(
        story < 40,
        "the story went on for {story} tokens after the reader left"
    );
}

#[test]
fn a_missing_model_file_says_how_to_fetch_it() {
    let error = LocalModel::load(LocalConfig::new("/nonexistent/model.gguf")).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ModelError::ModelFile { .. }));
    assert!(
        text.contains("/nonexistent/model.gguf") && text.contains("scripts/fetch-model"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_gguf_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::fs::write(&path, b"<html>404 Not Found</html>").unwrap();
    let error = LocalModel::load(LocalConfig::new(&path))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a GGUF model"), "{error}");
}

#[test]
fn a_truncated_model_file_is_an_error_not_a_crash() {
    let bytes = std::fs::read(model_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.gguf");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let error = LocalModel::load(LocalConfig::new(&path))
        .unwrap_err()
        .to_string();
    assert!(error.contains("damaged"), "{error}");
}
