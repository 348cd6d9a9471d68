//! Generations: the answers being written, each in a task of its own that outlives the
//! request that started it.
//!
//! Posting a message saves it, starts an empty answer and spawns a task that runs the
//! agent and saves the answer as it streams (steps as they start and end, the text and
//! usage at the end). Every event the task produces is numbered from 0 and kept in the
//! answer's [`log`](self::log) in memory, so that a client can subscribe at any point,
//! replay what it missed and follow the rest. A closed connection is only a subscriber
//! going away; the task goes on. Stopping drops the agent's stream and saves the text so
//! far. Once an answer is finished its log stays for the configured retention, and a
//! resume after that is answered from the database.
//!
//! TODO: the event logs and the stop signal live in this process only, so with several
//! chat servers a resume or a stop must reach the replica running the answer; across
//! replicas they would go through Redis (a stream per answer and a stop channel), which
//! is left for later.

mod event;
mod history;
mod limits;
mod log;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures::stream::{self, StreamExt as _};
use parasol_agent::Agent;
use tokio::sync::watch;

use crate::config::LimitsConfig;
use crate::render::render_markdown;
use crate::store::{self, MessageId, Role, Store, StoreError, ThreadId, UserId, ValidationError};
use crate::wire::{
    AnswerStartEvent, DoneEvent, MessageEvent, StepEndEvent, StepStartEvent, UserMessageEvent,
};

pub use event::{SeqEvent, StreamEvent};

use self::log::EventLog;
use limits::Limiter;

/// How long a shutdown waits for the running answers to be saved.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why a generation could not be started, followed or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// No such thread or answer among the user's own.
    #[error("not found")]
    NotFound,
    /// The message is longer than the configured limit.
    #[error("the message is longer than {max} bytes")]
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// The thread's previous answer is still being written.
    #[error("an answer is still being generated in this thread")]
    Busy,
    /// The user has sent their messages for this minute.
    #[error("too many messages; try again in a minute")]
    RateLimited {
        /// When the oldest message of the minute leaves the window.
        retry_after: Duration,
    },
    /// The user has as many answers generating as they may.
    #[error("too many answers are being generated at once; wait for one to finish")]
    TooManyGenerations {
        /// A suggested wait.
        retry_after: Duration,
    },
    /// The store failed or refused the input.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task that saves the question and starts the answer died.
    #[error("the answer could not be started")]
    StartFailed(#[source] tokio::task::JoinError),
}

/// An answer's events, from some point on.
pub struct EventStream {
    /// The answer.
    pub message_id: MessageId,
    /// The events in order; the stream ends after `done`.
    pub events: futures::stream::BoxStream<'static, Arc<SeqEvent>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// Why a running answer is being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    /// The person pressed stop: saved as stopped.
    ByUser,
    /// The server is shutting down: saved as interrupted.
    Shutdown,
    /// The thread was deleted: there is nothing left to save to.
    Deleted,
}

/// One answer being generated, or recently finished.
#[derive(Debug)]
struct Run {
    owner: UserId,
    thread: ThreadId,
    message: MessageId,
    log: Arc<EventLog>,
    cancel: watch::Sender<Option<Cancel>>,
}

impl Run {
    /// Asks the task to end the answer for `reason`; the first reason given stands.
    fn cancel_for(&self, reason: Cancel) {
        self.cancel.send_if_modified(|cancel| {
            let first = cancel.is_none();
            if first {
                *cancel = Some(reason);
            }
            first
        });
    }
}

/// Every answer this process is generating or has recently finished.
#[derive(Debug)]
pub struct Generations {
    store: Store,
    agent: Arc<Agent>,
    max_message_bytes: usize,
    retention: Duration,
    limiter: Arc<Limiter>,
    runs: Mutex<HashMap<MessageId, Arc<Run>>>,
    /// Lets the retention timers reach the registry without keeping it alive.
    this: Weak<Generations>,
}

impl Generations {
    /// A registry that answers with `agent` and saves to `store`, within `limits`.
    pub fn new(store: Store, agent: Arc<Agent>, limits: &LimitsConfig) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            store,
            agent,
            max_message_bytes: limits.max_message_bytes,
            retention: Duration::from_secs(limits.event_retention),
            limiter: Arc::new(Limiter::new(limits)),
            runs: Mutex::default(),
            this: this.clone(),
        })
    }

    /// Saves `content` as `owner`'s next message in `thread`, starts the answer, and
    /// returns its events from the first (`user_message`, seq 0).
    ///
    /// Someone else's thread is [`GenerationError::NotFound`], like a missing one. The
    /// limits are taken first and the store checks the thread as it saves, in one trip
    /// to the database; no refusal tells whether the thread exists, since the rate and
    /// the answers running count per user and a thread is only ever busy for its owner,
    /// and a message to a thread that is not the user's does not count.
    pub async fn start(
        self: &Arc<Self>,
        owner: UserId,
        thread: &ThreadId,
        content: &str,
    ) -> Result<EventStream, GenerationError> {
        self.check_message(content)?;
        let this = Arc::clone(self);
        let thread = thread.clone();
        let content = content.to_owned();
        // The steps run in a task of their own: a client that goes away mid-request
        // drops the request's future, and that must not leave a question without its
        // answer, or an answer marked generating with no task to finish it.
        let started =
            tokio::spawn(async move { this.start_detached(owner, thread, content).await });
        started.await.map_err(GenerationError::StartFailed)?
    }

    /// Refuses a message that is too long or blank before anything else is asked, so
    /// that it does not count against the user's rate.
    fn check_message(&self, content: &str) -> Result<(), GenerationError> {
        if content.len() > self.max_message_bytes {
            return Err(GenerationError::TooLong {
                max: self.max_message_bytes,
            });
        }
        if content.trim().is_empty() {
            let empty = ValidationError::Empty { field: "content" };
            return Err(GenerationError::Store(empty.into()));
        }
        Ok(())
    }

    async fn start_detached(
        &self,
        owner: UserId,
        thread: ThreadId,
        content: String,
    ) -> Result<EventStream, GenerationError> {
        let slot = self.limiter.reserve(owner, &thread)?;
        let first_title = history::title_from(&content);
        let asked = self
            .store
            .ask(
                owner,
                &thread,
                &content,
                &render_markdown(&content),
                Some(&first_title),
            )
            .await;
        let exchange = match asked {
            Ok(exchange) => exchange,
            Err(error) => {
                // Not the user's thread, or not saved: the message was never sent.
                slot.refund();
                return Err(match error {
                    StoreError::NotFound => GenerationError::NotFound,
                    other => other.into(),
                });
            }
        };
        let conversation = history::conversation(&exchange.history);
        let (question, answer) = (exchange.question, exchange.answer);

        let run = Arc::new(Run {
            owner,
            thread,
            message: answer.id,
            log: Arc::new(EventLog::new(answer.id)),
            cancel: watch::Sender::new(None),
        });
        Ok(self.launch(run, question, conversation, slot))
    }

    /// Publishes the first events of `run`, registers it and spawns its task.
    fn launch(
        &self,
        run: Arc<Run>,
        question: store::Message,
        conversation: Vec<parasol_agent::Message>,
        slot: limits::Slot,
    ) -> EventStream {
        let message_id = run.message;
        run.log.push(StreamEvent::UserMessage(UserMessageEvent {
            message: question.into(),
        }));
        run.log.push(StreamEvent::AnswerStart(AnswerStartEvent {
            message_id: message_id.get(),
        }));
        let events = run.log.follow(None);
        self.lock_runs().insert(message_id, Arc::clone(&run));
        self.forget_when_finished(&run);
        tracing::info!(message = %message_id, thread = %run.thread, "answer started");

        let (store, agent) = (self.store.clone(), Arc::clone(&self.agent));
        task::spawn(store, agent, run, conversation, slot);
        EventStream { message_id, events }
    }

    /// `owner`'s answer `message`'s events after `after` (all for `None`): replayed from
    /// memory and then followed while it is generating or recently finished, or else
    /// rebuilt from the database.
    pub async fn subscribe(
        &self,
        owner: UserId,
        message: MessageId,
        after: Option<u64>,
    ) -> Result<EventStream, GenerationError> {
        let live = self.lock_runs().get(&message).cloned();
        if let Some(run) = live {
            if run.owner != owner {
                return Err(GenerationError::NotFound);
            }
            return Ok(EventStream {
                message_id: message,
                events: run.log.follow(after),
            });
        }
        self.replay_stored(owner, message, after).await
    }

    /// Stops `owner`'s answer `message`: its task drops the agent's stream and saves the
    /// text so far as stopped. An answer already finished is left as it is.
    pub async fn stop(&self, owner: UserId, message: MessageId) -> Result<(), GenerationError> {
        let live = self.lock_runs().get(&message).cloned();
        if let Some(run) = live {
            if run.owner != owner {
                return Err(GenerationError::NotFound);
            }
            run.cancel_for(Cancel::ByUser);
            tracing::info!(%message, "answer stopped by its owner");
            return Ok(());
        }
        match self.store.message(owner, message).await? {
            Some(stored) if stored.role == Role::Assistant => Ok(()),
            _ => Err(GenerationError::NotFound),
        }
    }

    /// Cancels the answers running in `owner`'s `thread`, which has just been deleted
    /// with everything in it.
    pub fn thread_deleted(&self, owner: UserId, thread: &ThreadId) {
        for run in self.lock_runs().values() {
            if run.owner == owner && run.thread == *thread {
                run.cancel_for(Cancel::Deleted);
            }
        }
    }

    /// Cancels every running answer, saving each as interrupted, and waits (a few seconds
    /// at most) until they are saved and their streams have ended.
    pub async fn shutdown(&self) {
        let running: Vec<Arc<Run>> = self
            .lock_runs()
            .values()
            .filter(|run| !run.log.is_finished())
            .cloned()
            .collect();
        if running.is_empty() {
            return;
        }
        tracing::info!(running = running.len(), "interrupting answers for shutdown");
        for run in &running {
            run.cancel_for(Cancel::Shutdown);
        }
        let all_saved = futures::future::join_all(running.iter().map(|run| run.log.finished()));
        if tokio::time::timeout(SHUTDOWN_GRACE, all_saved)
            .await
            .is_err()
        {
            tracing::warn!("some answers were still being saved when shutdown went on");
        }
    }

    /// Removes the run from memory once it has finished and the retention has passed.
    fn forget_when_finished(&self, run: &Arc<Run>) {
        let this = self.this.clone();
        let log = Arc::clone(&run.log);
        let message = run.message;
        let retention = self.retention;
        tokio::spawn(async move {
            log.finished().await;
            tokio::time::sleep(retention).await;
            if let Some(this) = this.upgrade() {
                this.lock_runs().remove(&message);
            }
        });
    }

    /// The stored answer as a stream: each step's start and end, then `message` and
    /// `done`, numbered on from `after`. The live events are gone, so this is a snapshot
    /// that replaces what the client has rather than the exact events it missed.
    async fn replay_stored(
        &self,
        owner: UserId,
        message: MessageId,
        after: Option<u64>,
    ) -> Result<EventStream, GenerationError> {
        let stored = self
            .store
            .message(owner, message)
            .await?
            .filter(|stored| stored.role == Role::Assistant)
            .ok_or(GenerationError::NotFound)?;
        let first = after.map_or(0, |seq| seq.saturating_add(1));
        let events: Vec<Arc<SeqEvent>> = snapshot(stored)
            .into_iter()
            .zip(first..)
            .map(|(event, seq)| {
                Arc::new(SeqEvent {
                    message_id: message,
                    seq,
                    event,
                })
            })
            .collect();
        Ok(EventStream {
            message_id: message,
            events: stream::iter(events).boxed(),
        })
    }

    fn lock_runs(&self) -> MutexGuard<'_, HashMap<MessageId, Arc<Run>>> {
        // Inserts and removes leave the map whole, so a poisoned lock is still usable.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The events that describe a stored answer as it is now.
fn snapshot(message: store::Message) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    for step in message.steps {
        events.push(StreamEvent::StepStart(StepStartEvent {
            step_id: step.id.get(),
            tool: step.tool_name.clone(),
            input: crate::wire::parse_input(&step.input_json),
        }));
        if let (Some(output), Some(duration_ms)) = (step.output, step.duration_ms) {
            events.push(StreamEvent::StepEnd(StepEndEvent {
                step_id: step.id.get(),
                tool: step.tool_name,
                output,
                is_error: step.is_error,
                duration_ms,
            }));
        }
    }
    events.push(StreamEvent::Message(MessageEvent {
        message_id: message.id.get(),
        html: message.html,
        content: message.content,
    }));
    events.push(StreamEvent::Done(DoneEvent {
        status: message.status.into(),
        usage: message.usage.map(Into::into),
    }));
    events
}
