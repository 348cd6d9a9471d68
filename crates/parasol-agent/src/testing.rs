//! A scripted model, for testing what sits on top of a model without running one.
//!
//! It is a test double and says so in its name: each call to [`Model::stream`] plays
//! back the next scripted turn and records the request it was given.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::model::{Model, ModelError, ModelEvent, ModelRequest, ModelStream};

/// One scripted step of a turn.
#[derive(Debug, Clone)]
pub enum Step {
    /// Emit this event.
    Event(ModelEvent),
    /// Wait this long before the next step.
    Pause(Duration),
    /// Fail the stream with a provider error carrying this message.
    Fail(String),
}

/// A model that plays back scripted turns, one per request.
#[derive(Debug, Clone, Default)]
pub struct ScriptedModel {
    turns: Arc<Mutex<VecDeque<Vec<Step>>>>,
    requests: Arc<Mutex<Vec<ModelRequest>>>,
    context_tokens: usize,
}

impl ScriptedModel {
    /// A model that will play `turns` in order.
    pub fn new(turns: impl IntoIterator<Item = Vec<Step>>) -> Self {
        Self {
            turns: Arc::new(Mutex::new(turns.into_iter().collect())),
            requests: Arc::default(),
            context_tokens: 8192,
        }
    }

    /// The same model with a context of `tokens`.
    pub fn with_context(mut self, tokens: usize) -> Self {
        self.context_tokens = tokens;
        self
    }

    /// Adds a turn at the end of the script.
    pub fn push_turn(&self, turn: Vec<Step>) {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(turn);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Model for ScriptedModel {
    fn describe(&self) -> String {
        "scripted".to_owned()
    }

    fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(turn) = turn else {
            return Err(ModelError::Local(
                "the scripted model has no turns left".to_owned(),
            ));
        };
        let stream = futures::stream::iter(turn).filter_map(|step| async move {
            match step {
                Step::Event(event) => Some(Ok(event)),
                Step::Pause(duration) => {
                    tokio::time::sleep(duration).await;
                    None
                }
                Step::Fail(message) => Some(Err(ModelError::Provider {
                    provider: "scripted",
                    message,
                })),
            }
        });
        Ok(stream.boxed())
    }
}
