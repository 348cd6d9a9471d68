//! Tools: what the model may call.
//!
//! A tool is a type implementing [`Tool`]: its arguments are a Rust type that derives
//! `Deserialize` and `JsonSchema`, and the schema the model sees is derived from it, so
//! the two cannot drift apart. [`ToolSet`] erases the types so the agent can hold any
//! mix of tools and call them with the JSON the model wrote.
//!
//! ```
//! use parasol_agent::{Tool, ToolSet};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoArgs {
//!     /// What to say back.
//!     text: String,
//! }
//!
//! struct Echo;
//!
//! impl Tool for Echo {
//!     type Args = EchoArgs;
//!     type Output = String;
//!     type Error = std::convert::Infallible;
//!     const NAME: &'static str = "echo";
//!
//!     fn description(&self) -> String {
//!         "Repeats the text it is given.".into()
//!     }
//!
//!     async fn call(&self, args: EchoArgs) -> Result<String, Self::Error> {
//!         Ok(args.text)
//!     }
//! }
//!
//! let mut tools = ToolSet::new();
//! tools.register(Echo);
//! assert_eq!(tools.specs()[0].name, "echo");
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// A JSON Schema of its arguments (an object).
    pub input_schema: Value,
}

/// A tool the agent can run.
pub trait Tool: Send + Sync + 'static {
    /// The arguments, read from the model's JSON.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// What it returns, handed to the model as JSON.
    type Output: Serialize;
    /// How it fails. The message is shown to the model, so it should say what to change.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The name the model calls it by: short, snake_case.
    const NAME: &'static str;

    /// What it does, for the model.
    fn description(&self) -> String;

    /// Runs it.
    fn call(
        &self,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Why a tool call produced no result. Every variant is fed back to the model as an
/// error result, so that it can correct itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No tool has that name.
    #[error("there is no tool named `{name}`; the tools are: {known}")]
    Unknown {
        /// The name the model used.
        name: String,
        /// The names it could have used.
        known: String,
    },
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments for `{tool}`: {reason}")]
    InvalidInput {
        /// The tool.
        tool: String,
        /// What is wrong with them.
        reason: String,
    },
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The tool took longer than it may.
    #[error("`{tool}` did not finish within {} s", limit.as_secs_f32())]
    Timeout {
        /// The tool.
        tool: String,
        /// The limit.
        limit: Duration,
    },
}

/// A tool with its types erased.
trait DynTool: Send + Sync {
    fn call_json(&self, input: Value) -> BoxFuture<'_, Result<Value, ToolError>>;
}

impl<T: Tool> DynTool for T {
    fn call_json(&self, input: Value) -> BoxFuture<'_, Result<Value, ToolError>> {
        Box::pin(async move {
            let args: T::Args =
                serde_json::from_value(input).map_err(|error| ToolError::InvalidInput {
                    tool: T::NAME.to_owned(),
                    reason: error.to_string(),
                })?;
            let output = self
                .call(args)
                .await
                .map_err(|error| ToolError::Failed(error.to_string()))?;
            serde_json::to_value(output).map_err(|error| ToolError::Failed(error.to_string()))
        })
    }
}

/// The tools offered to the model, by name.
#[derive(Clone, Default)]
pub struct ToolSet {
    tools: BTreeMap<String, (ToolSpec, Arc<dyn DynTool>)>,
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolSet {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`, replacing any tool of the same name.
    pub fn register<T: Tool>(&mut self, tool: T) -> &mut Self {
        let spec = ToolSpec {
            name: T::NAME.to_owned(),
            description: tool.description(),
            input_schema: schema_of::<T::Args>(),
        };
        self.tools.insert(spec.name.clone(), (spec, Arc::new(tool)));
        self
    }

    /// The specs of every tool, by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|(spec, _)| spec.clone()).collect()
    }

    /// Keeps only the tools whose names `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.tools.retain(|name, _| keep(name));
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The names of the tools.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// Runs the tool `name` with the model's `input`, within `limit`.
    pub async fn call(
        &self,
        name: &str,
        input: Value,
        limit: Duration,
    ) -> Result<Value, ToolError> {
        let Some((_, tool)) = self.tools.get(name) else {
            return Err(ToolError::Unknown {
                name: name.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            });
        };
        match tokio::time::timeout(limit, tool.call_json(input)).await {
            Ok(result) => result,
            Err(_) => Err(ToolError::Timeout {
                tool: name.to_owned(),
                limit,
            }),
        }
    }
}

/// The JSON Schema of `T`, inlined (no `$ref`s) and stripped of what a model does not
/// need, so that small models and grammar builders see one plain object.
pub fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    schema
}
