//! The `[chat]` section: where the chat server listens, how it checks identity tokens, and
//! what each user may ask of it.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the chat server reads from its configuration. Durations are in seconds.
///
/// The database is not here: the binary reads `[database]` and passes the store in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// The address the chat server listens on.
    pub listen: SocketAddr,
    /// How the `X-User-JWT` header is checked.
    pub identity: IdentityConfig,
    /// What one user may ask of the server.
    pub limits: LimitsConfig,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            identity: IdentityConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

/// `[chat.identity]`: where the gateway's public keys come from, and what a token must say.
///
/// One of `jwks_url` and `key_file` is needed unless the caller hands the server a ready
/// verifier (as `parasol serve` does, holding the keys in process).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The gateway's JWKS (`http://127.0.0.1:4180/oauth2/jwks.json`), fetched on first use
    /// and again when a token names a key it does not hold.
    pub jwks_url: Option<String>,
    /// A PEM file with the gateway's public key (or its private key, whose public half
    /// is used), instead of a JWKS.
    pub key_file: Option<PathBuf>,
    /// The `iss` every token must carry: the gateway's public URL. Required with
    /// `jwks_url` or `key_file`.
    pub issuer: Option<String>,
    /// The `aud` every token must carry.
    pub audience: String,
    /// Seconds of clock difference forgiven on `exp` and `iat`.
    pub leeway: u64,
    /// The least number of seconds between two fetches of the JWKS, so that tokens
    /// naming made-up keys cannot make the server hammer the gateway.
    pub jwks_refetch_interval: u64,
    /// The shared secret of the article's HS256 tokens. Setting it (or the file) turns
    /// on the compatibility mode, which is off by default: whoever holds the secret can
    /// sign in as anyone. Never serialised.
    #[serde(skip_serializing)]
    pub legacy_hs256_secret: Option<SecretString>,
    /// A file holding the HS256 secret.
    pub legacy_hs256_secret_file: Option<PathBuf>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            jwks_url: None,
            key_file: None,
            issuer: None,
            audience: "parasol-chat".to_owned(),
            leeway: 30,
            jwks_refetch_interval: 30,
            legacy_hs256_secret: None,
            legacy_hs256_secret_file: None,
        }
    }
}

/// `[chat.limits]`: what one user may ask of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The longest message a person may send, in bytes of UTF-8.
    pub max_message_bytes: usize,
    /// How many messages one user may send in any 60 seconds.
    pub messages_per_minute: u32,
    /// How many answers one user may have generating at once.
    pub max_concurrent_generations: u32,
    /// Seconds a finished answer's events stay in memory for a stream to resume from;
    /// after that a resume is served from the database.
    pub event_retention: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            messages_per_minute: 20,
            max_concurrent_generations: 2,
            event_retention: 600,
        }
    }
}

impl LimitsConfig {
    /// The largest request body accepted: room for a message of the maximum size even if
    /// every byte of it is written as a six-byte JSON escape, plus the JSON around it.
    pub fn max_body_bytes(&self) -> usize {
        self.max_message_bytes
            .saturating_mul(6)
            .saturating_add(4096)
    }
}
