//! Messages: a person's questions, the answers streamed back, and answers cut short by a
//! restart.

use std::sync::{Arc, LazyLock};

use sqlx::SqliteConnection;

use super::error::{StoreError, ValidationError};
use super::ids::{MessageId, ThreadId, UserId};
use super::model::{AnswerOutcome, Message, MessageStatus, Role};
use super::rows::{MESSAGE_COLUMNS, MessageRow, STEP_COLUMNS, StepRow};
use super::validate::{self, MAX_CONTENT_BYTES, MAX_ERROR_CHARS, MAX_HTML_BYTES};
use super::writer::Write;
use super::{Backend, Store};

/// Moves the thread's activity time forward, and finds the thread only among the
/// owner's. Run first in a write transaction, it also takes the thread's row lock, so
/// concurrent writes to one thread queue up instead of racing for the next `seq`. The
/// time never moves back, even if the clock does.
pub(crate) const TOUCH_THREAD: &str = "UPDATE threads \
     SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END \
     WHERE id = $2 AND owner_id = $3";

/// [`TOUCH_THREAD_OF_MESSAGE`] only while message `$3` is an answer being generated.
const TOUCH_THREAD_OF_GENERATING: &str = "UPDATE threads \
     SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END \
     WHERE owner_id = $2 AND id = (SELECT thread_id FROM messages \
     WHERE id = $3 AND role = 'assistant' AND status = 'generating')";

/// [`TOUCH_THREAD`] for the thread that holds message `$3`.
pub(crate) const TOUCH_THREAD_OF_MESSAGE: &str = "UPDATE threads \
     SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END \
     WHERE owner_id = $2 AND id = (SELECT thread_id FROM messages WHERE id = $3)";

const INSERT_MESSAGE: &str = "INSERT INTO messages \
     (thread_id, seq, role, content, html, status, created_at) \
     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE thread_id = $1), \
     $2, $3, $4, $5, $6) \
     RETURNING id, seq";

const FINISH_ANSWER: &str = "UPDATE messages SET content = $1, html = $2, status = $3, \
     error = $4, input_tokens = $5, output_tokens = $6 \
     WHERE id = $7 AND role = 'assistant' AND status = 'generating'";

/// Gives every still-running step of message `$4` an error output, so that no step is
/// left spinning once its answer has ended.
pub(crate) const CLOSE_OPEN_STEPS: &str = "UPDATE steps SET output = $1, is_error = $2, \
     duration_ms = CASE WHEN $3 > started_at THEN $3 - started_at ELSE 0 END \
     WHERE message_id = $4 AND duration_ms IS NULL";

const CLOSE_STEPS_OF_GENERATING: &str = "UPDATE steps SET output = $1, is_error = $2, \
     duration_ms = CASE WHEN $3 > started_at THEN $3 - started_at ELSE 0 END \
     WHERE duration_ms IS NULL \
     AND message_id IN (SELECT id FROM messages WHERE status = 'generating')";

const INTERRUPT_GENERATING: &str = "UPDATE messages \
     SET status = 'interrupted', error = COALESCE(error, $1) WHERE status = 'generating'";

static SELECT_MESSAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN threads t ON t.id = m.thread_id \
         LEFT JOIN feedback f ON f.message_id = m.id AND f.user_id = $2 \
         WHERE m.id = $1 AND t.owner_id = $2"
    )
});

static SELECT_MESSAGE_STEPS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {STEP_COLUMNS} FROM steps s WHERE s.message_id = $1 ORDER BY s.seq")
});

/// The step output given to tool calls still running when their answer ended.
const STEP_CUT_SHORT: &str = "the answer ended before this tool call finished";

/// The error given to answers that were generating when the server restarted.
const INTERRUPTED_BY_RESTART: &str = "the server stopped while this answer was being written";

/// Whether the message is among the owner's at all, when it is not an answer being
/// generated.
const SELECT_OWN_MESSAGE: &str = "SELECT m.id FROM messages m \
     JOIN threads t ON t.id = m.thread_id WHERE m.id = $1 AND t.owner_id = $2";

/// A finished answer, owned, so that it can wait for SQLite's writer thread.
#[derive(Debug)]
pub(super) struct FinishRequest {
    owner: UserId,
    message: MessageId,
    content: String,
    html: String,
    status: MessageStatus,
    error: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    now: i64,
}

/// What finishing an answer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finishing {
    Saved,
    /// No such message among the owner's.
    NotFound,
    /// The owner's message, but not an answer being generated.
    NotGenerating,
}

/// The statements that finish an answer, in the open transaction `$tx`: touch its
/// thread, found only among the owner's and only while the answer is generating, then
/// save the answer and close its steps still running. When the touch finds nothing,
/// nothing is written, and a read tells a missing message from one not generating.
/// Evaluates to `Result<Finishing, sqlx::Error>`.
macro_rules! finish_in {
    ($tx:expr, $request:expr) => {
        async {
            let request: &FinishRequest = $request;
            let touched = sqlx::query(TOUCH_THREAD_OF_GENERATING)
                .bind(request.now)
                .bind(request.owner.0)
                .bind(request.message.0)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if touched == 0 {
                let own: Option<i64> = sqlx::query_scalar(SELECT_OWN_MESSAGE)
                    .bind(request.message.0)
                    .bind(request.owner.0)
                    .fetch_optional(&mut *$tx)
                    .await?;
                return Ok::<_, sqlx::Error>(if own.is_some() {
                    Finishing::NotGenerating
                } else {
                    Finishing::NotFound
                });
            }
            let finished = sqlx::query(FINISH_ANSWER)
                .bind(request.content.as_str())
                .bind(request.html.as_str())
                .bind(request.status.as_str())
                .bind(request.error.as_deref())
                .bind(request.input_tokens)
                .bind(request.output_tokens)
                .bind(request.message.0)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            // Only on PostgreSQL, where another transaction may have finished the answer
            // since the touch read it; the caller then rolls the touch back.
            if finished == 0 {
                return Ok(Finishing::NotGenerating);
            }
            sqlx::query(CLOSE_OPEN_STEPS)
                .bind(STEP_CUT_SHORT)
                .bind(true)
                .bind(request.now)
                .bind(request.message.0)
                .execute(&mut *$tx)
                .await?;
            Ok(Finishing::Saved)
        }
        .await
    };
}

impl Write for FinishRequest {
    type Outcome = Finishing;

    async fn run(&self, conn: &mut SqliteConnection) -> Result<Finishing, sqlx::Error> {
        finish_in!(conn, self)
    }

    fn keeps(finishing: &Finishing) -> bool {
        *finishing == Finishing::Saved
    }
}

/// A message about to be inserted.
pub(super) struct NewMessage<'a> {
    pub(super) role: Role,
    pub(super) content: &'a str,
    pub(super) html: &'a str,
    pub(super) status: MessageStatus,
}

impl Store {
    /// Adds a person's message, markdown `content` (not blank) with its rendered `html`,
    /// to the end of `owner`'s thread.
    pub async fn append_user_message(
        &self,
        owner: UserId,
        thread: &ThreadId,
        content: &str,
        html: &str,
    ) -> Result<Message, StoreError> {
        validate::required("content", content, MAX_CONTENT_BYTES)?;
        validate::at_most_bytes("html", html, MAX_HTML_BYTES)?;
        let message = NewMessage {
            role: Role::User,
            content,
            html,
            status: MessageStatus::Complete,
        };
        self.insert_message(owner, thread, message).await
    }

    /// Adds an empty answer, [`MessageStatus::Generating`], to the end of `owner`'s
    /// thread; steps go to it while it streams, and [`Store::finish_answer`] ends it.
    pub async fn start_answer(
        &self,
        owner: UserId,
        thread: &ThreadId,
    ) -> Result<Message, StoreError> {
        let message = NewMessage {
            role: Role::Assistant,
            content: "",
            html: "",
            status: MessageStatus::Generating,
        };
        self.insert_message(owner, thread, message).await
    }

    async fn insert_message(
        &self,
        owner: UserId,
        thread: &ThreadId,
        message: NewMessage<'_>,
    ) -> Result<Message, StoreError> {
        let now = self.now();

        let inserted: Option<(i64, i64)> = on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let touched = sqlx::query(TOUCH_THREAD)
                .bind(now)
                .bind(thread.as_str())
                .bind(owner.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                None
            } else {
                let row = sqlx::query_as(INSERT_MESSAGE)
                    .bind(thread.as_str())
                    .bind(message.role.as_str())
                    .bind(message.content)
                    .bind(message.html)
                    .bind(message.status.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Some(row)
            }
        });

        let id_and_seq = inserted.ok_or(StoreError::NotFound)?;
        Ok(self::inserted(thread, message, id_and_seq, now))
    }

    /// Ends an answer that is still generating: its final text and HTML, how it ended,
    /// any error and the token usage. Steps still running are closed as errors.
    pub async fn finish_answer(
        &self,
        owner: UserId,
        message: MessageId,
        outcome: &AnswerOutcome<'_>,
    ) -> Result<Message, StoreError> {
        validate::at_most_bytes("content", outcome.content, MAX_CONTENT_BYTES)?;
        validate::at_most_bytes("html", outcome.html, MAX_HTML_BYTES)?;
        if outcome.status == MessageStatus::Generating {
            return Err(ValidationError::NotFinal.into());
        }
        let (input_tokens, output_tokens) = validate::usage(outcome.usage)?;
        let error = outcome
            .error
            .map(|error| validate::cut(error, MAX_ERROR_CHARS));
        let now = self.now();

        let request = Arc::new(FinishRequest {
            owner,
            message,
            content: outcome.content.to_owned(),
            html: outcome.html.to_owned(),
            status: outcome.status,
            error: error.map(str::to_owned),
            input_tokens,
            output_tokens,
            now,
        });
        let finishing = match &self.backend {
            Backend::Sqlite { writer_thread, .. } => {
                writer_thread.finish(Arc::clone(&request)).await?
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let finishing = finish_in!(tx, &request)?;
                if FinishRequest::keeps(&finishing) {
                    tx.commit().await?;
                }
                finishing
            }
        };
        match finishing {
            Finishing::Saved => {}
            Finishing::NotFound => return Err(StoreError::NotFound),
            Finishing::NotGenerating => return Err(StoreError::NotGenerating),
        }

        self.message(owner, message)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// `owner`'s message `id`, with its steps.
    pub async fn message(
        &self,
        owner: UserId,
        id: MessageId,
    ) -> Result<Option<Message>, StoreError> {
        let found: Option<(MessageRow, Vec<StepRow>)> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<MessageRow> = sqlx::query_as(&SELECT_MESSAGE)
                .bind(id.0)
                .bind(owner.0)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                None => None,
                Some(row) => {
                    let steps = sqlx::query_as(&SELECT_MESSAGE_STEPS)
                        .bind(id.0)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Some((row, steps))
                }
            }
        });

        let Some((row, steps)) = found else {
            return Ok(None);
        };
        let mut message = Message::try_from(row)?;
        message.steps = steps.into_iter().map(Into::into).collect();
        Ok(Some(message))
    }

    /// Marks every answer still generating as [`MessageStatus::Interrupted`], with an
    /// error saying so, and closes its running steps. Returns how many answers it marked.
    ///
    /// Run it once at start-up, before serving: an answer left generating then is one
    /// whose server stopped mid-stream. It looks at every user's threads, so with several
    /// chat servers on one PostgreSQL it would also cut off answers another replica is
    /// still writing.
    ///
    /// TODO: record which replica writes an answer, so that a restart interrupts only its
    /// own; until then a scaled-out deployment must not call this on every start.
    pub async fn interrupt_generating_answers(&self) -> Result<u64, StoreError> {
        let now = self.now();

        let interrupted = on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(CLOSE_STEPS_OF_GENERATING)
                .bind(STEP_CUT_SHORT)
                .bind(true)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let interrupted = sqlx::query(INTERRUPT_GENERATING)
                .bind(INTERRUPTED_BY_RESTART)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            interrupted
        });

        if interrupted > 0 {
            tracing::info!(interrupted, "marked answers cut short by a restart");
        }
        Ok(interrupted)
    }
}

/// The record of `message`, just inserted into `thread` with `id` and `seq` at `now`.
pub(super) fn inserted(
    thread: &ThreadId,
    message: NewMessage<'_>,
    (id, seq): (i64, i64),
    now: i64,
) -> Message {
    Message {
        id: MessageId(id),
        thread_id: thread.clone(),
        seq,
        role: message.role,
        content: message.content.to_owned(),
        html: message.html.to_owned(),
        status: message.status,
        error: None,
        usage: None,
        created_at: now,
        feedback: None,
        steps: Vec::new(),
    }
}
