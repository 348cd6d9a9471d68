//! Saving a person's question and starting its empty answer ([`Store::ask`]): the one
//! write between a post and the first token of its answer. On SQLite it goes to the
//! writer thread (see `writer`), which saves the asks posted at once together; on
//! PostgreSQL each ask is a transaction of its own, beside the others on the pool.

use std::sync::Arc;

use sqlx::SqliteConnection;

use super::error::StoreError;
use super::ids::{ThreadId, UserId};
use super::messages::{NewMessage, inserted};
use super::model::{Exchange, MessageStatus, Role};
use super::validate::{self, MAX_CONTENT_BYTES, MAX_HTML_BYTES};
use super::writer::Write;
use super::{Backend, DEFAULT_THREAD_TITLE, Store};

/// Saves the question and its empty answer after it, the next two in the thread.
const INSERT_EXCHANGE: &str = "WITH last AS MATERIALIZED \
     (SELECT COALESCE(MAX(seq), 0) AS seq FROM messages WHERE thread_id = $1) \
     INSERT INTO messages (thread_id, seq, role, content, html, status, created_at) \
     SELECT $1, last.seq + 1, 'user', $2, $3, 'complete', $4 FROM last \
     UNION ALL \
     SELECT $1, last.seq + 2, 'assistant', '', '', 'generating', $4 FROM last \
     RETURNING id, seq";

/// Moves the thread's activity time forward, as `messages::TOUCH_THREAD` does, found only
/// among the owner's, and names a thread still called `$5` (the default title) after
/// `$4` if it has no message yet: the question about to be saved is its first.
const TOUCH_AND_TITLE_THREAD: &str = "UPDATE threads \
     SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END, \
     title = CASE WHEN $4 IS NOT NULL AND title = $5 \
     AND NOT EXISTS (SELECT 1 FROM messages WHERE thread_id = $2) THEN $4 ELSE title END \
     WHERE id = $2 AND owner_id = $3";

/// What the model is shown of a thread: who wrote each message that is not still being
/// written, and what. Joined with the thread's owner, like every read.
const SELECT_HISTORY: &str = "SELECT m.role, m.content FROM messages m \
     JOIN threads t ON t.id = m.thread_id \
     WHERE m.thread_id = $1 AND t.owner_id = $2 AND m.status <> 'generating' \
     ORDER BY m.seq";

/// One ask, owned, so that it can wait in the queue.
#[derive(Debug)]
pub(super) struct AskRequest {
    owner: UserId,
    thread: ThreadId,
    content: String,
    html: String,
    first_title: Option<String>,
    now: i64,
}

/// What an ask reads back: the question's id and seq, the thread's history as
/// `(role, content)` rows, and the answer's id and seq; `None` if the thread is not the
/// owner's.
pub(super) type Asked = Option<((i64, i64), Vec<(String, String)>, (i64, i64))>;

/// The statements of one ask, in the open transaction `$tx`: touch the thread (found only
/// among the owner's, and named after the question if it has no message and no title of
/// its own), save the question and the empty answer after it, and read the history. A
/// macro, like `on_writer!`, so that one body serves both backends. Evaluates to
/// `Result<Asked, sqlx::Error>`.
macro_rules! ask_in {
    ($tx:expr, $request:expr) => {
        async {
            let request: &AskRequest = $request;
            let touched = sqlx::query(TOUCH_AND_TITLE_THREAD)
                .bind(request.now)
                .bind(request.thread.as_str())
                .bind(request.owner.0)
                .bind(request.first_title.as_deref())
                .bind(DEFAULT_THREAD_TITLE)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if touched == 0 {
                return Ok::<Asked, sqlx::Error>(None);
            }
            let mut saved: Vec<(i64, i64)> = sqlx::query_as(INSERT_EXCHANGE)
                .bind(request.thread.as_str())
                .bind(request.content.as_str())
                .bind(request.html.as_str())
                .bind(request.now)
                .fetch_all(&mut *$tx)
                .await?;
            // RETURNING promises no order; the question is the one before the answer.
            saved.sort_by_key(|&(_, seq)| seq);
            let [asked, started] = saved[..] else {
                return Err(sqlx::Error::RowNotFound);
            };
            // A thread's first question is all of its history; only later ones read it.
            let history = if asked.1 == 1 {
                vec![(Role::User.as_str().to_owned(), request.content.clone())]
            } else {
                sqlx::query_as(SELECT_HISTORY)
                    .bind(request.thread.as_str())
                    .bind(request.owner.0)
                    .fetch_all(&mut *$tx)
                    .await?
            };
            Ok(Some((asked, history, started)))
        }
        .await
    };
}

impl Write for AskRequest {
    type Outcome = Asked;

    async fn run(&self, conn: &mut SqliteConnection) -> Result<Asked, sqlx::Error> {
        ask_in!(conn, self)
    }

    fn keeps(asked: &Asked) -> bool {
        asked.is_some()
    }
}

impl Store {
    /// Saves a person's question, markdown `content` (not blank) with its rendered
    /// `html`, at the end of `owner`'s thread and starts an empty answer after it, in one
    /// transaction: the work of [`Store::append_user_message`] and [`Store::start_answer`],
    /// with the thread's history up to the question read back. If the question is the
    /// thread's first message, the thread is still called [`DEFAULT_THREAD_TITLE`] and
    /// `first_title` is given, the thread takes that title.
    pub async fn ask(
        &self,
        owner: UserId,
        thread: &ThreadId,
        content: &str,
        html: &str,
        first_title: Option<&str>,
    ) -> Result<Exchange, StoreError> {
        validate::required("content", content, MAX_CONTENT_BYTES)?;
        validate::at_most_bytes("html", html, MAX_HTML_BYTES)?;
        let first_title = first_title.map(validate::title).transpose()?;
        let request = Arc::new(AskRequest {
            owner,
            thread: thread.clone(),
            content: content.to_owned(),
            html: html.to_owned(),
            first_title: first_title.map(str::to_owned),
            now: self.now(),
        });

        let saved = match &self.backend {
            Backend::Sqlite { writer_thread, .. } => {
                writer_thread.ask(Arc::clone(&request)).await?
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let asked = ask_in!(tx, &request)?;
                if AskRequest::keeps(&asked) {
                    tx.commit().await?;
                }
                asked
            }
        };
        let (asked, history, started) = saved.ok_or(StoreError::NotFound)?;

        let history = history
            .into_iter()
            .map(|(role, content)| {
                let role = Role::from_db(&role).ok_or(StoreError::Corrupt { what: "role" })?;
                Ok((role, content))
            })
            .collect::<Result<_, StoreError>>()?;
        let question = NewMessage {
            role: Role::User,
            content: &request.content,
            html: &request.html,
            status: MessageStatus::Complete,
        };
        let answer = NewMessage {
            role: Role::Assistant,
            content: "",
            html: "",
            status: MessageStatus::Generating,
        };
        Ok(Exchange {
            question: inserted(thread, question, asked, request.now),
            answer: inserted(thread, answer, started, request.now),
            history,
        })
    }
}
