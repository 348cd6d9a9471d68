//! The gateway's keys fetched from its JWKS URL, cached, and fetched again when a token
//! names a key the cache does not hold.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use parasol_identity::{Claims, Verifier, VerifyError};

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A JWKS larger than this is not a key set: a handful of keys fit in a few kilobytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Keys older than this are fetched again on the next request, so that a key the gateway
/// has withdrawn stops being trusted within this time.
const MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Why the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksFetchError {
    /// The request failed or timed out.
    #[error("could not fetch the JWKS: {0}")]
    Request(#[from] reqwest::Error),
    /// The gateway answered with something other than 200.
    #[error("the JWKS URL answered {0}")]
    Status(reqwest::StatusCode),
    /// The answer was too large to be a key set.
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The answer was not a usable key set.
    #[error("the JWKS is not valid: {0}")]
    Invalid(#[from] parasol_identity::JwksError),
}

/// The expected issuer, audience and leeway, applied to every key set fetched.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
}

/// A verifier over keys fetched from a JWKS URL.
#[derive(Debug)]
pub(crate) struct JwksVerifier {
    url: String,
    expect: Expectations,
    refetch_interval: Duration,
    client: reqwest::Client,
    cache: Mutex<Cache>,
    /// One fetch at a time: requests arriving meanwhile wait for it and use its keys.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    verifier: Option<Arc<Verifier>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl JwksVerifier {
    pub(crate) fn new(
        url: String,
        expect: Expectations,
        refetch_interval: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            expect,
            refetch_interval,
            client,
            cache: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Checks `token` against the cached keys, fetching them first if there are none or
    /// they are old, and once more if the token names a key they do not hold, at most
    /// once per refetch interval.
    pub(crate) async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let verifier = match self.fresh_verifier() {
            Some(verifier) => verifier,
            None => self.refresh().await.ok_or(missing_keys())?,
        };
        match verifier.verify(token) {
            Err(VerifyError::UnknownKid(kid)) => {
                let Some(newer) = self.refresh().await else {
                    return Err(VerifyError::UnknownKid(kid));
                };
                newer.verify(token)
            }
            other => other,
        }
    }

    /// Fetches the keys now, for start-up; failures are logged, and requests will try
    /// again.
    pub(crate) async fn prefetch(&self) {
        self.refresh().await;
    }

    fn fresh_verifier(&self) -> Option<Arc<Verifier>> {
        let cache = self.lock();
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < MAX_AGE);
        cache.verifier.clone().filter(|_| fresh)
    }

    /// Fetches the JWKS unless the last attempt was within the refetch interval, and
    /// returns the newest keys there are (the old ones if the fetch fails).
    async fn refresh(&self) -> Option<Arc<Verifier>> {
        let attempted_before = self.lock().attempted_at;
        let _fetching = self.fetching.lock().await;
        {
            let mut cache = self.lock();
            // Someone else fetched while this request waited for the lock.
            if cache.attempted_at != attempted_before {
                return cache.verifier.clone();
            }
            let recent = cache
                .attempted_at
                .is_some_and(|at| at.elapsed() < self.refetch_interval);
            if recent {
                return cache.verifier.clone();
            }
            cache.attempted_at = Some(Instant::now());
        }

        match self.fetch().await {
            Ok(verifier) => {
                let verifier = Arc::new(verifier);
                let mut cache = self.lock();
                cache.verifier = Some(Arc::clone(&verifier));
                cache.fetched_at = Some(Instant::now());
                tracing::info!(url = %self.url, "fetched the gateway's keys");
                Some(verifier)
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "could not refresh the gateway's keys");
                self.lock().verifier.clone()
            }
        }
    }

    async fn fetch(&self) -> Result<Verifier, JwksFetchError> {
        let mut response = self.client.get(&self.url).send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksFetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(JwksFetchError::TooLarge);
            }
        }
        let json = String::from_utf8_lossy(&body);
        let verifier = Verifier::from_jwks_json(
            &json,
            self.expect.issuer.clone(),
            self.expect.audience.clone(),
        )?;
        Ok(verifier.with_leeway(self.expect.leeway))
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache is replaced whole, so a poisoned lock still holds a usable value.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The refusal when no keys could be had at all: the token cannot be checked, so it is
/// treated as naming an unknown key.
fn missing_keys() -> VerifyError {
    VerifyError::UnknownKid("(no keys available)".to_owned())
}
