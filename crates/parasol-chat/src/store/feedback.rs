//! Feedback: a person's thumbs up or down on an answer in their own thread.

use super::Store;
use super::error::StoreError;
use super::ids::{MessageId, UserId};
use super::model::Feedback;

/// Inserts or changes the verdict, but only for an answer in one of the user's own
/// threads: for anything else the `SELECT` finds no row, and nothing is written. The
/// `WHERE` clause also keeps SQLite from reading `ON CONFLICT` as part of the join.
const UPSERT_FEEDBACK: &str = "INSERT INTO feedback \
     (message_id, user_id, value, created_at, updated_at) \
     SELECT m.id, t.owner_id, $3, $4, $4 \
     FROM messages m JOIN threads t ON t.id = m.thread_id \
     WHERE m.id = $1 AND t.owner_id = $2 AND m.role = 'assistant' \
     ON CONFLICT (message_id, user_id) \
     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

const OWN_ANSWER: &str = "SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id \
     WHERE m.id = $1 AND t.owner_id = $2 AND m.role = 'assistant'";

const DELETE_FEEDBACK: &str = "DELETE FROM feedback WHERE message_id = $1 AND user_id = $2";

impl Store {
    /// Sets `user`'s verdict on the answer `message`, replacing any earlier one, or
    /// clears it with `None`. Only answers in the user's own threads take feedback; any
    /// other message is [`StoreError::NotFound`].
    pub async fn set_feedback(
        &self,
        user: UserId,
        message: MessageId,
        feedback: Option<Feedback>,
    ) -> Result<(), StoreError> {
        let Some(feedback) = feedback else {
            return self.clear_feedback(user, message).await;
        };
        let now = self.now();

        let written = on_writer!(self, pool => {
            sqlx::query(UPSERT_FEEDBACK)
                .bind(message.0)
                .bind(user.0)
                .bind(feedback.value())
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if written == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn clear_feedback(&self, user: UserId, message: MessageId) -> Result<(), StoreError> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let own: Option<i64> = sqlx::query_scalar(OWN_ANSWER)
                .bind(message.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await?;
            if own.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(DELETE_FEEDBACK)
                .bind(message.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
