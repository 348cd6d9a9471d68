//! Tool steps: the calls an agent makes while it writes an answer.

use std::sync::LazyLock;

use super::Store;
use super::error::{StoreError, ValidationError};
use super::ids::{MessageId, StepId, UserId};
use super::messages::TOUCH_THREAD_OF_MESSAGE;
use super::model::{NewStep, Step, StepOutcome};
use super::rows::{STEP_COLUMNS, StepRow};
use super::validate::{self, MAX_STEP_OUTPUT_BYTES, MAX_TOOL_FIELD_BYTES};

/// Inserts a step only into an answer still generating; no row back means it was not.
const INSERT_STEP: &str = "INSERT INTO steps \
     (message_id, seq, tool_name, tool_call_id, input_json, is_error, started_at) \
     SELECT m.id, (SELECT COALESCE(MAX(s.seq), 0) + 1 FROM steps s WHERE s.message_id = m.id), \
     $2, $3, $4, $5, $6 \
     FROM messages m WHERE m.id = $1 AND m.role = 'assistant' AND m.status = 'generating' \
     RETURNING id, seq";

/// The `TOUCH_THREAD` of `messages` for the thread that holds step `$3`.
const TOUCH_THREAD_OF_STEP: &str = "UPDATE threads \
     SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END \
     WHERE owner_id = $2 AND id = (SELECT m.thread_id FROM messages m \
     JOIN steps s ON s.message_id = m.id WHERE s.id = $3)";

const FINISH_STEP: &str = "UPDATE steps SET output = $1, is_error = $2, duration_ms = $3 \
     WHERE id = $4 AND duration_ms IS NULL";

static SELECT_STEP: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {STEP_COLUMNS} FROM steps s WHERE s.id = $1"));

impl Store {
    /// Records the start of a tool call in `owner`'s answer `message`, which must still
    /// be generating ([`StoreError::NotGenerating`] otherwise). `input_json` must be JSON.
    pub async fn append_step(
        &self,
        owner: UserId,
        message: MessageId,
        step: &NewStep<'_>,
    ) -> Result<Step, StoreError> {
        validate::required("tool name", step.tool_name, MAX_TOOL_FIELD_BYTES)?;
        validate::at_most_bytes("tool call id", step.tool_call_id, MAX_TOOL_FIELD_BYTES)?;
        validate::step_input(step.input_json)?;
        let now = self.now();

        let (id, seq): (i64, i64) = on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let touched = sqlx::query(TOUCH_THREAD_OF_MESSAGE)
                .bind(now)
                .bind(owner.0)
                .bind(message.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                return Err(StoreError::NotFound);
            }
            let inserted = sqlx::query_as(INSERT_STEP)
                .bind(message.0)
                .bind(step.tool_name)
                .bind(step.tool_call_id)
                .bind(step.input_json)
                .bind(false)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotGenerating)?;
            tx.commit().await?;
            inserted
        });

        Ok(Step {
            id: StepId(id),
            message_id: message,
            seq,
            tool_name: step.tool_name.to_owned(),
            tool_call_id: step.tool_call_id.to_owned(),
            input_json: step.input_json.to_owned(),
            output: None,
            is_error: false,
            started_at: now,
            duration_ms: None,
        })
    }

    /// Records how `owner`'s tool call `step` ended. A step finishes once
    /// ([`StoreError::StepFinished`] after that), and the steps of an answer that has
    /// ended were closed with it.
    pub async fn finish_step(
        &self,
        owner: UserId,
        step: StepId,
        outcome: &StepOutcome<'_>,
    ) -> Result<Step, StoreError> {
        validate::at_most_bytes("step output", outcome.output, MAX_STEP_OUTPUT_BYTES)?;
        if outcome.duration_ms < 0 {
            return Err(ValidationError::Duration.into());
        }
        let now = self.now();

        let row: StepRow = on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let touched = sqlx::query(TOUCH_THREAD_OF_STEP)
                .bind(now)
                .bind(owner.0)
                .bind(step.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                return Err(StoreError::NotFound);
            }
            let finished = sqlx::query(FINISH_STEP)
                .bind(outcome.output)
                .bind(outcome.is_error)
                .bind(outcome.duration_ms)
                .bind(step.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if finished == 0 {
                return Err(StoreError::StepFinished);
            }
            let row = sqlx::query_as(&SELECT_STEP)
                .bind(step.0)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        Ok(row.into())
    }
}
