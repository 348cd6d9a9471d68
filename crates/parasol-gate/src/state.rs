//! The gateway's shared state, built once from the configuration.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parasol_identity::{Clock, SystemClock};
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::authz::Rules;
use crate::config::{GateConfig, SessionStoreKind};
use crate::cookies::CookieNames;
use crate::limit::LoginLimiter;
use crate::metrics::Metrics;
use crate::oidc::{OidcError, OidcProvider};
use crate::proxy::Proxy;
use crate::redirect::RedirectPolicy;
use crate::seal::Sealer;
use crate::secret::{self, SecretError};
use crate::session::Lifetimes;
use crate::session_store::{SessionStore, StoreError};
use crate::tokens::{TokenError, Tokens};
use crate::users::LocalUsers;

/// How long a sign-in at a provider may take, from `/oauth2/start` to the callback.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);

/// Why the gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
    /// The cookie key could not be had.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The signing keys could not be had.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// A provider is misconfigured.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// Redis could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The users file could not be read.
    #[error(transparent)]
    Users(#[from] crate::users::UsersError),
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Gate {
    /// The site's public origin, such as `https://chat.example.com`.
    pub site: Url,
    /// Cookie names and attributes.
    pub cookies: CookieNames,
    /// Seals cookie values.
    pub sealer: Sealer,
    /// Where sessions are kept.
    pub sessions: SessionStore,
    /// How long sessions live.
    pub lifetimes: Lifetimes,
    /// Identity tokens and the JWKS.
    pub tokens: Tokens,
    /// Who may in.
    pub rules: Rules,
    /// Where `rd` may point.
    pub redirects: RedirectPolicy,
    /// The OpenID providers, in configuration order.
    pub providers: Vec<Arc<OidcProvider>>,
    /// The local users, when local sign-in is on.
    pub local_users: Option<LocalUsers>,
    /// Failed local sign-ins.
    pub limiter: LoginLimiter,
    /// Sign-in `state` values already used.
    pub used_states: UsedStates,
    /// Counters.
    pub metrics: Metrics,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The reverse proxy, in proxy mode.
    pub proxy: Option<Proxy>,
    /// Proxies trusted to report the client's address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Gate {
    /// Builds the gateway from its configuration.
    ///
    /// `redis_url` is `[redis] url`, needed when sessions are kept in Redis and used for
    /// one-time `state` values when given.
    pub async fn build(
        config: &GateConfig,
        data_dir: &Path,
        redis_url: Option<&str>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Self, BuildError> {
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let site = public_url(config)?;
        let secure = site.scheme() == "https";
        let secret = secret::load_or_create(
            config.cookie_secret.as_ref(),
            &config.cookie_secret_path(data_dir),
        )?;

        let redis = match redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        let sessions = match (config.session.store, &redis) {
            (SessionStoreKind::Cookie, _) => SessionStore::Cookie,
            (SessionStoreKind::Redis, Some(redis)) => SessionStore::Redis(redis.clone()),
            (SessionStoreKind::Redis, None) => {
                return Err(BuildError::Config(
                    "gate.session.store is \"redis\" but no [redis] url is set".into(),
                ));
            }
        };

        let issuer = config
            .token
            .issuer
            .clone()
            .unwrap_or_else(|| site.as_str().trim_end_matches('/').to_owned());
        let tokens = Tokens::open(
            &config.keys_dir_path(data_dir),
            issuer,
            config.token.audience.clone(),
            Duration::from_secs(config.token.lifetime),
            Duration::from_secs(config.token.rotation_grace),
            clock.clone(),
        )?;

        let callback = site
            .join("/oauth2/callback")
            .map_err(|e| BuildError::Config(format!("gate.public_url cannot take a path: {e}")))?;
        let providers = providers(config, callback.as_str())?;
        let local_users = if config.local_users.enabled {
            Some(LocalUsers::open(config.users_file_path(data_dir))?)
        } else {
            None
        };

        Ok(Self {
            cookies: CookieNames::new(&config.cookie_name, secure),
            sealer: Sealer::new(&secret),
            sessions,
            lifetimes: Lifetimes::from(&config.session),
            tokens,
            rules: Rules::from(&config.allow),
            redirects: RedirectPolicy::new(site.clone(), &config.redirect_hosts),
            providers,
            local_users,
            limiter: LoginLimiter::new(&config.login_limit),
            used_states: UsedStates::new(redis),
            metrics: Metrics::default(),
            proxy: config
                .upstream
                .as_deref()
                .map(|upstream| Proxy::new(upstream, &config.proxy))
                .transpose()
                .map_err(BuildError::Config)?,
            trusted_proxies: config.trusted_proxies.clone(),
            clock,
            site,
        })
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&Arc<OidcProvider>> {
        self.providers.iter().find(|p| p.id() == id)
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        crate::session::unix(self.clock.now())
    }
}

fn public_url(config: &GateConfig) -> Result<Url, BuildError> {
    let text = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let url = Url::parse(&text)
        .map_err(|e| BuildError::Config(format!("gate.public_url {text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(BuildError::Config(format!(
            "gate.public_url {text:?} must be an http or https URL with a host"
        )));
    }
    Ok(url)
}

fn providers(config: &GateConfig, callback: &str) -> Result<Vec<Arc<OidcProvider>>, BuildError> {
    let mut seen = Vec::new();
    let mut providers = Vec::new();
    for provider in &config.oidc {
        let id = &provider.id;
        let valid = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid || id == "local" {
            return Err(BuildError::Config(format!(
                "gate.oidc id {id:?} must be 1 to 32 of a-z, 0-9, - and _, and not \"local\""
            )));
        }
        if seen.contains(id) {
            return Err(BuildError::Config(format!(
                "gate.oidc id {id:?} is used twice"
            )));
        }
        seen.push(id.clone());
        let secret = client_secret(provider)?;
        providers.push(Arc::new(OidcProvider::new(
            provider.clone(),
            secret,
            callback,
        )?));
    }
    Ok(providers)
}

fn client_secret(
    provider: &crate::config::OidcProviderConfig,
) -> Result<Option<SecretString>, BuildError> {
    if let Some(secret) = &provider.client_secret {
        return Ok(Some(secret.clone()));
    }
    let Some(path) = &provider.client_secret_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::Config(format!(
            "gate.oidc {}: cannot read client_secret_file {}: {e}",
            provider.id,
            path.display()
        ))
    })?;
    let secret = SecretString::from(text.trim().to_owned());
    if secret.expose_secret().is_empty() {
        return Err(BuildError::Config(format!(
            "gate.oidc {}: client_secret_file {} is empty",
            provider.id,
            path.display()
        )));
    }
    Ok(Some(secret))
}

async fn connect_redis(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url)?;
    Ok(ConnectionManager::new(client).await?)
}

/// The `state` values of finished sign-ins, so that a callback cannot be replayed while
/// its flow cookie is still around. In Redis when it is configured, so that every gateway
/// replica knows them; otherwise in memory.
pub struct UsedStates {
    redis: Option<ConnectionManager>,
    local: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for UsedStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsedStates")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl UsedStates {
    fn new(redis: Option<ConnectionManager>) -> Self {
        Self {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Marks `state` used; false when it already was (or when Redis cannot tell).
    pub async fn first_use(&self, state: &str) -> bool {
        use sha2::Digest;
        let key = format!(
            "parasol:state:{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                sha2::Sha256::digest(state.as_bytes())
            )
        );
        if let Some(redis) = &self.redis {
            let mut redis = redis.clone();
            let set: Result<Option<String>, _> = redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(FLOW_LIFETIME.as_secs())
                .query_async(&mut redis)
                .await;
            return matches!(set, Ok(Some(_)));
        }
        let Ok(mut local) = self.local.lock() else {
            return false;
        };
        local.retain(|_, at| at.elapsed() < FLOW_LIFETIME);
        local.insert(key, Instant::now()).is_none()
    }
}
