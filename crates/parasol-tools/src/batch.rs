//! The `batch` tool: several calls of other tools at once, with their results in order.

use std::time::Duration;

use futures::StreamExt;
use parasol_agent::{Tool, ToolSet};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most calls one batch may hold.
pub const MAX_INVOCATIONS: usize = 16;
/// How many of a batch's calls run at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Why a batch was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No calls in it.
    #[error("the batch has no invocations; list at least one `{{name, arguments}}`")]
    Empty,
    /// More than [`MAX_INVOCATIONS`] calls.
    #[error("the batch has {count} invocations, more than the {max} allowed; split it")]
    TooMany {
        /// How many it had.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// The batch tool's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BatchArgs {
    /// The tool calls to run; they run concurrently, so none may depend on another's
    /// result.
    pub invocations: Vec<Invocation>,
}

/// One call within a batch.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Invocation {
    /// The name of the tool to call.
    pub name: String,
    /// The tool's arguments, as the tool's own schema describes them.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// What one call in a batch came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationResult {
    /// The tool called.
    pub name: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The results of a batch, in the order of its invocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchOutput {
    /// One per invocation, in order.
    pub results: Vec<InvocationResult>,
}

/// Runs several calls of the tools in a [`ToolSet`] concurrently, a few at a time.
#[derive(Debug, Clone)]
pub struct Batch {
    tools: ToolSet,
    timeout: Duration,
    concurrency: usize,
}

impl Batch {
    /// A batch over `tools`, giving each call at most `timeout`.
    pub fn new(tools: ToolSet, timeout: Duration) -> Self {
        Self {
            tools,
            timeout,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Runs at most `concurrency` calls at once (at least one).
    pub fn with_concurrency(self, concurrency: usize) -> Self {
        Self {
            concurrency: concurrency.clamp(1, MAX_INVOCATIONS),
            ..self
        }
    }

    async fn run(&self, invocation: Invocation) -> InvocationResult {
        let Invocation { name, arguments } = invocation;
        let outcome = if name == Self::NAME {
            // A batch inside a batch would multiply the concurrency cap and could recurse.
            Err("`batch` cannot be called from inside a batch; list the calls directly".into())
        } else {
            self.tools
                .call(&name, unstring(arguments), self.timeout)
                .await
                .map_err(|error| error.to_string())
        };
        match outcome {
            Ok(output) => InvocationResult {
                name,
                ok: true,
                output: Some(output),
                error: None,
            },
            Err(error) => InvocationResult {
                name,
                ok: false,
                output: None,
                error: Some(error),
            },
        }
    }
}

/// Some models write a call's arguments as a string of JSON rather than as an object;
/// such a string is read as the object it holds.
fn unstring(arguments: Value) -> Value {
    match &arguments {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(object @ Value::Object(_)) => object,
            _ => arguments,
        },
        _ => arguments,
    }
}

impl Tool for Batch {
    type Args = BatchArgs;
    type Output = BatchOutput;
    type Error = BatchError;
    const NAME: &'static str = "batch";

    fn description(&self) -> String {
        let names: Vec<&str> = self.tools.names().collect();
        format!(
            "Runs up to {MAX_INVOCATIONS} independent tool calls at once and returns their \
             results in the same order, each with `ok` and either `output` or `error`; one \
             failing call does not stop the others. Use it when several lookups do not \
             depend on each other. The tools it can call: {}.",
            names.join(", ")
        )
    }

    async fn call(&self, args: BatchArgs) -> Result<BatchOutput, BatchError> {
        let count = args.invocations.len();
        if count == 0 {
            return Err(BatchError::Empty);
        }
        if count > MAX_INVOCATIONS {
            return Err(BatchError::TooMany {
                count,
                max: MAX_INVOCATIONS,
            });
        }

        // `buffered` keeps at most `concurrency` calls in flight and yields in input order.
        let results = futures::stream::iter(args.invocations)
            .map(|invocation| self.run(invocation))
            .buffered(self.concurrency)
            .collect()
            .await;
        Ok(BatchOutput { results })
    }
}
