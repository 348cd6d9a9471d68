//! The conversation window.

use parasol_agent::model::ModelRequest;
use parasol_agent::testing::ScriptedModel;
use parasol_agent::{ContentBlock, Message, ModelError, Role, window};
use serde_json::json;

fn exchange(question: &str, answer: &str) -> Vec<Message> {
    vec![
        Message::user(question),
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: "t".into(),
                name: "lookup".into(),
                input: json!({}),
            }],
        },
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: "t".into(),
                content: "x".repeat(400),
                is_error: false,
            }],
        },
        Message::assistant(answer),
    ]
}

#[test]
fn old_exchanges_are_dropped_whole_to_fit() {
    let model = ScriptedModel::default().with_context(400);
    let mut messages: Vec<Message> = (0..5)
        .flat_map(|n| exchange(&format!("question {n}"), "answer"))
        .collect();
    messages.push(Message::user("the latest question"));
    let mut request = ModelRequest {
        messages,
        max_tokens: 100,
        ..ModelRequest::default()
    };

    window::fit(&model, &mut request).unwrap();

    assert!(request.messages.len() < 21);
    assert!(
        request.messages[0].starts_exchange(),
        "starts at a user question, not a tool result"
    );
    assert_eq!(
        request.messages.last().unwrap().text(),
        "the latest question"
    );
}

#[test]
fn a_conversation_that_fits_is_left_alone() {
    let model = ScriptedModel::default().with_context(8192);
    let mut request = ModelRequest {
        messages: exchange("q", "a"),
        max_tokens: 100,
        ..ModelRequest::default()
    };
    window::fit(&model, &mut request).unwrap();
    assert_eq!(request.messages.len(), 4);
}

#[test]
fn a_question_too_long_for_the_context_is_an_error() {
    let model = ScriptedModel::default().with_context(100);
    let mut request = ModelRequest {
        messages: vec![Message::user("y".repeat(2000))],
        max_tokens: 10,
        ..ModelRequest::default()
    };
    let error = window::fit(&model, &mut request).unwrap_err();
    assert!(
        matches!(error, ModelError::ContextOverflow { limit: 100, .. }),
        "{error}"
    );
}
