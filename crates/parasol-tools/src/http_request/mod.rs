//! The `http_request` tool: fetch a URL on the public internet, guarded against SSRF.
//!
//! Every hop is checked: the URL's scheme and host before the request ([`Guard`]), the
//! addresses a name resolves to inside the client's own resolver ([`GuardedResolver`],
//! so the connection goes to exactly the checked addresses), and each redirect's target
//! again before it is followed (redirects are followed here, one at a time, never by the
//! client). Proxies from the environment are ignored, since a proxy would resolve names
//! where the guard cannot see. The body is read up to a byte cap and turned into text
//! or JSON; binary bodies are refused.

mod body;
pub mod guard;
pub mod resolver;

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use parasol_agent::Tool;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub use body::BodyFormat;
pub use guard::{ForbiddenAddress, Guard, GuardError, check_ip};
pub use resolver::{GuardedResolver, Lookup, ResolveError, SystemLookup};

use body::Kind;

/// The most headers a request may set.
const MAX_HEADERS: usize = 32;
/// The largest request body accepted, in bytes.
const MAX_REQUEST_BODY: usize = 256 * 1024;
/// Headers the model may not set: they describe the connection or the framing, which
/// the client owns, and setting them could smuggle a second request or mislead a proxy.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "expect",
    "proxy-authorization",
    "proxy-connection",
];
/// Headers dropped when a redirect leaves the origin they were meant for.
const CREDENTIAL_HEADERS: &[HeaderName] = &[header::AUTHORIZATION, header::COOKIE];

const USER_AGENT: &str = concat!(
    "Parasol/",
    env!("CARGO_PKG_VERSION"),
    " (http_request tool)"
);

/// How `http_request` is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestConfig {
    /// Hosts reachable even though they are not public (`intranet.example`,
    /// `10.0.0.5:8080`, `[fd00::1]`): exact, case-insensitive host matches, optionally
    /// with a port. A host listed only with ports is refused on every other port.
    pub allow_hosts: Vec<String>,
    /// The longest a whole call may take, redirects and body included.
    pub timeout: Duration,
    /// The most bytes of a response body read; the rest is cut off.
    pub max_bytes: usize,
    /// The most redirects followed.
    pub max_redirects: usize,
}

impl Default for HttpRequestConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            timeout: Duration::from_secs(20),
            max_bytes: 512 * 1024,
            max_redirects: 5,
        }
    }
}

/// Why a request produced no response for the model.
#[derive(Debug, thiserror::Error)]
pub enum HttpRequestError {
    /// The configuration's allowlist has entries that are not hosts.
    #[error("the http_request allowlist has invalid entries: {}", .0.join(", "))]
    InvalidAllowlist(Vec<String>),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    /// The URL does not parse.
    #[error("`{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The guard refused the URL.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The host resolved to a refused address.
    #[error("{0}")]
    Refused(String),
    /// The host could not be resolved.
    #[error("{0}")]
    Resolve(String),
    /// A header that cannot be sent.
    #[error("header `{name}` cannot be sent: {reason}")]
    Header {
        /// The header.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A body on a request that takes none, or one too large.
    #[error("{0}")]
    Body(String),
    /// More redirects than allowed.
    #[error("stopped after {max} redirects; the last went to {location}")]
    TooManyRedirects {
        /// The limit.
        max: usize,
        /// Where the last redirect pointed.
        location: String,
    },
    /// A redirect whose target was refused or failed.
    #[error("the redirect to {location} was not followed: {source}")]
    Redirect {
        /// Where it pointed.
        location: String,
        /// Why it was not followed.
        source: Box<HttpRequestError>,
    },
    /// The call took longer than allowed.
    #[error("no complete response within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// The connection failed.
    #[error("could not connect: {0}")]
    Connect(String),
    /// Another failure sending the request or reading the response.
    #[error("the request failed: {0}")]
    Request(String),
    /// The response is not text.
    #[error("the response is binary ({content_type}); only HTML, JSON and text can be read")]
    Binary {
        /// What it said it was.
        content_type: String,
    },
}

/// An HTTP method the tool can use.
// The variants carry no doc comments on purpose: schemars would turn each into a
// described `oneOf` branch, where a plain `enum` of names is what a model reads best.
#[allow(
    missing_docs,
    reason = "the names say it all, and docs would bloat the schema"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    #[serde(alias = "get")]
    Get,
    #[serde(alias = "post")]
    Post,
    #[serde(alias = "put")]
    Put,
    #[serde(alias = "patch")]
    Patch,
    #[serde(alias = "delete")]
    Delete,
    #[serde(alias = "head")]
    Head,
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => Self::GET,
            Method::Post => Self::POST,
            Method::Put => Self::PUT,
            Method::Patch => Self::PATCH,
            Method::Delete => Self::DELETE,
            Method::Head => Self::HEAD,
        }
    }
}

/// The http_request tool's arguments. Its `Debug` shows header names but not values,
/// which may be credentials.
#[derive(Deserialize, JsonSchema)]
pub struct HttpRequestArgs {
    /// The HTTP method; GET when left out.
    #[serde(default)]
    pub method: Method,
    /// The absolute http or https URL to request.
    pub url: String,
    /// Request headers, by name, such as `{"Accept": "application/json"}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body, for POST, PUT, PATCH and DELETE; set a `Content-Type` header
    /// to match.
    #[serde(default)]
    pub body: Option<String>,
}

impl std::fmt::Debug for HttpRequestArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequestArgs")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.as_ref().map(String::len))
            .finish()
    }
}

/// The response, as the model reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The URL that answered, after redirects.
    pub url: String,
    /// The response's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// How `body` was produced.
    pub format: BodyFormat,
    /// Whether the body was cut off at the size cap.
    pub truncated: bool,
    /// Rendered text (a string) or parsed JSON.
    pub body: Value,
}

/// One request of a chain of redirects. No `Debug`: its headers may hold credentials.
#[derive(Clone)]
struct Hop {
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    body: Option<String>,
    /// Whether this request follows a redirect, so that errors can say so.
    redirected: bool,
}

/// Fetches web pages and calls HTTP APIs on the public internet.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    client: reqwest::Client,
    guard: Arc<Guard>,
    config: HttpRequestConfig,
}

impl HttpRequest {
    /// The tool, resolving names with the system resolver.
    pub fn new(config: HttpRequestConfig) -> Result<Self, HttpRequestError> {
        Self::with_lookup(config, Arc::new(SystemLookup))
    }

    /// The tool, resolving names with `lookup`.
    pub fn with_lookup(
        config: HttpRequestConfig,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, HttpRequestError> {
        let (guard, rejected) = Guard::new(&config.allow_hosts);
        if !rejected.is_empty() {
            return Err(HttpRequestError::InvalidAllowlist(rejected));
        }
        let guard = Arc::new(guard);
        let resolver = GuardedResolver::new(Arc::clone(&guard), lookup);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .user_agent(USER_AGENT)
            .referer(false)
            .build()
            .map_err(|error| HttpRequestError::Client(error.to_string()))?;
        Ok(Self {
            client,
            guard,
            config,
        })
    }

    async fn fetch(&self, args: HttpRequestArgs) -> Result<HttpResponse, HttpRequestError> {
        let mut hop = first_hop(args)?;
        self.check(&hop.url)?;
        let mut redirects = 0;
        loop {
            let response = self.send(&hop).await?;
            let Some(next) = redirect(&hop, &response)? else {
                return self.read(response, &hop.method).await;
            };
            let location = next.url.to_string();
            if redirects == self.config.max_redirects {
                return Err(HttpRequestError::TooManyRedirects {
                    max: self.config.max_redirects,
                    location,
                });
            }
            redirects += 1;
            if let Err(error) = self.check(&next.url) {
                return Err(HttpRequestError::Redirect {
                    location,
                    source: Box::new(error.into()),
                });
            }
            hop = next;
        }
    }

    /// The guard's verdict on `url`, with a refusal logged as the security decision it is.
    fn check(&self, url: &Url) -> Result<(), GuardError> {
        self.guard.check_url(url).inspect_err(|error| {
            // The host only: a URL's path and query may hold tokens.
            tracing::info!(
                host = url.host_str().unwrap_or_default(),
                %error,
                "http_request refused a URL"
            );
        })
    }

    async fn send(&self, hop: &Hop) -> Result<Response, HttpRequestError> {
        let mut request = self
            .client
            .request(hop.method.clone(), hop.url.clone())
            .headers(hop.headers.clone());
        if let Some(body) = &hop.body {
            request = request.body(body.clone());
        }
        request.send().await.map_err(|error| {
            let error = classify(&error, self.config.timeout);
            // A refusal after a redirect is still a refusal of the redirect.
            match (&error, hop.redirected) {
                (HttpRequestError::Refused(_), true) => HttpRequestError::Redirect {
                    location: hop.url.to_string(),
                    source: Box::new(error),
                },
                _ => error,
            }
        })
    }

    async fn read(
        &self,
        mut response: Response,
        method: &reqwest::Method,
    ) -> Result<HttpResponse, HttpRequestError> {
        let status = response.status().as_u16();
        let url = response.url().to_string();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let binary = || HttpRequestError::Binary {
            content_type: content_type.clone().unwrap_or_else(|| "unlabelled".into()),
        };

        let announced = body::kind_of(content_type.as_deref());
        if announced == Some(Kind::Binary) {
            return Err(binary());
        }
        let (bytes, truncated) = if *method == reqwest::Method::HEAD {
            (Vec::new(), false)
        } else {
            read_capped(&mut response, self.config.max_bytes).await?
        };
        let kind = announced.unwrap_or_else(|| body::sniff(&bytes));
        if kind == Kind::Binary {
            return Err(binary());
        }

        // Rendering HTML is CPU work that can take a while on a large page.
        let (format, body) = tokio::task::spawn_blocking(move || body::render(kind, &bytes))
            .await
            .map_err(|error| HttpRequestError::Request(format!("rendering failed: {error}")))?;
        Ok(HttpResponse {
            status,
            url,
            content_type,
            format,
            truncated,
            body,
        })
    }
}

fn first_hop(args: HttpRequestArgs) -> Result<Hop, HttpRequestError> {
    let url = Url::parse(args.url.trim()).map_err(|error| HttpRequestError::InvalidUrl {
        url: args.url.chars().take(200).collect(),
        reason: error.to_string(),
    })?;
    let headers = headers(&args.headers)?;
    if let Some(body) = &args.body {
        if matches!(args.method, Method::Get | Method::Head) {
            return Err(HttpRequestError::Body(
                "a GET or HEAD request takes no body; use POST, PUT, PATCH or DELETE".into(),
            ));
        }
        if body.len() > MAX_REQUEST_BODY {
            return Err(HttpRequestError::Body(format!(
                "the request body has {} bytes, more than the {MAX_REQUEST_BODY} allowed",
                body.len()
            )));
        }
    }
    Ok(Hop {
        method: args.method.into(),
        url,
        headers,
        body: args.body,
        redirected: false,
    })
}

fn headers(given: &BTreeMap<String, String>) -> Result<HeaderMap, HttpRequestError> {
    if given.len() > MAX_HEADERS {
        return Err(HttpRequestError::Header {
            name: format!("({} headers)", given.len()),
            reason: "at most 32 headers can be sent",
        });
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/html, application/json;q=0.9, text/*;q=0.8, */*;q=0.1"),
    );
    for (name, value) in given {
        let refuse = |reason| HttpRequestError::Header {
            name: name.chars().take(100).collect(),
            reason,
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| refuse("not a valid header name"))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(refuse("the client sets it itself"));
        }
        let mut value =
            HeaderValue::from_str(value).map_err(|_| refuse("its value is not valid"))?;
        // Any of them may be a credential: sensitive values print as such and are kept
        // out of HTTP/2 header compression tables.
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The request a redirect asks for, or `None` if `response` is no redirect.
///
/// Per RFC 9110 section 15.4, 307 and 308 repeat the request as it was; 303 turns it
/// into a GET; 301 and 302 turn a POST into a GET, as every browser does.
fn redirect(hop: &Hop, response: &Response) -> Result<Option<Hop>, HttpRequestError> {
    let status = response.status();
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
    let url = hop
        .url
        .join(&location)
        .map_err(|error| HttpRequestError::Redirect {
            location: location.clone(),
            source: Box::new(HttpRequestError::InvalidUrl {
                url: location.chars().take(200).collect(),
                reason: error.to_string(),
            }),
        })?;

    let mut next = Hop {
        url,
        redirected: true,
        ..hop.clone()
    };
    let to_get = status == StatusCode::SEE_OTHER && next.method != reqwest::Method::HEAD
        || matches!(status.as_u16(), 301 | 302) && next.method == reqwest::Method::POST;
    if to_get {
        next.method = reqwest::Method::GET;
        next.body = None;
        next.headers.remove(header::CONTENT_TYPE);
    }
    if next.url.origin() != hop.url.origin() {
        for name in CREDENTIAL_HEADERS {
            next.headers.remove(name);
        }
    }
    Ok(Some(next))
}

/// Reads at most `max` bytes of the body, and whether there was more.
async fn read_capped(
    response: &mut Response,
    max: usize,
) -> Result<(Vec<u8>, bool), HttpRequestError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| HttpRequestError::Request(chain(&error)))?
    {
        let room = max - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, false))
}

/// Turns a client error into ours, finding the resolver's refusal if that is the cause.
fn classify(error: &reqwest::Error, limit: Duration) -> HttpRequestError {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(resolve) = current.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Forbidden { .. } => HttpRequestError::Refused(resolve.to_string()),
                _ => HttpRequestError::Resolve(resolve.to_string()),
            };
        }
        cause = current.source();
    }
    if error.is_timeout() {
        HttpRequestError::Timeout(limit)
    } else if error.is_connect() {
        HttpRequestError::Connect(chain(error))
    } else {
        HttpRequestError::Request(chain(error))
    }
}

/// An error and its causes, one after another, which is what says what went wrong:
/// reqwest's own message only names the URL.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

impl Tool for HttpRequest {
    type Args = HttpRequestArgs;
    type Output = HttpResponse;
    type Error = HttpRequestError;
    const NAME: &'static str = "http_request";

    fn description(&self) -> String {
        format!(
            "Sends an HTTP request to a public http or https URL and returns the status, \
             the final URL and the body: web pages as readable text (with numbered links), \
             JSON as JSON, other text as is. Binary content is refused, as are private, \
             loopback and cloud-metadata addresses. Redirects are followed (at most {}); \
             bodies past {} bytes are cut off (`truncated`).",
            self.config.max_redirects, self.config.max_bytes
        )
    }

    async fn call(&self, args: HttpRequestArgs) -> Result<HttpResponse, HttpRequestError> {
        let limit = self.config.timeout;
        tokio::time::timeout(limit, self.fetch(args))
            .await
            .unwrap_or(Err(HttpRequestError::Timeout(limit)))
    }
}
