//! Identity tokens for the chat server: signed with the gateway's key, reused while fresh.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use parasol_identity::{Clock, Identity, KeyStore, Signer, StoreError};

use crate::session::unix;

/// Sessions whose token is remembered; past this the cache starts afresh, which costs
/// only a signature per session.
const CACHE_LIMIT: usize = 50_000;

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The key directory could not be opened.
    #[error(transparent)]
    Keys(#[from] StoreError),
    /// The JWKS could not be written.
    #[error("encoding the JWKS failed: {0}")]
    Jwks(#[from] parasol_identity::JwksError),
    /// Signing failed.
    #[error("signing an identity token failed: {0}")]
    Sign(#[from] parasol_identity::SignError),
}

struct Keys {
    signer: Signer,
    jwks: Arc<String>,
    /// The kids the JWKS lists.
    published: Vec<String>,
    /// The key that was current before a rotation, signing until the unix second given:
    /// the new key is published first and used only once chat servers have had time to
    /// fetch it.
    handover: Option<(Signer, u64)>,
}

impl Keys {
    fn publishes(&self, kid: &str) -> bool {
        self.published.iter().any(|published| published == kid)
    }

    fn signer_at(&self, now: u64) -> &Signer {
        match &self.handover {
            Some((previous, until)) if now < *until => previous,
            _ => &self.signer,
        }
    }
}

/// Signs identity tokens and publishes the keys that verify them.
///
/// A token is reused for the same session until half its lifetime has passed: nginx asks
/// about every request, and an Ed25519 signature per request would cost more than all
/// the rest of the answer. The chat server still never sees a token older than half a
/// lifetime plus the time it takes to use it.
pub struct Tokens {
    dir: PathBuf,
    issuer: String,
    audience: String,
    lifetime: Duration,
    rotation_grace: Duration,
    clock: Arc<dyn Clock>,
    keys: RwLock<Arc<Keys>>,
    /// Each session's token and the unix second until which it is reused.
    cache: Mutex<HashMap<String, (String, u64)>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("dir", &self.dir)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Opens the key directory (creating a key when there is none) and prepares a signer.
    pub fn open(
        dir: &Path,
        issuer: String,
        audience: String,
        lifetime: Duration,
        rotation_grace: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TokenError> {
        let keys = load_keys(dir, &issuer, &audience, lifetime, &clock)?;
        Ok(Self {
            dir: dir.to_owned(),
            issuer,
            audience,
            lifetime,
            rotation_grace,
            clock,
            keys: RwLock::new(Arc::new(keys)),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the key directory again, after `parasol keys rotate` or a restore: the JWKS
    /// lists every key on disk at once, and new tokens are signed with the current key.
    ///
    /// When the current key changed and the one it replaced is still published, the
    /// replaced key goes on signing for the rotation grace. A chat server fetches the
    /// JWKS again only when a token names a key it does not know, and at most once per
    /// refetch interval; without the grace, a rotation just after such a fetch would
    /// have its new tokens refused until the interval ran out.
    pub fn reload(&self) -> Result<(), TokenError> {
        let mut keys = load_keys(
            &self.dir,
            &self.issuer,
            &self.audience,
            self.lifetime,
            &self.clock,
        )?;
        let before = self.current();
        let now = unix(self.clock.now());
        // During a handover, the key signing is the one chat servers surely know.
        let signing = before.signer_at(now);
        if signing.kid() != keys.signer.kid() && keys.publishes(signing.kid()) {
            keys.handover = Some((signing.clone(), now + self.rotation_grace.as_secs()));
        }
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
        Ok(())
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Arc<String> {
        self.current().jwks.clone()
    }

    fn current(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A token for `user` in the session `session_id`, reused while it is fresh.
    pub fn token_for(
        &self,
        session_id: &str,
        user: &Identity,
    ) -> Result<(String, bool), TokenError> {
        let now = unix(self.clock.now());
        if let Ok(cache) = self.cache.lock()
            && let Some((token, reuse_until)) = cache.get(session_id)
            && now < *reuse_until
        {
            return Ok((token.clone(), false));
        }

        let keys = self.current();
        let signer = keys.signer_at(now);
        let claims = signer.claims_for(user)?;
        let token = signer.sign_claims(&claims)?;
        let mut reuse_until = claims.exp.saturating_sub(self.lifetime.as_secs() / 2);
        // A token from the replaced key is not reused past the handover, or it would go
        // on reaching chat servers after the new key took over.
        if let Some((_, until)) = &keys.handover
            && now < *until
        {
            reuse_until = reuse_until.min(*until);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(session_id.to_owned(), (token.clone(), reuse_until));
        }
        Ok((token, true))
    }

    /// Forgets the token of a session that ended.
    pub fn forget(&self, session_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(session_id);
        }
    }
}

fn load_keys(
    dir: &Path,
    issuer: &str,
    audience: &str,
    lifetime: Duration,
    clock: &Arc<dyn Clock>,
) -> Result<Keys, TokenError> {
    let store = KeyStore::open(dir)?;
    let signer = Signer::new(store.current(), issuer, audience)?
        .with_lifetime(lifetime)
        .with_clock(clock.clone());
    let jwks = store.jwks().to_json()?;
    Ok(Keys {
        signer,
        jwks: Arc::new(jwks),
        published: store
            .verification_keys()
            .map(|key| key.kid().to_owned())
            .collect(),
        handover: None,
    })
}
