//! Verification of identity tokens against the gateway's published keys.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::jwks::{Jwks, JwksError};
use crate::key::PublicKey;
use crate::store::{self, StoreError};
use crate::token::{echo, read_header};

/// How far the verifier's clock may be behind or ahead of the gateway's.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is not a well-formed JWT with the expected claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than the ones allowed.
    #[error("token algorithm {0:?} is not allowed")]
    DisallowedAlgorithm(String),
    /// The header has no `kid`, so no key can be chosen.
    #[error("token header has no kid")]
    MissingKid,
    /// No known key has this id; the signer may have rotated, so the JWKS is worth
    /// fetching again.
    #[error("token signed with unknown key {0:?}")]
    UnknownKid(String),
    /// The signature does not match the header and payload.
    #[error("token signature is not valid")]
    BadSignature,
    /// The token was issued by someone else.
    #[error("token issuer is not the expected one")]
    WrongIssuer,
    /// The token was issued for another service.
    #[error("token audience is not this service")]
    WrongAudience,
    /// The token's `exp` is past, beyond the allowed leeway.
    #[error("token has expired")]
    Expired,
    /// The token's `iat` is ahead of the clock, beyond the allowed leeway.
    #[error("token is issued in the future")]
    IssuedInFuture,
}

/// Checks identity tokens: EdDSA only, a known `kid`, the expected issuer and audience, and
/// the token's lifetime with a small leeway.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    issuer: String,
    audience: String,
    leeway: Duration,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier that trusts the Ed25519 signature keys of a JWKS.
    pub fn from_jwks(
        jwks: &Jwks,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        let keys = jwks
            .verification_keys()?
            .into_iter()
            .map(|(kid, key)| (kid, key.decoding_key()))
            .collect();
        Ok(Self::new(keys, issuer.into(), audience.into()))
    }

    /// A verifier that trusts the keys of a JWKS document given as JSON.
    pub fn from_jwks_json(
        json: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        Self::from_jwks(&Jwks::from_json(json)?, issuer, audience)
    }

    /// A verifier that trusts the single key in a PEM file: an SPKI public key, or a PKCS#8
    /// private key whose public half is used. The `kid` is the key's thumbprint, as the
    /// gateway's key store names it.
    pub fn from_key_file(
        path: &Path,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let key = store::read_any_key(path)?;
        Ok(Self::from_public_keys([&key], issuer, audience))
    }

    /// A verifier that trusts the given public keys under their thumbprint key ids.
    pub fn from_public_keys<'a>(
        keys: impl IntoIterator<Item = &'a PublicKey>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let keys = keys
            .into_iter()
            .map(|key| (key.kid().to_owned(), key.decoding_key()))
            .collect();
        Self::new(keys, issuer.into(), audience.into())
    }

    /// Sets how much clock difference is forgiven on `exp` and `iat`.
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

    /// Whether a key with this id is trusted.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Checks a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = read_header(token)?;

        // The algorithm is fixed by the verifier, never by the token: this is what stops
        // `alg: none` and an HS256 token keyed with the public key (RFC 8725 section 3.1).
        if header.alg != "EdDSA" {
            return Err(VerifyError::DisallowedAlgorithm(echo(&header.alg)));
        }
        let kid = header.kid.ok_or(VerifyError::MissingKid)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| VerifyError::UnknownKid(echo(&kid)))?;

        let claims = jsonwebtoken::decode::<Claims>(token, key, &signature_only(Algorithm::EdDSA))
            .map_err(from_jwt_error)?
            .claims;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    fn new(keys: HashMap<String, DecodingKey>, issuer: String, audience: String) -> Self {
        Self {
            keys,
            issuer,
            audience,
            leeway: DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
        }
    }

    fn check_claims(&self, claims: &Claims) -> Result<(), VerifyError> {
        if claims.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if claims.aud != self.audience {
            return Err(VerifyError::WrongAudience);
        }
        let now = unix_seconds(self.clock.as_ref());
        check_expiry(claims.exp, now, self.leeway)?;
        check_issued_at(claims.iat, now, self.leeway)
    }
}

/// jsonwebtoken's own claim checks read the system clock, which tests cannot move, so it
/// checks the algorithm and signature only and the claims are checked here.
pub(crate) fn signature_only(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// A token is still good during the leeway after its `exp` (RFC 7519 section 4.1.4).
pub(crate) fn check_expiry(exp: u64, now: u64, leeway: Duration) -> Result<(), VerifyError> {
    if exp.saturating_add(leeway.as_secs()) < now {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// A token issued further ahead than the leeway comes from a wrong clock or a forger who
/// wants a long-lived token, so it is refused.
fn check_issued_at(iat: u64, now: u64, leeway: Duration) -> Result<(), VerifyError> {
    if iat > now.saturating_add(leeway.as_secs()) {
        return Err(VerifyError::IssuedInFuture);
    }
    Ok(())
}

pub(crate) fn from_jwt_error(err: jsonwebtoken::errors::Error) -> VerifyError {
    match err.kind() {
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        _ => VerifyError::Malformed(err.to_string()),
    }
}
