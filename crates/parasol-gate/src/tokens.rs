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
    clock: Arc<dyn Clock>,
    keys: RwLock<Arc<Keys>>,
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
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TokenError> {
        let keys = load_keys(dir, &issuer, &audience, lifetime, &clock)?;
        Ok(Self {
            dir: dir.to_owned(),
            issuer,
            audience,
            lifetime,
            clock,
            keys: RwLock::new(Arc::new(keys)),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the key directory again, after `parasol keys rotate` or a restore: new
    /// tokens are signed with the current key and the JWKS lists every key on disk.
    pub fn reload(&self) -> Result<(), TokenError> {
        let keys = load_keys(
            &self.dir,
            &self.issuer,
            &self.audience,
            self.lifetime,
            &self.clock,
        )?;
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
        let fresh_until = |exp: u64| exp.saturating_sub(self.lifetime.as_secs() / 2);
        if let Ok(cache) = self.cache.lock()
            && let Some((token, exp)) = cache.get(session_id)
            && now < fresh_until(*exp)
        {
            return Ok((token.clone(), false));
        }

        let keys = self.current();
        let claims = keys.signer.claims_for(user)?;
        let token = keys.signer.sign_claims(&claims)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(session_id.to_owned(), (token.clone(), claims.exp));
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
    })
}
