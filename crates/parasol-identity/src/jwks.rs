//! The JSON Web Key Set that publishes the verification keys (RFC 7517, with RFC 8037's
//! Ed25519 keys).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::key::{KeyError, PublicKey};

/// What is wrong with a JWKS document.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is not a JWKS.
    #[error("the JWKS is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    /// A key that claims to be an Ed25519 key cannot be read as one.
    #[error("JWKS key {kid:?} is not a valid Ed25519 key: {reason}")]
    InvalidKey {
        /// The key's id.
        kid: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Two keys share a `kid`, so a token naming it would be ambiguous.
    #[error("the JWKS has more than one key with kid {0:?}")]
    DuplicateKid(String),
    /// No key in the document is an Ed25519 signing key with a `kid`.
    #[error("the JWKS has no Ed25519 signature key with a kid")]
    NoUsableKeys,
}

/// A JWK Set: `{"keys": [...]}` (RFC 7517 section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, the current signing key first.
    pub keys: Vec<Jwk>,
}

/// One JSON Web Key.
///
/// The members other than `kty` are optional here so that a set which also holds keys of
/// other types still parses; those keys are skipped when a verifier is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; `OKP` for Ed25519 (RFC 8037 section 2).
    pub kty: String,
    /// The curve; `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public key, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The key id that token headers refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is for; `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// What the key is for; `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK for an Ed25519 verification key.
    pub fn ed25519(key: &PublicKey) -> Self {
        Self {
            kty: "OKP".to_owned(),
            crv: Some("Ed25519".to_owned()),
            x: Some(key.x()),
            kid: Some(key.kid().to_owned()),
            alg: Some("EdDSA".to_owned()),
            use_: Some("sig".to_owned()),
        }
    }

    /// Whether this is an Ed25519 key for EdDSA signatures; absent `alg` and `use` are
    /// allowed, since RFC 7517 makes both optional.
    fn is_ed25519_signature_key(&self) -> bool {
        self.kty == "OKP"
            && self.crv.as_deref() == Some("Ed25519")
            && self.alg.as_deref().is_none_or(|alg| alg == "EdDSA")
            && self.use_.as_deref().is_none_or(|use_| use_ == "sig")
    }
}

impl Jwks {
    /// The set publishing the given keys, in order.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Jwk::ed25519).collect(),
        }
    }

    /// Parses a JWKS document.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        Ok(serde_json::from_str(json)?)
    }

    /// The document as JSON.
    pub fn to_json(&self) -> Result<String, JwksError> {
        Ok(serde_json::to_string(self)?)
    }

    /// The Ed25519 signature keys in the set, by the `kid` they were published under.
    pub(crate) fn verification_keys(&self) -> Result<HashMap<String, PublicKey>, JwksError> {
        let mut keys = HashMap::new();
        for jwk in self
            .keys
            .iter()
            .filter(|jwk| jwk.is_ed25519_signature_key())
        {
            let (Some(kid), Some(x)) = (&jwk.kid, &jwk.x) else {
                tracing::debug!("skipping a JWKS key without kid or x");
                continue;
            };
            let key = decode_x(x).map_err(|reason| JwksError::InvalidKey {
                kid: kid.clone(),
                reason: reason.to_string(),
            })?;
            if keys.insert(kid.clone(), key).is_some() {
                return Err(JwksError::DuplicateKid(kid.clone()));
            }
        }

        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(keys)
    }
}

fn decode_x(x: &str) -> Result<PublicKey, KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(x)
        .map_err(|_| KeyError::PublicKey("x is not base64url without padding"))?;
    PublicKey::from_bytes(&bytes)
}
