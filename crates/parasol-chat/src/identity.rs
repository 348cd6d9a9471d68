//! Who a request comes from: the `X-User-JWT` header, checked against the gateway's keys,
//! and the user it names, recorded in the store.
//!
//! The token is the only thing that identifies a user (DESIGN, "Identity on the wire").
//! Every route but `/ping` and `/ready` sits behind [`require_user`], so a request without
//! a valid token gets a 401 whatever it asks for, the page included.

mod jwks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use parasol_identity::{Identity, LegacyVerifier, Verifier, VerifyError};
use secrecy::SecretString;
use tokio::sync::watch;

use crate::config::IdentityConfig;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Store, StoreError, UserId};

pub use jwks::JwksFetchError;
use jwks::{Expectations, JwksVerifier};

/// The header the gateway puts the identity token in.
pub const IDENTITY_HEADER: &str = "x-user-jwt";

/// How long a user's row is trusted before a request records the visit again.
const USER_REFRESH: Duration = Duration::from_secs(60);

/// Past this many cached users, entries older than [`USER_REFRESH`] are dropped.
const USER_CACHE_PRUNE_ABOVE: usize = 10_000;

/// Where the keys that identity tokens are checked with come from.
#[derive(Debug)]
pub enum VerifierSource {
    /// From `[chat.identity]`: the JWKS at `jwks_url`, or the key in `key_file`.
    Configured,
    /// A verifier the caller built, such as `parasol serve` from the gateway's keys in
    /// the same process.
    Ready(Verifier),
    /// A verifier the caller replaces when the keys change (a key rotation).
    Watched(watch::Receiver<Verifier>),
}

/// Why the identity settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityConfigError {
    /// Neither a JWKS URL nor a key file is set.
    #[error("chat.identity needs jwks_url or key_file to check identity tokens")]
    NoKeys,
    /// Both are set, and it is unclear which to trust.
    #[error("chat.identity takes jwks_url or key_file, not both")]
    BothKeySources,
    /// No expected issuer is set.
    #[error("chat.identity.issuer is required with jwks_url or key_file")]
    NoIssuer,
    /// The key file could not be read.
    #[error("cannot read the identity key file {path}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: parasol_identity::StoreError,
    },
    /// Both a legacy secret and a legacy secret file are set.
    #[error("chat.identity takes legacy_hs256_secret or legacy_hs256_secret_file, not both")]
    BothLegacySecrets,
    /// The legacy secret file could not be read.
    #[error("cannot read the legacy secret file {path}")]
    LegacySecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The legacy secret is unusable.
    #[error("the legacy HS256 secret cannot be used")]
    LegacySecret(#[from] parasol_identity::LegacyConfigError),
    /// The HTTP client for the JWKS could not be built.
    #[error("cannot set up the HTTP client for the JWKS")]
    Client(#[from] reqwest::Error),
}

/// The verifier behind the EdDSA tokens.
#[derive(Debug)]
enum Keys {
    Fixed(Verifier),
    Watched(watch::Receiver<Verifier>),
    Jwks(JwksVerifier),
}

/// Checks identity tokens and maps them to stored users.
#[derive(Debug)]
pub struct Authenticator {
    keys: Keys,
    legacy: Option<LegacyVerifier>,
    store: Store,
    users: Mutex<HashMap<String, CachedUser>>,
}

#[derive(Debug, Clone)]
struct CachedUser {
    id: UserId,
    name: String,
    email: Option<String>,
    seen: Instant,
}

/// The user a request comes from, once its token has been checked.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user's row in the store.
    pub id: UserId,
    /// What the token says about them.
    pub identity: Identity,
}

impl Authenticator {
    /// An authenticator over `source`, expecting what `config` says, recording users in
    /// `store`.
    pub fn new(
        config: &IdentityConfig,
        source: VerifierSource,
        store: Store,
    ) -> Result<Self, IdentityConfigError> {
        let keys = match source {
            VerifierSource::Ready(verifier) => Keys::Fixed(verifier),
            VerifierSource::Watched(receiver) => Keys::Watched(receiver),
            VerifierSource::Configured => configured_keys(config)?,
        };
        Ok(Self {
            keys,
            legacy: legacy_verifier(config)?,
            store,
            users: Mutex::default(),
        })
    }

    /// Fetches the JWKS ahead of the first request, when keys come from one.
    pub async fn prefetch(&self) {
        if let Keys::Jwks(jwks) = &self.keys {
            jwks.prefetch().await;
        }
    }

    /// Checks `token` and returns who it names.
    pub async fn verify(&self, token: &str) -> Result<Identity, VerifyError> {
        // The legacy verifier refuses anything but HS256 before touching the signature,
        // so an EdDSA token falls through to the real keys.
        if let Some(legacy) = &self.legacy {
            match legacy.verify(token) {
                Err(VerifyError::DisallowedAlgorithm(_)) => {}
                other => return other,
            }
        }
        let claims = match &self.keys {
            Keys::Fixed(verifier) => verifier.verify(token),
            Keys::Watched(receiver) => receiver.borrow().verify(token),
            Keys::Jwks(jwks) => jwks.verify(token).await,
        }?;
        Ok(claims.into())
    }

    /// The stored user for `identity`, recorded now unless it was recorded lately with
    /// the same name and e-mail.
    pub async fn user(&self, identity: &Identity) -> Result<UserId, StoreError> {
        if let Some(id) = self.cached(identity) {
            return Ok(id);
        }
        let id = self
            .store
            .upsert_user(&identity.subject, &identity.name, identity.email.as_deref())
            .await?;

        let mut users = self.lock_users();
        if users.len() > USER_CACHE_PRUNE_ABOVE {
            users.retain(|_, user| user.seen.elapsed() < USER_REFRESH);
        }
        users.insert(
            identity.subject.clone(),
            CachedUser {
                id,
                name: identity.name.clone(),
                email: identity.email.clone(),
                seen: Instant::now(),
            },
        );
        Ok(id)
    }

    fn cached(&self, identity: &Identity) -> Option<UserId> {
        let users = self.lock_users();
        let user = users.get(&identity.subject)?;
        let current = user.seen.elapsed() < USER_REFRESH
            && user.name == identity.name
            && user.email == identity.email;
        current.then_some(user.id)
    }

    fn lock_users(&self) -> MutexGuard<'_, HashMap<String, CachedUser>> {
        // Entries are inserted whole, so a poisoned lock still holds a usable map.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn configured_keys(config: &IdentityConfig) -> Result<Keys, IdentityConfigError> {
    let issuer = || config.issuer.clone().ok_or(IdentityConfigError::NoIssuer);
    let leeway = Duration::from_secs(config.leeway);
    match (&config.jwks_url, &config.key_file) {
        (Some(_), Some(_)) => Err(IdentityConfigError::BothKeySources),
        (None, None) => Err(IdentityConfigError::NoKeys),
        (None, Some(path)) => {
            let verifier = Verifier::from_key_file(path, issuer()?, config.audience.clone())
                .map_err(|source| IdentityConfigError::KeyFile {
                    path: path.clone(),
                    source,
                })?;
            Ok(Keys::Fixed(verifier.with_leeway(leeway)))
        }
        (Some(url), None) => {
            let expect = Expectations {
                issuer: issuer()?,
                audience: config.audience.clone(),
                leeway,
            };
            let refetch = Duration::from_secs(config.jwks_refetch_interval);
            Ok(Keys::Jwks(JwksVerifier::new(url.clone(), expect, refetch)?))
        }
    }
}

fn legacy_verifier(config: &IdentityConfig) -> Result<Option<LegacyVerifier>, IdentityConfigError> {
    let secret = match (
        &config.legacy_hs256_secret,
        &config.legacy_hs256_secret_file,
    ) {
        (Some(_), Some(_)) => return Err(IdentityConfigError::BothLegacySecrets),
        (None, None) => return Ok(None),
        (Some(secret), None) => secret.clone(),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| {
                IdentityConfigError::LegacySecretFile {
                    path: path.clone(),
                    source,
                }
            })?;
            SecretString::from(text.trim().to_owned())
        }
    };
    tracing::warn!(
        "legacy HS256 identity tokens are accepted: anyone with the secret can sign in as anyone"
    );
    let verifier = LegacyVerifier::new(&secret)?.with_leeway(Duration::from_secs(config.leeway));
    Ok(Some(verifier))
}

/// The middleware in front of every route but the health checks: checks the token,
/// records the user and hands them to the handler as a [`CurrentUser`].
#[tracing::instrument(name = "authenticate", skip_all, fields(subject))]
pub(crate) async fn require_user(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = request
        .headers()
        .get(IDENTITY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty())
    else {
        tracing::debug!("request without an identity token");
        return ApiError::Unauthenticated("an identity token (X-User-JWT) is required")
            .into_response();
    };

    let identity = match state.auth.verify(token).await {
        Ok(identity) => identity,
        Err(error) => {
            tracing::info!(reason = %error, "identity token refused");
            return ApiError::Unauthenticated(refusal_message(&error)).into_response();
        }
    };
    tracing::Span::current().record("subject", identity.subject.as_str());

    let id = match state.auth.user(&identity).await {
        Ok(id) => id,
        Err(StoreError::Invalid(invalid)) => {
            tracing::info!(reason = %invalid, "identity token names an unusable subject");
            return ApiError::Unauthenticated("the identity token is not valid").into_response();
        }
        Err(error) => return ApiError::internal(error).into_response(),
    };
    request
        .extensions_mut()
        .insert(CurrentUser { id, identity });
    next.run(request).await
}

/// What the client is told: enough to know whether signing in again will help, without
/// details that would help a forger.
fn refusal_message(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Expired => "the identity token has expired",
        _ => "the identity token is not valid",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Only routes behind `require_user` take this extractor; one that did not would
        // be a wiring mistake, and it still refuses rather than serve anonymously.
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(ApiError::Unauthenticated(
                "an identity token (X-User-JWT) is required",
            ))
    }
}
