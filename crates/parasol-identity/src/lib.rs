//! Parasol's identity tokens: the gateway signs them, the chat server verifies them.
//!
//! A token is a short-lived JWT signed with Ed25519 (`alg: EdDSA`) whose header names the
//! signing key by `kid`. The gateway keeps its keys in a [`KeyStore`], issues tokens with a
//! [`Signer`] and publishes the public keys as a [`Jwks`]; the chat server checks each
//! request's token with a [`Verifier`] built from that JWKS or from a key file. The
//! article's HS256 tokens can still be accepted through a [`LegacyVerifier`], which callers
//! leave off unless they are configured to use it.
//!
//! Every verification path ends in the same [`Identity`], so the rest of the chat server
//! does not care which kind of token a user arrived with.
//!
//! The key directory's layout is described on [`KeyStore`]:
//! `current.pem` (PKCS#8, mode 0600) and one `previous-<kid>.pem` per replaced key.
#![warn(missing_docs)]

mod claims;
mod clock;
mod compat;
mod jwks;
mod key;
mod sign;
mod store;
mod token;
mod verify;

pub use claims::{Claims, Identity};
pub use clock::{Clock, FixedClock, SystemClock};
pub use compat::{LegacyClaims, LegacyConfigError, LegacyVerifier};
pub use jwks::{Jwk, Jwks, JwksError};
pub use key::{KeyError, KeyPair, PublicKey};
pub use sign::{DEFAULT_LIFETIME, SignError, Signer};
pub use store::{KeyStore, StoreError};
pub use verify::{DEFAULT_LEEWAY, Verifier, VerifyError};
