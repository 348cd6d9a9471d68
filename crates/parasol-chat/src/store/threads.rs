//! Threads: creating, listing, reading, renaming and deleting a user's conversations.

use std::sync::LazyLock;

use super::Store;
use super::error::StoreError;
use super::ids::{ThreadId, UserId};
use super::model::{Thread, ThreadCursor, ThreadDetail, ThreadPage};
use super::rows::{
    self, MESSAGE_COLUMNS, MessageRow, STEP_COLUMNS, StepRow, THREAD_COLUMNS, ThreadRow,
};
use super::validate;

const INSERT_THREAD: &str = "INSERT INTO threads (id, owner_id, title, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4)";

static FIRST_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {THREAD_COLUMNS} FROM threads WHERE owner_id = $1 \
         ORDER BY updated_at DESC, id DESC LIMIT $2"
    )
});

// The cursor is the last thread shown: the next page holds what sorts after it.
static NEXT_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {THREAD_COLUMNS} FROM threads WHERE owner_id = $1 \
         AND (updated_at < $3 OR (updated_at = $3 AND id < $4)) \
         ORDER BY updated_at DESC, id DESC LIMIT $2"
    )
});

static SELECT_THREAD: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {THREAD_COLUMNS} FROM threads WHERE id = $1 AND owner_id = $2")
});

// Only the owner can read a thread, so the owner's feedback is the only feedback.
static SELECT_MESSAGES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         LEFT JOIN feedback f ON f.message_id = m.id AND f.user_id = $2 \
         WHERE m.thread_id = $1 ORDER BY m.seq"
    )
});

static SELECT_THREAD_STEPS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {STEP_COLUMNS} FROM steps s JOIN messages m ON m.id = s.message_id \
         WHERE m.thread_id = $1 ORDER BY m.seq, s.seq"
    )
});

static RENAME_THREAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE threads SET title = $1 WHERE id = $2 AND owner_id = $3 RETURNING {THREAD_COLUMNS}"
    )
});

const DELETE_THREAD: &str = "DELETE FROM threads WHERE id = $1 AND owner_id = $2";

const COUNT_MESSAGES: &str = "SELECT (SELECT COUNT(*) FROM messages m WHERE m.thread_id = t.id) \
     FROM threads t WHERE t.id = $1 AND t.owner_id = $2";

impl Store {
    /// Starts a thread for `owner` with a title of 1 to
    /// [`MAX_TITLE_CHARS`](super::MAX_TITLE_CHARS) characters once trimmed.
    pub async fn create_thread(&self, owner: UserId, title: &str) -> Result<Thread, StoreError> {
        let title = validate::title(title)?;
        let id = ThreadId::generate()?;
        let now = self.now();

        on_writer!(self, pool => {
            sqlx::query(INSERT_THREAD)
                .bind(id.as_str())
                .bind(owner.0)
                .bind(title)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(Thread {
            id,
            title: title.to_owned(),
            created_at: now,
            updated_at: now,
        })
    }

    /// One page of `owner`'s threads, most recently active first; `after` is the
    /// previous page's [`ThreadPage::next`]. `limit` is 1 to
    /// [`MAX_PAGE_LIMIT`](super::MAX_PAGE_LIMIT).
    pub async fn list_threads(
        &self,
        owner: UserId,
        limit: u32,
        after: Option<&ThreadCursor>,
    ) -> Result<ThreadPage, StoreError> {
        // One more row than asked tells whether a next page exists.
        let fetch = validate::page_limit(limit)? + 1;

        let rows: Vec<ThreadRow> = on_pool!(self, pool => match after {
            None => {
                sqlx::query_as(&FIRST_PAGE)
                    .bind(owner.0)
                    .bind(fetch)
                    .fetch_all(pool)
                    .await?
            }
            Some(cursor) => {
                sqlx::query_as(&NEXT_PAGE)
                    .bind(owner.0)
                    .bind(fetch)
                    .bind(cursor.updated_at)
                    .bind(cursor.id.as_str())
                    .fetch_all(pool)
                    .await?
            }
        });

        let mut threads: Vec<Thread> = rows.into_iter().map(Thread::from).collect();
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if threads.len() > page {
            threads.truncate(page);
            threads.last().map(|last| ThreadCursor {
                updated_at: last.updated_at,
                id: last.id.clone(),
            })
        } else {
            None
        };
        Ok(ThreadPage { threads, next })
    }

    /// `owner`'s thread `id`, without its messages.
    pub async fn thread(&self, owner: UserId, id: &ThreadId) -> Result<Option<Thread>, StoreError> {
        let row: Option<ThreadRow> = on_pool!(self, pool => {
            sqlx::query_as(&SELECT_THREAD)
                .bind(id.as_str())
                .bind(owner.0)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Thread::from))
    }

    /// `owner`'s thread `id` with every message and step, in order.
    pub async fn thread_detail(
        &self,
        owner: UserId,
        id: &ThreadId,
    ) -> Result<Option<ThreadDetail>, StoreError> {
        let found = on_pool!(self, pool => {
            // On SQLite the transaction gives the three reads one snapshot. PostgreSQL reads
            // each statement afresh, so a step written in between may show up early, which
            // is harmless, or belong to a message not read, which `assemble` leaves out.
            let mut tx = pool.begin().await?;
            let thread: Option<ThreadRow> = sqlx::query_as(&SELECT_THREAD)
                .bind(id.as_str())
                .bind(owner.0)
                .fetch_optional(&mut *tx)
                .await?;
            match thread {
                None => None,
                Some(thread) => {
                    let messages: Vec<MessageRow> = sqlx::query_as(&SELECT_MESSAGES)
                        .bind(id.as_str())
                        .bind(owner.0)
                        .fetch_all(&mut *tx)
                        .await?;
                    let steps: Vec<StepRow> = sqlx::query_as(&SELECT_THREAD_STEPS)
                        .bind(id.as_str())
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Some((thread, messages, steps))
                }
            }
        });

        let Some((thread, messages, steps)) = found else {
            return Ok(None);
        };
        Ok(Some(ThreadDetail {
            thread: thread.into(),
            messages: rows::assemble(messages, steps)?,
        }))
    }

    /// Gives `owner`'s thread `id` a new title, trimmed, of 1 to
    /// [`MAX_TITLE_CHARS`](super::MAX_TITLE_CHARS) characters.
    pub async fn rename_thread(
        &self,
        owner: UserId,
        id: &ThreadId,
        title: &str,
    ) -> Result<Thread, StoreError> {
        let title = validate::title(title)?;

        let row: Option<ThreadRow> = on_writer!(self, pool => {
            sqlx::query_as(&RENAME_THREAD)
                .bind(title)
                .bind(id.as_str())
                .bind(owner.0)
                .fetch_optional(pool)
                .await?
        });
        row.map(Thread::from).ok_or(StoreError::NotFound)
    }

    /// Deletes `owner`'s thread `id` with its messages, steps and feedback.
    pub async fn delete_thread(&self, owner: UserId, id: &ThreadId) -> Result<(), StoreError> {
        let deleted = on_writer!(self, pool => {
            sqlx::query(DELETE_THREAD)
                .bind(id.as_str())
                .bind(owner.0)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// How many messages `owner`'s thread `id` holds.
    pub async fn count_messages(
        &self,
        owner: UserId,
        id: &ThreadId,
    ) -> Result<Option<u64>, StoreError> {
        let count: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(COUNT_MESSAGES)
                .bind(id.as_str())
                .bind(owner.0)
                .fetch_optional(pool)
                .await?
        });
        count
            .map(|count| u64::try_from(count).map_err(|_| StoreError::Corrupt { what: "count" }))
            .transpose()
    }
}
