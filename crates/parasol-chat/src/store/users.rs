//! Users, recorded the first time their identity is seen and refreshed on each visit.

use super::Store;
use super::error::StoreError;
use super::ids::UserId;
use super::validate::{self, MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_BYTES, MAX_SUBJECT_BYTES};

const UPSERT_USER: &str = "INSERT INTO users (subject, display_name, email, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (subject) DO UPDATE SET display_name = excluded.display_name, \
     email = excluded.email, last_seen = excluded.last_seen \
     RETURNING id";

impl Store {
    /// Records a verified identity and returns its user id: a new row on the first visit,
    /// the same id with a fresh name, e-mail and `last_seen` after that.
    ///
    /// `subject` is the token's stable `sub`, and is refused if empty or longer than
    /// [`MAX_SUBJECT_BYTES`]. The name and e-mail come from the identity provider, so they
    /// are not refused, which would lock the person out: a long name is cut to
    /// [`MAX_DISPLAY_NAME_CHARS`] and an overlong e-mail, which no address can be, is
    /// dropped.
    pub async fn upsert_user(
        &self,
        subject: &str,
        display_name: &str,
        email: Option<&str>,
    ) -> Result<UserId, StoreError> {
        validate::required("subject", subject, MAX_SUBJECT_BYTES)?;
        let display_name = validate::cut(display_name.trim(), MAX_DISPLAY_NAME_CHARS);
        let email = email
            .map(str::trim)
            .filter(|email| !email.is_empty() && email.len() <= MAX_EMAIL_BYTES);
        let now = self.now();

        let id: i64 = on_writer!(self, pool => {
            sqlx::query_scalar(UPSERT_USER)
                .bind(subject)
                .bind(display_name)
                .bind(email)
                .bind(now)
                .fetch_one(pool)
                .await?
        });
        Ok(UserId(id))
    }
}
