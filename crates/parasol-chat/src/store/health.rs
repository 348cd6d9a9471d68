//! Whether the database answers, for the readiness check.

use super::Store;
use super::error::StoreError;

impl Store {
    /// Runs a trivial query, proving a connection can be had and the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}
