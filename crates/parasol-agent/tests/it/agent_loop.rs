//! The agent loop, driven by a scripted model.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use parasol_agent::model::ToolCall;
use parasol_agent::testing::{ScriptedModel, Step};
use parasol_agent::{
    Agent, AgentConfig, AgentEvent, ContentBlock, Message, ModelEvent, Role, StopReason, Tool,
    ToolSet, Usage,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, JsonSchema)]
struct SleepArgs {
    /// Milliseconds to wait.
    millis: u64,
}

/// Waits, then reports; records whether it was dropped before finishing.
#[derive(Clone, Default)]
struct Sleep {
    finished: Arc<AtomicUsize>,
    dropped_early: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sleep failed")]
struct Never;

impl Tool for Sleep {
    type Args = SleepArgs;
    type Output = Value;
    type Error = Never;
    const NAME: &'static str = "sleep";

    fn description(&self) -> String {
        "Waits for a while.".into()
    }

    async fn call(&self, args: SleepArgs) -> Result<Value, Never> {
        let mut flag = DropFlag(Arc::clone(&self.dropped_early), false);
        tokio::time::sleep(Duration::from_millis(args.millis)).await;
        flag.1 = true;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(json!({ "slept_ms": args.millis }))
    }
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

struct Broken;

#[derive(Debug, thiserror::Error)]
#[error("the weather service answered 503; try again in a minute")]
struct Unavailable;

impl Tool for Broken {
    type Args = Nothing;
    type Output = Value;
    type Error = Unavailable;
    const NAME: &'static str = "broken";

    fn description(&self) -> String {
        "Always fails.".into()
    }

    async fn call(&self, _: Nothing) -> Result<Value, Unavailable> {
        Err(Unavailable)
    }
}

fn call(id: &str, name: &str, input: Value) -> Step {
    Step::Event(ModelEvent::ToolUse(ToolCall {
        id: id.into(),
        name: name.into(),
        input,
        malformed: None,
    }))
}

fn text(text: &str) -> Step {
    Step::Event(ModelEvent::TextDelta(text.into()))
}

fn stop(reason: StopReason) -> Step {
    Step::Event(ModelEvent::Stop {
        reason,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
        },
    })
}

fn answer(words: &str) -> Vec<Step> {
    vec![text(words), stop(StopReason::EndTurn)]
}

fn agent(model: &ScriptedModel, tools: ToolSet) -> Agent {
    let config = AgentConfig {
        tool_timeout: Duration::from_millis(500),
        max_cycles: 4,
        ..AgentConfig::default()
    };
    Agent::new(Arc::new(model.clone()), tools, config)
}

async fn run(agent: &Agent, question: &str) -> Vec<AgentEvent> {
    agent.run(vec![Message::user(question)]).collect().await
}

/// The tool results the model was sent in request `index`.
fn results_sent(model: &ScriptedModel, index: usize) -> Vec<(String, String, bool)> {
    let request = &model.requests()[index];
    let last = request.messages.last().unwrap();
    assert_eq!(last.role, Role::User);
    last.content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => Some((tool_use_id.clone(), content.clone(), *is_error)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_plain_answer_streams_then_ends_with_final_and_usage() {
    let model = ScriptedModel::new([vec![
        text("Hello"),
        text(", Ana."),
        stop(StopReason::EndTurn),
    ]]);
    let events = run(&agent(&model, ToolSet::new()), "hi").await;

    assert_eq!(
        events[0],
        AgentEvent::TextDelta {
            text: "Hello".into()
        }
    );
    assert_eq!(
        events[1],
        AgentEvent::TextDelta {
            text: ", Ana.".into()
        }
    );
    assert!(
        matches!(&events[2], AgentEvent::Message { message } if message.text() == "Hello, Ana.")
    );
    assert_eq!(
        events[3],
        AgentEvent::CycleEnd {
            cycle: 1,
            stop_reason: StopReason::EndTurn
        }
    );
    assert_eq!(
        events[4],
        AgentEvent::Final {
            text: "Hello, Ana.".into()
        }
    );
    assert_eq!(
        events[5],
        AgentEvent::Usage {
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5
            }
        }
    );
    assert_eq!(events.len(), 6);
    assert_eq!(
        model.requests()[0].system,
        AgentConfig::default().system_prompt
    );
}

#[tokio::test(start_paused = true)]
async fn two_tool_calls_run_concurrently_and_results_keep_their_order() {
    let model = ScriptedModel::new([
        vec![
            call("a", "sleep", json!({ "millis": 300 })),
            call("b", "sleep", json!({ "millis": 100 })),
            stop(StopReason::ToolUse),
        ],
        answer("Done."),
    ]);
    let mut tools = ToolSet::new();
    tools.register(Sleep::default());
    let started = tokio::time::Instant::now();
    let events = run(&agent(&model, tools), "wait twice").await;

    // Run one after the other they would take 400 ms.
    assert!(
        started.elapsed() < Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    let ends: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::ToolEnd { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ends, ["b", "a"], "ends are reported as they happen");
    let sent = results_sent(&model, 1);
    assert_eq!(sent[0].0, "a");
    assert_eq!(sent[0].1, r#"{"slept_ms":300}"#);
    assert_eq!(sent[1].0, "b");
    assert!(matches!(events.last(), Some(AgentEvent::Usage { usage }) if usage.input_tokens == 20));
}

#[tokio::test]
async fn a_failing_tool_becomes_an_error_result_for_the_model() {
    let model = ScriptedModel::new([
        vec![call("x", "broken", json!({})), stop(StopReason::ToolUse)],
        answer("Sorry."),
    ]);
    let mut tools = ToolSet::new();
    tools.register(Broken);
    let events = run(&agent(&model, tools), "weather?").await;

    let sent = results_sent(&model, 1);
    assert_eq!(
        sent,
        [(
            "x".into(),
            "the weather service answered 503; try again in a minute".into(),
            true
        )]
    );
    assert!(events.iter().any(|event| matches!(event,
        AgentEvent::ToolEnd { error: Some(error), output: None, .. } if error.contains("503"))));
    assert!(matches!(events.last(), Some(AgentEvent::Usage { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_tool_past_its_timeout_is_stopped_and_reported() {
    let model = ScriptedModel::new([
        vec![
            call("s", "sleep", json!({ "millis": 60_000 })),
            stop(StopReason::ToolUse),
        ],
        answer("It timed out."),
    ]);
    let sleep = Sleep::default();
    let mut tools = ToolSet::new();
    tools.register(sleep.clone());
    run(&agent(&model, tools), "wait a minute").await;

    let sent = results_sent(&model, 1);
    assert!(
        sent[0].2 && sent[0].1.contains("did not finish within 0.5 s"),
        "{sent:?}"
    );
    assert!(sleep.dropped_early.load(Ordering::SeqCst));
}

#[tokio::test]
async fn arguments_that_do_not_match_the_schema_are_sent_back_to_be_corrected() {
    let model = ScriptedModel::new([
        vec![
            call("1", "sleep", json!({ "millis": "soon" })),
            stop(StopReason::ToolUse),
        ],
        vec![
            call("2", "sleep", json!({ "millis": 1 })),
            stop(StopReason::ToolUse),
        ],
        answer("Slept."),
    ]);
    let sleep = Sleep::default();
    let mut tools = ToolSet::new();
    tools.register(sleep.clone());
    let events = run(&agent(&model, tools), "nap").await;

    let sent = results_sent(&model, 1);
    assert!(sent[0].2, "{sent:?}");
    assert!(
        sent[0]
            .1
            .starts_with("invalid arguments for `sleep`: invalid type: string \"soon\""),
        "{sent:?}"
    );
    assert_eq!(
        sleep.finished.load(Ordering::SeqCst),
        1,
        "the corrected call ran"
    );
    assert_eq!(
        events
            .iter()
            .filter(|event| matches!(event, AgentEvent::CycleEnd { .. }))
            .count(),
        3
    );
}

#[tokio::test]
async fn malformed_arguments_and_unknown_tools_are_errors_for_the_model() {
    let malformed = Step::Event(ModelEvent::ToolUse(ToolCall {
        id: "m".into(),
        name: "sleep".into(),
        input: Value::Null,
        malformed: Some("the arguments are not valid JSON (EOF)".into()),
    }));
    let model = ScriptedModel::new([
        vec![
            malformed,
            call("u", "teleport", json!({})),
            stop(StopReason::ToolUse),
        ],
        answer("I cannot."),
    ]);
    let mut tools = ToolSet::new();
    tools.register(Sleep::default());
    run(&agent(&model, tools), "go").await;

    let sent = results_sent(&model, 1);
    assert!(sent[0].1.contains("not valid JSON"), "{sent:?}");
    assert_eq!(
        sent[1].1,
        "there is no tool named `teleport`; the tools are: sleep"
    );
}

#[tokio::test]
async fn the_last_cycle_offers_no_tools_so_the_run_ends_with_an_answer() {
    let looping = || {
        vec![
            call("l", "sleep", json!({ "millis": 1 })),
            stop(StopReason::ToolUse),
        ]
    };
    let model = ScriptedModel::new([looping(), looping(), looping(), answer("Enough.")]);
    let mut tools = ToolSet::new();
    tools.register(Sleep::default());
    let events = run(&agent(&model, tools), "loop").await;

    let requests = model.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[..3].iter().all(|request| request.tools.len() == 1));
    assert!(requests[3].tools.is_empty());
    assert_eq!(requests[3].tool_choice, parasol_agent::ToolChoice::None);
    assert!(events.contains(&AgentEvent::Final {
        text: "Enough.".into()
    }));
}

#[tokio::test]
async fn a_model_error_mid_answer_ends_the_run_with_an_error_event() {
    let model = ScriptedModel::new([vec![
        text("Tomorrow"),
        Step::Fail("connection reset".into()),
    ]]);
    let events = run(&agent(&model, ToolSet::new()), "tomorrow?").await;

    assert_eq!(
        events[0],
        AgentEvent::TextDelta {
            text: "Tomorrow".into()
        }
    );
    assert!(
        matches!(&events[1], AgentEvent::Error { message } if message.contains("connection reset"))
    );
    assert_eq!(events.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_event_stream_cancels_running_tools() {
    let model = ScriptedModel::new([
        vec![
            call("s", "sleep", json!({ "millis": 400 })),
            stop(StopReason::ToolUse),
        ],
        answer("never"),
    ]);
    let sleep = Sleep::default();
    let mut tools = ToolSet::new();
    tools.register(sleep.clone());
    let agent = agent(&model, tools);

    let mut events = agent.run(vec![Message::user("sleep")]);
    while let Some(event) = events.next().await {
        if matches!(event, AgentEvent::ToolStart { .. }) {
            break;
        }
    }
    // Give the tool a moment to start, then hang up.
    let _ = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
    drop(events);
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert!(
        sleep.dropped_early.load(Ordering::SeqCst),
        "the tool's future was dropped"
    );
    assert_eq!(sleep.finished.load(Ordering::SeqCst), 0);
    assert_eq!(model.requests().len(), 1, "no second model call");
}

#[tokio::test]
async fn dropping_the_event_stream_cancels_the_model_request() {
    let model = ScriptedModel::new([vec![
        text("a"),
        Step::Pause(Duration::from_secs(3600)),
        text("b"),
    ]]);
    let agent = agent(&model, ToolSet::new());
    let mut events = agent.run(vec![Message::user("long")]);
    assert_eq!(
        events.next().await,
        Some(AgentEvent::TextDelta { text: "a".into() })
    );

    let waited = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
    assert!(waited.is_err(), "the model is still generating");
    drop(events); // nothing hangs: the model stream is dropped with the run
}

#[test]
fn a_tool_schema_comes_from_its_argument_type() {
    let mut tools = ToolSet::new();
    tools.register(Sleep::default());
    let spec = &tools.specs()[0];

    assert_eq!(spec.name, "sleep");
    assert_eq!(spec.input_schema["type"], "object");
    assert_eq!(spec.input_schema["properties"]["millis"]["type"], "integer");
    assert_eq!(
        spec.input_schema["properties"]["millis"]["description"],
        "Milliseconds to wait."
    );
    assert_eq!(spec.input_schema["required"], json!(["millis"]));
    assert!(spec.input_schema.get("$schema").is_none());
}

#[derive(Deserialize, JsonSchema)]
struct PageArgs {}

/// Returns a page far longer than a small model's context.
struct HugePage;

impl Tool for HugePage {
    type Args = PageArgs;
    type Output = String;
    type Error = Never;
    const NAME: &'static str = "fetch_page";

    fn description(&self) -> String {
        "Fetches a long page.".into()
    }

    async fn call(&self, _: PageArgs) -> Result<String, Never> {
        Ok("é".repeat(100_000))
    }
}

#[tokio::test]
async fn a_tool_result_too_long_for_the_context_is_cut_with_a_note() {
    let model = ScriptedModel::new([
        vec![
            call("p", "fetch_page", json!({})),
            stop(StopReason::ToolUse),
        ],
        answer("Long."),
    ])
    .with_context(2048);
    let mut tools = ToolSet::new();
    tools.register(HugePage);
    let events = run(&agent(&model, tools), "read it").await;

    // 2048 tokens of context less 1024 for the answer leaves 1024; half of it, 512
    // tokens, is at four bytes a token 1024 two-byte characters.
    let sent = results_sent(&model, 1);
    assert_eq!(sent[0].1.chars().filter(|c| *c == 'é').count(), 1024);
    assert!(
        sent[0].1.ends_with("\n[truncated: 98976 more characters]"),
        "{}",
        &sent[0].1[sent[0].1.len() - 60..]
    );
    assert!(
        events.contains(&AgentEvent::Final {
            text: "Long.".into()
        }),
        "the run goes on"
    );
}

#[tokio::test]
async fn the_first_call_can_be_made_to_use_a_tool_and_later_ones_choose() {
    let model = ScriptedModel::new([
        vec![
            call("s", "sleep", json!({ "millis": 1 })),
            stop(StopReason::ToolUse),
        ],
        answer("Rested."),
    ]);
    let mut tools = ToolSet::new();
    tools.register(Sleep::default());
    let config = AgentConfig {
        first_tool_choice: parasol_agent::ToolChoice::Required,
        ..AgentConfig::default()
    };
    let agent = Agent::new(Arc::new(model.clone()), tools, config);
    run(&agent, "rest").await;

    let choices: Vec<_> = model
        .requests()
        .iter()
        .map(|request| request.tool_choice)
        .collect();
    assert_eq!(
        choices,
        [
            parasol_agent::ToolChoice::Required,
            parasol_agent::ToolChoice::Auto
        ]
    );
}
