//! The compatibility verifier for the original article's HS256 tokens, which carry `user`,
//! `display_name` and `exp` and are signed with a secret shared by both sides.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::claims::Identity;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::token::{echo, read_header};
use crate::verify::{DEFAULT_LEEWAY, VerifyError, check_expiry, from_jwt_error, signature_only};

/// Why a legacy verifier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LegacyConfigError {
    /// An empty secret would let anyone sign tokens.
    #[error("the legacy token secret is empty")]
    EmptySecret,
}

/// The payload of the article's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyClaims {
    /// The user's identifier.
    pub user: String,
    /// The user's display name.
    pub display_name: String,
    /// When the token stops being valid, in seconds since the Unix epoch.
    pub exp: u64,
}

/// Checks the article's HS256 tokens. Callers keep it off by default: anyone who holds the
/// shared secret can mint a token for any user, which is what the EdDSA tokens avoid.
#[derive(Debug, Clone)]
pub struct LegacyVerifier {
    // jsonwebtoken's DecodingKey prints as redacted and zeroizes itself on drop.
    key: DecodingKey,
    leeway: Duration,
    clock: Arc<dyn Clock>,
}

impl LegacyVerifier {
    /// A verifier for tokens signed with `secret`.
    pub fn new(secret: &SecretString) -> Result<Self, LegacyConfigError> {
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
            .map_err(|_| LegacyConfigError::EmptySecret)?;
        Ok(Self {
            key,
            leeway: DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
        })
    }

    /// Sets how much clock difference is forgiven on `exp`.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the clock that expiry is judged by.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks a token and returns the user it names.
    pub fn verify(&self, token: &str) -> Result<Identity, VerifyError> {
        let header = read_header(token)?;
        if header.alg != "HS256" {
            return Err(VerifyError::DisallowedAlgorithm(echo(&header.alg)));
        }

        let claims = jsonwebtoken::decode::<LegacyClaims>(
            token,
            &self.key,
            &signature_only(Algorithm::HS256),
        )
        .map_err(from_jwt_error)?
        .claims;
        check_expiry(claims.exp, unix_seconds(self.clock.as_ref()), self.leeway)?;
        Ok(Identity {
            subject: claims.user,
            name: claims.display_name,
            email: None,
            groups: Vec::new(),
        })
    }
}
