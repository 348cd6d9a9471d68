//! Sign-in through an OpenID Connect provider: discovery, the authorization code flow with
//! PKCE, ID token checks, userinfo, refresh and RP-initiated logout.
//!
//! The `openidconnect` crate does the protocol work and the ID token checks (signature
//! against the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`, the `alg` allowlist);
//! this module adds what it leaves to its callers: refetching the JWKS when a token names a
//! key it has not seen (the provider rotated), an `iat` bound, the `sub` match between the
//! ID token and userinfo (OpenID Connect Core 5.3.2), and the mapping to an [`Identity`].

use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, SignatureVerificationError,
    TokenResponse,
};
use parasol_identity::Identity;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::OidcProviderConfig;

/// How long discovery and token requests to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two JWKS refetches, so that tokens naming unknown keys cannot
/// make the gateway hammer the provider.
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How far in the future an ID token's `iat` may lie, for clock skew.
const IAT_SKEW: Duration = Duration::from_secs(60);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What went wrong with a provider. The messages carry no tokens.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider's configuration is unusable.
    #[error("provider {provider}: {message}")]
    Config {
        /// The provider's id.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// Discovery failed.
    #[error("provider {provider}: discovery at {issuer} failed: {message}")]
    Discovery {
        /// The provider's id.
        provider: String,
        /// Its issuer URL.
        issuer: String,
        /// Why.
        message: String,
    },
    /// The provider refused the code or the refresh token, or could not be reached.
    #[error("provider {provider}: the token request failed: {message}")]
    Token {
        /// The provider's id.
        provider: String,
        /// Why.
        message: String,
    },
    /// The ID token failed a check.
    #[error("provider {provider}: the ID token was refused: {message}")]
    IdToken {
        /// The provider's id.
        provider: String,
        /// Which check failed.
        message: String,
    },
    /// The userinfo answer was refused.
    #[error("provider {provider}: userinfo failed: {message}")]
    Userinfo {
        /// The provider's id.
        provider: String,
        /// Why.
        message: String,
    },
}

/// The secrets of one sign-in in flight, kept in a sealed cookie until the callback.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct FlowSecrets {
    /// The `state` sent to the provider.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
}

impl std::fmt::Debug for FlowSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowSecrets(..)")
    }
}

/// Someone the provider vouched for.
#[derive(Clone)]
pub struct SignedIn {
    /// Who they are.
    pub user: Identity,
    /// The refresh token, when the provider issued one.
    pub refresh_token: Option<String>,
    /// The ID token, for `id_token_hint` at sign-out.
    pub id_token: Option<String>,
    /// Seconds from now until the access token expires: when to refresh.
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// One configured provider.
pub struct OidcProvider {
    config: OidcProviderConfig,
    issuer: IssuerUrl,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<ProviderMetadataWithLogout>>>,
    /// When the JWKS was last refetched for an unknown `kid`. Discovery does not count:
    /// a provider may rotate just after the gateway read its keys.
    last_fetch: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.config.id)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// A provider from its configuration; `redirect` is the gateway's callback URL and
    /// `secret` the client secret read from the config or its file.
    pub fn new(
        config: OidcProviderConfig,
        secret: Option<SecretString>,
        redirect: &str,
    ) -> Result<Self, OidcError> {
        let config_error = |message: String| OidcError::Config {
            provider: config.id.clone(),
            message,
        };
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|error| config_error(format!("issuer is not a URL: {error}")))?;
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|error| config_error(format!("callback is not a URL: {error}")))?;
        let algorithms = config
            .algorithms
            .iter()
            .map(|name| parse_algorithm(name).map_err(config_error))
            .collect::<Result<Vec<_>, _>>()?;
        // A provider must never redirect a back-channel request: the token and userinfo
        // requests carry secrets.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|error| config_error(format!("HTTP client: {error}")))?;
        Ok(Self {
            client_secret: secret.map(|s| ClientSecret::new(s.expose_secret().to_owned())),
            config,
            issuer,
            redirect,
            algorithms,
            http,
            metadata: RwLock::new(None),
            last_fetch: Mutex::new(None),
        })
    }

    /// The provider's configuration.
    pub fn config(&self) -> &OidcProviderConfig {
        &self.config
    }

    /// The provider's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The name on its sign-in button.
    pub fn display_name(&self) -> &str {
        self.config
            .display_name
            .as_deref()
            .unwrap_or(&self.config.id)
    }

    /// Whether discovery has succeeded.
    pub fn is_ready(&self) -> bool {
        self.metadata.read().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Runs discovery (again), replacing the metadata and keys.
    pub async fn discover(&self) -> Result<(), OidcError> {
        let metadata = ProviderMetadataWithLogout::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|error| OidcError::Discovery {
                provider: self.config.id.clone(),
                issuer: self.config.issuer.clone(),
                message: error_chain(&error),
            })?;
        if let Ok(mut slot) = self.metadata.write() {
            *slot = Some(Arc::new(metadata));
        }
        Ok(())
    }

    async fn metadata(&self) -> Result<Arc<ProviderMetadataWithLogout>, OidcError> {
        let cached = self.metadata.read().ok().and_then(|slot| slot.clone());
        match cached {
            Some(metadata) => Ok(metadata),
            None => {
                self.discover().await?;
                self.metadata
                    .read()
                    .ok()
                    .and_then(|slot| slot.clone())
                    .ok_or_else(|| OidcError::Discovery {
                        provider: self.config.id.clone(),
                        issuer: self.config.issuer.clone(),
                        message: "no metadata after discovery".into(),
                    })
            }
        }
    }

    fn client(&self, metadata: &ProviderMetadataWithLogout) -> Client {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// The provider's authorization URL for a new sign-in, and the secrets the callback
    /// will need.
    pub async fn authorize(&self) -> Result<(url::Url, FlowSecrets), OidcError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let secrets = FlowSecrets {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        Ok((url, secrets))
    }

    /// Trades the callback's `code` for tokens and checks them.
    pub async fn finish(&self, code: &str, flow: &FlowSecrets) -> Result<SignedIn, OidcError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| self.token_error(&error))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| self.token_error(&error))?;
        self.signed_in(&response, Some(&flow.nonce), None).await
    }

    /// Uses a refresh token: the provider's fresh word on who the person is, or an error
    /// when it no longer vouches for them.
    pub async fn refresh(&self, refresh_token: &str, subject: &str) -> Result<SignedIn, OidcError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let token = RefreshToken::new(refresh_token.to_owned());
        let response = client
            .exchange_refresh_token(&token)
            .map_err(|error| self.token_error(&error))?
            .request_async(&self.http)
            .await
            .map_err(|error| self.token_error(&error))?;
        let mut signed_in = self.signed_in(&response, None, Some(subject)).await?;
        // Providers may keep the refresh token the same and leave it out of the answer.
        if signed_in.refresh_token.is_none() {
            signed_in.refresh_token = Some(refresh_token.to_owned());
        }
        Ok(signed_in)
    }

    /// The provider's end-session URL, when it offers one (OpenID Connect RP-Initiated
    /// Logout 1.0), sending the browser back to `after` once the provider is done.
    pub async fn logout_url(&self, id_token: Option<&str>, after: &str) -> Option<url::Url> {
        let metadata = self.metadata().await.ok()?;
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.config.client_id.clone()));
        if let Some(token) = id_token.and_then(|t| CoreIdToken::from_str(t).ok()) {
            request = request.set_id_token_hint(&token);
        }
        if let Ok(after) = PostLogoutRedirectUrl::new(after.to_owned()) {
            request = request.set_post_logout_redirect_uri(after);
        }
        Some(request.http_get_url())
    }

    async fn signed_in(
        &self,
        response: &CoreTokenResponse,
        nonce: Option<&str>,
        subject: Option<&str>,
    ) -> Result<SignedIn, OidcError> {
        let id_token = response.id_token();
        let mut claims = match (id_token, nonce) {
            (Some(token), _) => self.verified_claims(token, nonce).await?,
            // A refresh answer may leave the ID token out (OpenID Connect Core 12.2).
            (None, None) => serde_json::Map::new(),
            (None, Some(_)) => return Err(self.id_token_error("the provider sent none")),
        };
        if let (Some(expected), Some(Value::String(got))) = (subject, claims.get("sub"))
            && got != expected
        {
            return Err(self.id_token_error("the refreshed token names another subject"));
        }
        let expected_sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| subject.map(str::to_owned));
        let Some(sub) = expected_sub else {
            return Err(self.id_token_error("no subject"));
        };
        if let Some(info) = self.userinfo(response.access_token(), &sub).await? {
            for (key, value) in info {
                claims.entry(key).or_insert(value);
            }
        }
        Ok(SignedIn {
            user: self.identity(&sub, &claims),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            id_token: id_token.map(ToString::to_string),
            expires_in: response.expires_in(),
        })
    }

    /// The ID token's claims, after every check; the JWKS is refetched once when the
    /// token names a key the gateway has not seen.
    async fn verified_claims(
        &self,
        token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        match self.verify(token, nonce).await {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.may_refetch() => {
                tracing::info!(provider = %self.config.id, "ID token names an unknown key; refetching the JWKS");
                self.refetch_keys().await?;
                self.verify(token, nonce).await
            }
            other => other,
        }
        .map_err(|error| self.id_token_error(&error_chain(&error)))?;

        // The signature over this exact text has just been checked, so its payload can be
        // read for the claims `openidconnect` does not model (groups).
        let text = token.to_string();
        let payload = text
            .split('.')
            .nth(1)
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        match payload {
            Some(Value::Object(map)) => Ok(map),
            _ => Err(self.id_token_error("the payload is not a JSON object")),
        }
    }

    async fn verify(
        &self,
        token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<(), ClaimsVerificationError> {
        let metadata = self
            .metadata()
            .await
            .map_err(|error| ClaimsVerificationError::Other(error.to_string()))?;
        let client = self.client(&metadata);
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(self.algorithms.clone())
            .set_issue_time_verifier_fn(|iat| {
                let limit = chrono_now() + IAT_SKEW;
                if iat.timestamp() as u64 > limit.as_secs() {
                    Err("issued in the future".into())
                } else {
                    Ok(())
                }
            });
        match nonce {
            Some(nonce) => token
                .claims(&verifier, &Nonce::new(nonce.to_owned()))
                .map(drop),
            // Refreshed ID tokens need not repeat the nonce.
            None => token
                .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                .map(drop),
        }
    }

    fn may_refetch(&self) -> bool {
        let Ok(mut last) = self.last_fetch.lock() else {
            return false;
        };
        let allowed = last.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL);
        if allowed {
            *last = Some(Instant::now());
        }
        allowed
    }

    async fn refetch_keys(&self) -> Result<(), OidcError> {
        let metadata = self.metadata().await?;
        let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|error| OidcError::Discovery {
                provider: self.config.id.clone(),
                issuer: self.config.issuer.clone(),
                message: format!("JWKS: {}", error_chain(&error)),
            })?;
        let updated = (*metadata).clone().set_jwks(keys);
        if let Ok(mut slot) = self.metadata.write() {
            *slot = Some(Arc::new(updated));
        }
        Ok(())
    }

    /// Userinfo's claims, when the provider has the endpoint. Its `sub` must be the ID
    /// token's, or the answer may be about someone else (OpenID Connect Core 5.3.2).
    async fn userinfo(
        &self,
        access_token: &AccessToken,
        sub: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, OidcError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.userinfo_endpoint() else {
            return Ok(None);
        };
        let error = |message: String| OidcError::Userinfo {
            provider: self.config.id.clone(),
            message,
        };
        let response = self
            .http
            .get(endpoint.url().clone())
            .bearer_auth(access_token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| error(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(error(format!("status {}", response.status())));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            // A signed or encrypted userinfo answer (application/jwt) is not supported;
            // the ID token's claims stand alone.
            tracing::debug!(provider = %self.config.id, "userinfo is not plain JSON; skipped");
            return Ok(None);
        }
        let info: serde_json::Map<String, Value> =
            response.json().await.map_err(|e| error(error_chain(&e)))?;
        if info.get("sub").and_then(Value::as_str) != Some(sub) {
            return Err(error("it names another subject".into()));
        }
        Ok(Some(info))
    }

    fn identity(&self, sub: &str, claims: &serde_json::Map<String, Value>) -> Identity {
        let text = |key: &str| {
            claims
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        // An unverified address could be anyone's: it must not pass an email allowlist.
        let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true)
            || (self.config.accept_unverified_email && claims.get("email_verified").is_none());
        let email = text("email").filter(|_| verified);
        let name = text("name")
            .or_else(|| text("preferred_username"))
            .or_else(|| email.clone())
            .unwrap_or_else(|| sub.to_owned());
        let groups = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Identity {
            subject: format!("{}:{sub}", self.config.id),
            name,
            email,
            groups,
        }
    }

    fn token_error(&self, error: &dyn std::error::Error) -> OidcError {
        OidcError::Token {
            provider: self.config.id.clone(),
            message: error_chain(error),
        }
    }

    fn id_token_error(&self, message: &str) -> OidcError {
        OidcError::IdToken {
            provider: self.config.id.clone(),
            message: message.to_owned(),
        }
    }
}

/// A signing algorithm by its JOSE name (`RS256`).
fn parse_algorithm(name: &str) -> Result<CoreJwsSigningAlgorithm, String> {
    if name.eq_ignore_ascii_case("none") || name.starts_with("HS") {
        // `none` is no signature, and HMAC would be keyed with the client secret, which
        // every holder of the client configuration knows.
        return Err(format!("algorithm {name} is not allowed for ID tokens"));
    }
    serde_json::from_value(Value::String(name.to_owned()))
        .map_err(|_| format!("unknown ID token algorithm {name}"))
}

/// Seconds since the epoch, as the verifier's callback compares them.
fn chrono_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// An error and its causes on one line; token and discovery errors nest several deep.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
