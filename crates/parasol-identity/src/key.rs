//! Ed25519 key pairs and public keys, and the key ids (`kid`) that name them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SECRET_KEY_LENGTH, SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What went wrong turning bytes or text into a key, or a key into text.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The text is not a PKCS#8 PEM Ed25519 private key.
    #[error("not a PKCS#8 PEM Ed25519 private key: {0}")]
    PrivateKey(ed25519_dalek::pkcs8::Error),
    /// The text is not an SPKI PEM Ed25519 public key.
    #[error("not an SPKI PEM Ed25519 public key: {0}")]
    PublicKeyPem(ed25519_dalek::pkcs8::spki::Error),
    /// The bytes are not an Ed25519 public key.
    #[error("not an Ed25519 public key: {0}")]
    PublicKey(&'static str),
}

/// An Ed25519 signing key and its key id. Its `Debug` shows the key id only.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    public: PublicKey,
}

impl KeyPair {
    /// A new key pair from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        // SigningKey wipes its own copy on drop; the seed it is made from must be wiped too.
        let mut secret = Zeroizing::new([0u8; SECRET_KEY_LENGTH]);
        getrandom::fill(secret.as_mut()).map_err(KeyError::Random)?;
        Ok(Self::from_signing_key(SigningKey::from_bytes(&secret)))
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(pem).map_err(KeyError::PrivateKey)?;
        Ok(Self::from_signing_key(signing))
    }

    /// The private key as PKCS#8 PEM, held so that it is zeroized when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<SecretString, KeyError> {
        let pem = self
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::PrivateKey)?;
        Ok(SecretString::from(pem.as_str()))
    }

    /// The key id that tokens signed with this key carry in their header.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The public half, for verification and the JWKS.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn encoding_key(&self) -> Result<EncodingKey, KeyError> {
        let der = self.signing.to_pkcs8_der().map_err(KeyError::PrivateKey)?;
        Ok(EncodingKey::from_ed_der(der.as_bytes()))
    }

    fn from_signing_key(signing: SigningKey) -> Self {
        let public = PublicKey::from_verifying_key(signing.verifying_key());
        Self { signing, public }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key and its key id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    verifying: VerifyingKey,
    kid: String,
}

impl PublicKey {
    /// A public key from its 32 raw bytes (the JWK `x` value, decoded).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::PublicKey("an Ed25519 public key is 32 bytes"))?;
        let verifying = VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::PublicKey("not a point on the curve"))?;
        Ok(Self::from_verifying_key(verifying))
    }

    /// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, KeyError> {
        let verifying = VerifyingKey::from_public_key_pem(pem).map_err(KeyError::PublicKeyPem)?;
        Ok(Self::from_verifying_key(verifying))
    }

    /// The key as SPKI PEM.
    pub fn to_public_key_pem(&self) -> Result<String, KeyError> {
        self.verifying
            .to_public_key_pem(LineEnding::LF)
            .map_err(KeyError::PublicKeyPem)
    }

    /// The key id: the RFC 7638 JWK thumbprint of the key (SHA-256, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw key bytes, base64url without padding: the JWK `x` member (RFC 8037 section 2).
    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.verifying.as_bytes())
    }

    /// The 32 raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.verifying.as_bytes()
    }

    pub(crate) fn decoding_key(&self) -> DecodingKey {
        // jsonwebtoken takes an Ed25519 public key as its raw 32 bytes despite the name.
        DecodingKey::from_ed_der(self.verifying.as_bytes())
    }

    fn from_verifying_key(verifying: VerifyingKey) -> Self {
        let kid = thumbprint(&URL_SAFE_NO_PAD.encode(verifying.as_bytes()));
        Self { verifying, kid }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("x", &self.x())
            .finish()
    }
}

/// The RFC 7638 thumbprint of an OKP key: the hash of its required members in lexical order
/// with no whitespace (section 3.2, with the OKP members from RFC 8037 section 2). Anyone
/// holding the JWKS can recompute it, and it is safe in a file name.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}
