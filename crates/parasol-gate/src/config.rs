//! The `[gate]` section: where the gateway listens, how sessions and tokens live, who may
//! sign in and how.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the gateway reads from its configuration. Durations are in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// The address the gateway listens on.
    pub listen: SocketAddr,
    /// The address people reach the site at (`https://chat.example.com`); by default the
    /// listen address over plain http. Cookies are `Secure` and carry the `__Host-` prefix
    /// whenever this is https.
    pub public_url: Option<String>,
    /// The key that encrypts session cookies, at least 32 bytes. Never serialised.
    #[serde(skip_serializing)]
    pub cookie_secret: Option<SecretString>,
    /// A file holding the cookie key; by default `<data_dir>/cookie-secret`, created with
    /// a random key (mode 0600) when it is missing.
    pub cookie_secret_file: Option<PathBuf>,
    /// The session cookie's name, before any `__Host-` prefix.
    pub cookie_name: String,
    /// Session lifetimes and where sessions are kept.
    pub session: SessionConfig,
    /// The identity tokens handed to the chat server.
    pub token: TokenConfig,
    /// Who may sign in; empty lists allow everyone the providers vouch for.
    pub allow: AllowConfig,
    /// Hosts besides the site's own that `rd` may send the browser back to
    /// (`chat.example.com`, `*.example.com`).
    pub redirect_hosts: Vec<String>,
    /// One table per OpenID Connect provider.
    pub oidc: Vec<OidcProviderConfig>,
    /// Sign-in with the local users file.
    pub local_users: LocalUsersConfig,
    /// How failed local sign-ins are slowed down.
    pub login_limit: LoginLimitConfig,
    /// Addresses of proxies (nginx) whose `X-Real-IP` header names the client, for the
    /// login limit; requests from anywhere else are counted by their own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// In reverse-proxy mode, the chat server every signed-in request is passed to.
    pub upstream: Option<String>,
    /// Timeouts of the reverse proxy.
    pub proxy: ProxyConfig,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4180)),
            public_url: None,
            cookie_secret: None,
            cookie_secret_file: None,
            cookie_name: "parasol_session".into(),
            session: SessionConfig::default(),
            token: TokenConfig::default(),
            allow: AllowConfig::default(),
            redirect_hosts: Vec::new(),
            oidc: Vec::new(),
            local_users: LocalUsersConfig::default(),
            login_limit: LoginLimitConfig::default(),
            trusted_proxies: vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()],
            upstream: None,
            proxy: ProxyConfig::default(),
        }
    }
}

impl GateConfig {
    /// The cookie key file, resolved against the data directory.
    pub fn cookie_secret_path(&self, data_dir: &Path) -> PathBuf {
        self.cookie_secret_file
            .clone()
            .unwrap_or_else(|| data_dir.join("cookie-secret"))
    }

    /// The users file, resolved against the data directory.
    pub fn users_file_path(&self, data_dir: &Path) -> PathBuf {
        self.local_users
            .users_file
            .clone()
            .unwrap_or_else(|| data_dir.join("users.toml"))
    }

    /// The signing key directory, resolved against the data directory.
    pub fn keys_dir_path(&self, data_dir: &Path) -> PathBuf {
        self.token
            .keys_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("keys"))
    }
}

/// Where sessions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreKind {
    /// The whole session, encrypted, in the cookie.
    Cookie,
    /// The session in Redis (`[redis] url`), the cookie holding only its random id; this
    /// allows revocation and sessions too large for a cookie.
    Redis,
}

/// `[gate.session]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Seconds a session lasts from sign-in, however active.
    pub absolute_lifetime: u64,
    /// Seconds of inactivity after which a session ends.
    pub idle_timeout: u64,
    /// Where sessions are kept.
    pub store: SessionStoreKind,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            absolute_lifetime: 12 * 3600,
            idle_timeout: 3600,
            store: SessionStoreKind::Cookie,
        }
    }
}

/// `[gate.token]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Seconds an identity token is valid.
    pub lifetime: u64,
    /// The `iss` claim; by default the public URL.
    pub issuer: Option<String>,
    /// The `aud` claim the chat server expects.
    pub audience: String,
    /// The signing key directory; by default `<data_dir>/keys`, with a key generated on
    /// first start.
    pub keys_dir: Option<PathBuf>,
    /// Seconds the replaced key goes on signing after a rotation, while the JWKS already
    /// lists the new one, so that every chat server has fetched the new key before the
    /// first token needs it. Keep it at least the chat server's `jwks_refetch_interval`.
    pub rotation_grace: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            lifetime: 300,
            issuer: None,
            audience: "parasol-chat".into(),
            keys_dir: None,
            rotation_grace: 60,
        }
    }
}

/// `[gate.allow]`: a person passes when any list matches, or when all are empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowConfig {
    /// Email addresses allowed in, compared without regard to case.
    pub emails: Vec<String>,
    /// Email domains allowed in (`example.com`).
    pub email_domains: Vec<String>,
    /// Groups allowed in.
    pub groups: Vec<String>,
}

/// `[[gate.oidc]]`: one OpenID Connect provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// A short name for URLs and logs (`google`).
    pub id: String,
    /// The name on the sign-in button; by default the id.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret. Never serialised.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that lists a person's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// ID token signature algorithms accepted (`none` and the HMAC ones never are).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Trust the `email` claim when the provider sends no `email_verified` at all (some,
    /// such as Microsoft Entra ID, never do). An address marked unverified is never
    /// trusted.
    #[serde(default)]
    pub accept_unverified_email: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_algorithms() -> Vec<String> {
    ["RS256", "ES256", "EdDSA", "PS256"]
        .map(String::from)
        .to_vec()
}

/// `[gate.local_users]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalUsersConfig {
    /// Whether the sign-in page offers the local login form.
    pub enabled: bool,
    /// The users file; by default `<data_dir>/users.toml`.
    pub users_file: Option<PathBuf>,
}

impl Default for LocalUsersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            users_file: None,
        }
    }
}

/// `[gate.login_limit]`: failed local sign-ins, counted per client address and per
/// account name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimitConfig {
    /// Failures allowed before any wait is imposed.
    pub free_failures: u32,
    /// Seconds of the first wait; each further failure doubles it.
    pub base_delay: u64,
    /// The longest wait, in seconds.
    pub max_delay: u64,
    /// Seconds after which a key's failures are forgotten.
    pub forget_after: u64,
}

impl Default for LoginLimitConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: 1,
            max_delay: 900,
            forget_after: 3600,
        }
    }
}

/// `[gate.proxy]`: the reverse proxy's timeouts, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Time to connect to the upstream.
    pub connect_timeout: u64,
    /// Time the upstream may take to start answering.
    pub response_timeout: u64,
    /// Time a streamed body may stay silent before it is cut.
    pub idle_timeout: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout: 5,
            response_timeout: 60,
            idle_timeout: 300,
        }
    }
}
