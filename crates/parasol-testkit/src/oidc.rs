//! A real OpenID provider for tests: the npm package `oidc-provider`, run by Node.js from
//! `oidc/provider.mjs` on a free port with the clients and users a test registers.
//!
//! The provider serves discovery, its keys, the authorization, token, userinfo,
//! revocation and end-session endpoints, and its development sign-in pages: a login form
//! for registered users (any password, unless the user has one), then a consent form.
//! [`Browser::sign_in_at_oidc_provider`](crate::Browser::sign_in_at_oidc_provider) fills
//! them in.
//!
//! A sign-in goes, hop by hop (`uid` changes between the two prompts):
//!
//! 1. `GET /auth?...` answers 303 to `/interaction/<uid>`;
//! 2. `GET /interaction/<uid>` shows the login form (`prompt=login`, `login`, `password`);
//! 3. `POST /interaction/<uid>` answers 303 to `/auth/<uid>`, or back to the form for an
//!    unknown login or a wrong password;
//! 4. `GET /auth/<uid>` answers 303 to `/interaction/<uid2>`, the consent form
//!    (`prompt=consent`, one "Continue" button);
//! 5. `POST /interaction/<uid2>` answers 303 to `/auth/<uid2>`;
//! 6. `GET /auth/<uid2>` answers 303 to the client's redirect URI with `code`, `state`
//!    and `iss`.
//!
//! A second sign-in for the same client and scopes within the provider's session skips
//! both forms. Sign-out: `GET /session/end?...` shows a confirmation form whose "Yes"
//! button posts `logout=yes` to `/session/end/confirm`, which answers 303 to the
//! post-logout URI.
//!
//! Every client must use PKCE (S256) and is issued refresh tokens. ID tokens carry the
//! claims of the scopes granted: `email` (`email`, `email_verified`), `profile` (`name`,
//! `preferred_username`) and `groups` (`groups`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

use crate::INSTALL_HINT;
use crate::output::{Transcript, debug_as_message, forward};

/// How long the provider may take to start: Node's start-up and three key pairs.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The line the script prints, followed by the issuer, once it serves requests.
const READY_PREFIX: &str = "LISTENING ";

/// The variable that carries the set-up, as JSON, to the script.
const SETUP_VARIABLE: &str = "PARASOL_OIDC_SETUP";

/// Why the provider could not be started.
#[derive(thiserror::Error)]
pub enum OidcError {
    /// `oidc/node_modules` has not been installed.
    #[error("the npm packages of the test OpenID provider are missing ({path}): {INSTALL_HINT}")]
    NotInstalled {
        /// The folder that was looked for.
        path: PathBuf,
    },
    /// `node` could not be run.
    #[error("could not run node for the test OpenID provider: {INSTALL_HINT}")]
    Node(#[source] std::io::Error),
    /// The set-up could not be turned into JSON.
    #[error("could not encode the provider set-up")]
    Setup(#[source] serde_json::Error),
    /// Reading the provider's output failed.
    #[error("could not read the test OpenID provider's output")]
    Output(#[source] std::io::Error),
    /// The provider stopped before it was ready.
    #[error("the test OpenID provider exited before it was ready; it wrote:\n{stderr}")]
    Exited {
        /// Its last lines on standard error.
        stderr: String,
    },
    /// The provider was not ready in time.
    #[error(
        "the test OpenID provider was not ready within {} s; it wrote:\n{stderr}",
        START_TIMEOUT.as_secs()
    )]
    Timeout {
        /// Its last lines on standard error.
        stderr: String,
    },
}

impl std::fmt::Debug for OidcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_as_message(self, f)
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    /// HTTP Basic authentication with the client id and secret (RFC 6749, section 2.3.1).
    #[default]
    ClientSecretBasic,
    /// The client id and secret as form fields in the request body.
    ClientSecretPost,
}

/// A client (relying party) registered at the provider.
#[derive(Clone, Serialize)]
pub struct Client {
    /// The client's id.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: String,
    /// Where the provider may send the browser back with a code.
    pub redirect_uris: Vec<String>,
    /// Where the provider may send the browser after signing out.
    pub post_logout_redirect_uris: Vec<String>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenAuthMethod,
    /// The algorithm of its ID tokens: `RS256` (the default), `ES256` or `Ed25519`.
    pub id_token_signed_response_alg: String,
}

impl Client {
    /// A confidential client with one redirect URI, Basic authentication and RS256.
    pub fn new(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
            token_endpoint_auth_method: TokenAuthMethod::default(),
            id_token_signed_response_alg: "RS256".to_owned(),
        }
    }

    /// Allows `uri` as a destination after signing out.
    #[must_use]
    pub fn with_post_logout_redirect_uri(mut self, uri: &str) -> Self {
        self.post_logout_redirect_uris.push(uri.to_owned());
        self
    }

    /// Sets how the client authenticates at the token endpoint.
    #[must_use]
    pub fn with_token_auth_method(mut self, method: TokenAuthMethod) -> Self {
        self.token_endpoint_auth_method = method;
        self
    }
}

// By hand, so that the secret never reaches a log.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field(
                "id_token_signed_response_alg",
                &self.id_token_signed_response_alg,
            )
            .finish()
    }
}

/// A person who can sign in at the provider, with `id` as the login.
#[derive(Clone, Serialize)]
pub struct User {
    /// The account id: what the login form takes, and the `sub` claim.
    pub id: String,
    /// The `email` claim.
    pub email: String,
    /// The `email_verified` claim.
    pub email_verified: bool,
    /// The `name` claim.
    pub name: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
    /// The password the login form wants; without one, any password is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl User {
    /// A user with a verified email address and no groups.
    pub fn new(id: &str, email: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            name: name.to_owned(),
            groups: Vec::new(),
            password: None,
        }
    }

    /// Puts the user in `groups`.
    #[must_use]
    pub fn with_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|&group| group.to_owned()).collect();
        self
    }

    /// Makes the login form accept only `password` for this user.
    #[must_use]
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }
}

// By hand, so that the password never reaches a log.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("groups", &self.groups)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Lifetimes, in seconds, of what the provider issues; `None` keeps the script's default
/// (5 minutes for tokens, an hour for refresh tokens and sessions).
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Lifetimes {
    /// Access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<u64>,
    /// ID tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<u64>,
    /// Refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<u64>,
    /// The provider's own sign-in session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
}

/// What the provider is started with.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderSetup {
    /// The registered clients.
    pub clients: Vec<Client>,
    /// The people who can sign in.
    pub users: Vec<User>,
    /// Token and session lifetimes.
    pub ttl: Lifetimes,
}

/// A running provider, stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    issuer: String,
    // Held for `kill_on_drop`: dropping it ends Node.
    _child: Child,
}

impl OidcProvider {
    /// Starts the provider on a free port and waits until it serves requests.
    pub async fn spawn(setup: ProviderSetup) -> Result<Self, OidcError> {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc");
        let modules = folder.join("node_modules").join("oidc-provider");
        if !modules.is_dir() {
            return Err(OidcError::NotInstalled { path: modules });
        }
        let setup = serde_json::to_string(&setup).map_err(OidcError::Setup)?;

        // On a busy two-core machine Node has, rarely, sat silent past the start timeout
        // (seen once in CI, with nothing in its output), so one more is started before
        // giving up.
        match Self::start(&folder, &setup).await {
            Err(OidcError::Timeout { stderr }) => {
                eprintln!(
                    "[oidc-provider] not ready in {START_TIMEOUT:?}, starting another: {stderr}"
                );
                Self::start(&folder, &setup).await
            }
            started => started,
        }
    }

    async fn start(folder: &Path, setup: &str) -> Result<Self, OidcError> {
        let mut child = Command::new("node")
            .arg(folder.join("provider.mjs"))
            .current_dir(folder)
            .env(SETUP_VARIABLE, setup)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(OidcError::Node)?;
        let issuer = wait_until_ready(&mut child).await?;
        Ok(Self {
            issuer,
            _child: child,
        })
    }

    /// The issuer, `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }
}

/// Forwards the child's output and waits for its ready line, returning the issuer.
async fn wait_until_ready(child: &mut Child) -> Result<String, OidcError> {
    let stderr = Transcript::default();
    let stderr_done = child
        .stderr
        .take()
        .map(|pipe| forward(pipe, "oidc-provider", stderr.clone()));
    let Some(stdout) = child.stdout.take() else {
        return Err(exited(&stderr));
    };

    let mut lines = BufReader::new(stdout).lines();
    match timeout(START_TIMEOUT, read_issuer(&mut lines)).await {
        Ok(Ok(Some(issuer))) => {
            // The provider prints its notices on stdout: keep the pipe drained.
            forward(lines.into_inner(), "oidc-provider", Transcript::default());
            Ok(issuer)
        }
        Ok(Ok(None)) => {
            // Node has closed stdout; its last words on stderr explain why.
            if let Some(done) = stderr_done {
                let _ = timeout(Duration::from_secs(2), done).await;
            }
            Err(exited(&stderr))
        }
        Ok(Err(error)) => Err(OidcError::Output(error)),
        Err(_) => Err(OidcError::Timeout {
            stderr: stderr.text(),
        }),
    }
}

/// Reads stdout until the ready line, forwarding the lines before it; `None` at the end of
/// the stream.
async fn read_issuer(
    lines: &mut Lines<BufReader<ChildStdout>>,
) -> Result<Option<String>, std::io::Error> {
    while let Some(line) = lines.next_line().await? {
        match line.strip_prefix(READY_PREFIX) {
            Some(issuer) => return Ok(Some(issuer.trim().to_owned())),
            None => eprintln!("[oidc-provider] {line}"),
        }
    }
    Ok(None)
}

/// The error for a provider that stopped, naming the install script when Node could not
/// find the package (a `node_modules` left half installed).
fn exited(stderr: &Transcript) -> OidcError {
    if stderr.contains("ERR_MODULE_NOT_FOUND") {
        return OidcError::NotInstalled {
            path: Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc/node_modules"),
        };
    }
    OidcError::Exited {
        stderr: stderr.text(),
    }
}
