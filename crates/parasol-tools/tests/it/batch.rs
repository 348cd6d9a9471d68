//! batch: order, partial failure, the concurrency cap and its refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parasol_agent::{Tool, ToolSet};
use parasol_tools::Batch;
use parasol_tools::batch::{BatchArgs, BatchError, Invocation};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, JsonSchema)]
struct WaitArgs {
    /// How long to wait, in milliseconds.
    millis: u64,
    /// Whether to fail after waiting.
    #[serde(default)]
    fail: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("asked to fail")]
struct Asked;

/// Waits, counting how many calls are waiting at once.
#[derive(Default, Clone)]
struct Wait {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Tool for Wait {
    type Args = WaitArgs;
    type Output = u64;
    type Error = Asked;
    const NAME: &'static str = "wait";

    fn description(&self) -> String {
        "Waits.".into()
    }

    async fn call(&self, args: WaitArgs) -> Result<u64, Asked> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(args.millis)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        if args.fail {
            Err(Asked)
        } else {
            Ok(args.millis)
        }
    }
}

fn batch_over(wait: &Wait) -> Batch {
    let mut tools = ToolSet::new();
    tools.register(wait.clone());
    Batch::new(tools, Duration::from_millis(500))
}

fn call(name: &str, arguments: Value) -> Invocation {
    Invocation {
        name: name.into(),
        arguments,
    }
}

#[tokio::test]
async fn results_come_back_in_order_and_one_failure_spoils_nothing() {
    let wait = Wait::default();
    let invocations = vec![
        call("wait", json!({"millis": 60})),
        call("wait", json!({"millis": 5, "fail": true})),
        call("nope", json!({})),
        call("wait", json!({"millis": "soon"})),
        call("wait", json!("{\"millis\": 1}")),
        call("wait", json!({"millis": 900})),
    ];
    let output = batch_over(&wait)
        .call(BatchArgs { invocations })
        .await
        .unwrap();
    let results = serde_json::to_value(&output.results).unwrap();

    assert_eq!(
        results[0],
        json!({"name": "wait", "ok": true, "output": 60})
    );
    assert_eq!(
        results[1],
        json!({"name": "wait", "ok": false, "error": "asked to fail"})
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("no tool named `nope`")
    );
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("invalid arguments")
    );
    assert_eq!(results[4]["output"], json!(1));
    assert!(
        results[5]["error"]
            .as_str()
            .unwrap()
            .contains("did not finish")
    );
}

#[tokio::test]
async fn no_more_than_four_calls_run_at_once() {
    let wait = Wait::default();
    let invocations = (0..10)
        .map(|_| call("wait", json!({"millis": 40})))
        .collect();
    let output = batch_over(&wait)
        .call(BatchArgs { invocations })
        .await
        .unwrap();
    assert!(output.results.iter().all(|result| result.ok));
    assert_eq!(wait.most.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_cap_can_be_lowered() {
    let wait = Wait::default();
    let invocations = (0..4)
        .map(|_| call("wait", json!({"millis": 20})))
        .collect();
    batch_over(&wait)
        .with_concurrency(2)
        .call(BatchArgs { invocations })
        .await
        .unwrap();
    assert_eq!(wait.most.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn batch_cannot_call_itself() {
    let wait = Wait::default();
    let mut tools = ToolSet::new();
    tools.register(wait.clone());
    let inner = Batch::new(tools.clone(), Duration::from_secs(1));
    tools.register(inner);
    let outer = Batch::new(tools, Duration::from_secs(1));

    let invocations = vec![call("batch", json!({"invocations": []}))];
    let output = outer.call(BatchArgs { invocations }).await.unwrap();
    assert!(!output.results[0].ok);
    assert!(
        output.results[0]
            .error
            .as_deref()
            .unwrap()
            .contains("inside a batch")
    );
}

#[tokio::test]
async fn empty_and_oversized_batches_are_refused() {
    let batch = batch_over(&Wait::default());
    let empty = batch
        .call(BatchArgs {
            invocations: vec![],
        })
        .await;
    assert_eq!(empty.unwrap_err(), BatchError::Empty);

    let invocations = (0..17)
        .map(|_| call("wait", json!({"millis": 0})))
        .collect();
    let oversized = batch.call(BatchArgs { invocations }).await;
    assert_eq!(
        oversized.unwrap_err(),
        BatchError::TooMany { count: 17, max: 16 }
    );
}
