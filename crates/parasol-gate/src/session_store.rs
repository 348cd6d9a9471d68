//! Where sessions are kept: sealed whole in the cookie, or in Redis behind a sealed id.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::seal::Sealer;
use crate::session::Session;

/// Browsers keep cookies of up to 4096 bytes, name and attributes included.
const MAX_COOKIE_VALUE: usize = 3800;

/// Why a session could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused or could not be reached.
    #[error("the session store (Redis) failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// A session could not be encoded.
    #[error("a session could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The session store.
#[derive(Clone)]
pub enum SessionStore {
    /// The whole session, sealed, is the cookie's value.
    Cookie,
    /// The session is in Redis; the cookie's value is its sealed id.
    Redis(ConnectionManager),
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cookie => "SessionStore::Cookie",
            Self::Redis(_) => "SessionStore::Redis",
        })
    }
}

fn redis_key(id: &str) -> String {
    format!("parasol:session:{id}")
}

impl SessionStore {
    /// Connects to Redis at `url`.
    pub async fn redis(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        Ok(Self::Redis(ConnectionManager::new(client).await?))
    }

    /// Stores `session` for `ttl` seconds and returns the cookie value that finds it again.
    pub async fn save(
        &self,
        sealer: &Sealer,
        cookie: &str,
        session: &Session,
        ttl: u64,
    ) -> Result<String, StoreError> {
        match self {
            Self::Cookie => {
                let sealed = sealer.seal(cookie, &serde_json::to_string(session)?);
                if sealed.len() <= MAX_COOKIE_VALUE {
                    return Ok(sealed);
                }
                // Too big for a browser: the ID token is only a sign-out hint, so it goes
                // first; the refresh token next, which ends the session at its expiry.
                let mut slim = session.clone();
                slim.id_token = None;
                let sealed = sealer.seal(cookie, &serde_json::to_string(&slim)?);
                if sealed.len() <= MAX_COOKIE_VALUE {
                    return Ok(sealed);
                }
                tracing::warn!(
                    session = %session.id,
                    "the provider's tokens are too large for a cookie; the session will not \
                     be refreshed (set gate.session.store = \"redis\" to keep them)"
                );
                slim.refresh_token = None;
                Ok(sealer.seal(cookie, &serde_json::to_string(&slim)?))
            }
            Self::Redis(redis) => {
                let mut redis = redis.clone();
                let json = serde_json::to_string(session)?;
                let _: () = redis
                    .set_ex(redis_key(&session.id), json, ttl.max(1))
                    .await?;
                Ok(sealer.seal(cookie, &session.id))
            }
        }
    }

    /// The session a cookie value stands for, if it opens and (with Redis) still exists.
    pub async fn load(
        &self,
        sealer: &Sealer,
        cookie: &str,
        value: &str,
    ) -> Result<Option<Session>, StoreError> {
        let Some(plain) = sealer.open(cookie, value) else {
            return Ok(None);
        };
        match self {
            Self::Cookie => Ok(serde_json::from_str(&plain).ok()),
            Self::Redis(redis) => {
                let mut redis = redis.clone();
                let json: Option<String> = redis.get(redis_key(&plain)).await?;
                Ok(json
                    .and_then(|json| serde_json::from_str::<Session>(&json).ok())
                    .filter(|session| session.id == plain))
            }
        }
    }

    /// Ends a session: with Redis it is gone for every copy of the cookie; a cookie-only
    /// session ends when the browser drops the cookie (and, at the latest, at its expiry).
    pub async fn delete(&self, session: &Session) -> Result<(), StoreError> {
        if let Self::Redis(redis) = self {
            let mut redis = redis.clone();
            let _: () = redis.del(redis_key(&session.id)).await?;
        }
        Ok(())
    }
}
