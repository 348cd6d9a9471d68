//! Sessions: who signed in, when, and how their provider can vouch for them again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parasol_identity::Identity;
use serde::{Deserialize, Serialize};

use crate::config::SessionConfig;

/// A signed-in person's session.
///
/// Times are seconds since the Unix epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// A random id: the Redis key, and the handle for revocation.
    pub id: String,
    /// Who this is.
    pub user: Identity,
    /// `local`, or the id of the OpenID provider that signed them in.
    pub provider: String,
    /// When they signed in.
    pub created: u64,
    /// When the session was last used.
    pub seen: u64,
    /// When the provider's answer should be refreshed (its access token's expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_at: Option<u64>,
    /// The provider's refresh token, to extend the session without a new sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The provider's ID token, sent back as `id_token_hint` at sign-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

// Written by hand so that the provider's tokens never reach a log.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("subject", &self.user.subject)
            .field("provider", &self.provider)
            .field("created", &self.created)
            .field("seen", &self.seen)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a session is no longer good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Still good.
    Live,
    /// Older than the absolute lifetime.
    TooOld,
    /// Unused for longer than the idle timeout.
    Idle,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// From sign-in, however active.
    pub absolute: Duration,
    /// Since last use.
    pub idle: Duration,
}

impl From<&SessionConfig> for Lifetimes {
    fn from(config: &SessionConfig) -> Self {
        Self {
            absolute: Duration::from_secs(config.absolute_lifetime),
            idle: Duration::from_secs(config.idle_timeout),
        }
    }
}

impl Lifetimes {
    /// Whether `session` is still good at `now`.
    pub fn check(&self, session: &Session, now: u64) -> Expiry {
        if now >= session.created.saturating_add(self.absolute.as_secs()) {
            Expiry::TooOld
        } else if now >= session.seen.saturating_add(self.idle.as_secs()) {
            Expiry::Idle
        } else {
            Expiry::Live
        }
    }

    /// Seconds the session can live from `now` if it stays active: the smaller of the
    /// idle timeout and what remains of the absolute lifetime.
    pub fn remaining(&self, session: &Session, now: u64) -> u64 {
        let absolute_end = session.created.saturating_add(self.absolute.as_secs());
        absolute_end.saturating_sub(now).min(self.idle.as_secs())
    }
}

impl Session {
    /// A new session for `user`, signed in through `provider` at `now`.
    pub fn new(
        user: Identity,
        provider: impl Into<String>,
        now: u64,
    ) -> Result<Self, getrandom::Error> {
        Ok(Self {
            id: random_id()?,
            user,
            provider: provider.into(),
            created: now,
            seen: now,
            refresh_at: None,
            refresh_token: None,
            id_token: None,
        })
    }
}

/// 128 random bits, URL-safe.
pub fn random_id() -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Seconds since the Unix epoch of a wall-clock time.
pub fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
