//! think: a scratchpad.

use parasol_agent::Tool;
use parasol_tools::Think;
use parasol_tools::think::{MAX_THOUGHT, ThinkArgs, ThinkError};

#[tokio::test]
async fn a_thought_is_acknowledged() {
    let reply = Think
        .call(ThinkArgs {
            thought: "First the weather, then the train times.".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply, "Noted.");
}

#[tokio::test]
async fn an_overlong_thought_is_refused() {
    let error = Think
        .call(ThinkArgs {
            thought: "x".repeat(MAX_THOUGHT + 1),
        })
        .await
        .unwrap_err();
    assert!(matches!(error, ThinkError::TooLong { .. }));
}
