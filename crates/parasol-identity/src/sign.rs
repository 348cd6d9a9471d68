//! Issuing identity tokens with the gateway's current key.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::claims::{Claims, Identity};
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::key::{KeyError, KeyPair};

/// How long a token is valid when the caller does not say: long enough for one request to
/// reach the chat server, short enough that a leaked token is soon worthless.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key could not be prepared for signing.
    #[error("the signing key cannot be used: {0}")]
    Key(#[from] KeyError),
    /// The operating system's random number generator failed while making a token id.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),
    /// Encoding or signing the token failed.
    #[error("the token could not be signed: {0}")]
    Encode(#[from] jsonwebtoken::errors::Error),
}

/// Issues EdDSA tokens naming the key they were signed with.
#[derive(Debug, Clone)]
pub struct Signer {
    key: EncodingKey,
    kid: String,
    issuer: String,
    audience: String,
    lifetime: Duration,
    clock: Arc<dyn Clock>,
}

impl Signer {
    /// A signer for tokens from `issuer` to `audience`, valid for [`DEFAULT_LIFETIME`].
    pub fn new(
        key: &KeyPair,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, SignError> {
        Ok(Self {
            key: key.encoding_key()?,
            kid: key.kid().to_owned(),
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime: DEFAULT_LIFETIME,
            clock: Arc::new(SystemClock),
        })
    }

    /// Sets how long issued tokens are valid.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets the clock that `iat` and `exp` are taken from.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The id of the key tokens are signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The claims a token for `user` would carry if issued now.
    pub fn claims_for(&self, user: &Identity) -> Result<Claims, SignError> {
        let iat = unix_seconds(self.clock.as_ref());
        Ok(Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.subject.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            groups: user.groups.clone(),
            iat,
            exp: iat.saturating_add(self.lifetime.as_secs()),
            jti: random_jti()?,
        })
    }

    /// Issues a token for `user`.
    pub fn sign(&self, user: &Identity) -> Result<String, SignError> {
        self.sign_claims(&self.claims_for(user)?)
    }

    /// Signs the given claims as they are, for callers that build them themselves.
    pub fn sign_claims(&self, claims: &Claims) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }
}

/// 128 random bits, which no two tokens will ever share by chance.
fn random_jti() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(SignError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
