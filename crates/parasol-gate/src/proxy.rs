//! Reverse-proxy mode: the gateway checks each request itself and passes it upstream.
//!
//! Bodies stream both ways without buffering (Server-Sent Events arrive as they are
//! written), WebSocket upgrades are joined end to end, and the identity headers upstream
//! sees are only ever the gateway's own: whatever a client sent under those names is
//! removed first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::config::ProxyConfig;
use crate::pages;
use crate::routes::auth::{IDENTITY_HEADERS, Verdict, check};
use crate::routes::respond::{html, redirect, with_cookies};
use crate::routes::sign_in::client_ip;
use crate::state::Gate;

/// Headers that describe one hop, not the message (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The upstream and how to reach it.
#[derive(Clone)]
pub struct Proxy {
    upstream: Uri,
    client: Client<HttpConnector, Body>,
    response_timeout: Duration,
    idle_timeout: Duration,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy to `upstream` (`http://127.0.0.1:8080`).
    pub fn new(upstream: &str, config: &ProxyConfig) -> Result<Self, String> {
        let uri: Uri = upstream
            .parse()
            .map_err(|e| format!("gate.upstream {upstream:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!(
                "gate.upstream {upstream:?} must be an http:// URL with a host \
                 (the chat server runs beside the gateway)"
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(config.connect_timeout)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            upstream: uri,
            client,
            response_timeout: Duration::from_secs(config.response_timeout),
            idle_timeout: Duration::from_secs(config.idle_timeout),
        })
    }
}

/// Passes a request upstream when its session lets it through.
pub async fn handle(gate: Arc<Gate>, proxy: Proxy, request: Request) -> Response {
    let (verdict, cookie) = check(&gate, request.headers()).await;
    let response = match verdict {
        Verdict::Allowed(identity) => forward(&gate, &proxy, request, identity).await,
        Verdict::Unauthenticated => unauthenticated(&request),
        Verdict::Forbidden(session) => html(
            StatusCode::FORBIDDEN,
            pages::forbidden(&session.user.email.unwrap_or(session.user.name)),
        ),
        Verdict::Failed => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    with_cookies(response, cookie)
}

/// Passes a request to an application in the same process (`parasol serve`) when its
/// session lets it through, with the same header hygiene as the network proxy.
pub async fn handle_embedded(gate: Arc<Gate>, app: axum::Router, request: Request) -> Response {
    use tower::ServiceExt;
    let (verdict, cookie) = check(&gate, request.headers()).await;
    let response = match verdict {
        Verdict::Allowed(identity) => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip());
            let (mut parts, body) = request.into_parts();
            let client = peer.map(|peer| client_ip(&gate, peer, &parts.headers));
            let upgrade = wants_websocket(&parts.headers);
            clean_request_headers(&gate, &mut parts.headers, upgrade);
            parts.headers.extend(identity);
            forwarded_headers(&gate, &mut parts.headers, client);
            gate.metrics.proxied.inc();
            match app.oneshot(Request::from_parts(parts, body)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Verdict::Unauthenticated => unauthenticated(&request),
        Verdict::Forbidden(session) => html(
            StatusCode::FORBIDDEN,
            pages::forbidden(&session.user.email.unwrap_or(session.user.name)),
        ),
        Verdict::Failed => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    with_cookies(response, cookie)
}

/// A browser navigating is sent to sign in; anything else gets a plain 401.
fn unauthenticated(request: &Request) -> Response {
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !wants_page {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let here = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let rd: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    redirect(&format!("/oauth2/start?rd={rd}"))
}

async fn forward(
    gate: &Gate,
    proxy: &Proxy,
    mut request: Request,
    identity: HeaderMap,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let upgrade = wants_websocket(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));

    let (mut parts, body) = request.into_parts();
    let Ok(uri) = upstream_uri(&proxy.upstream, &parts.uri) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    parts.uri = uri;
    let client = peer.map(|peer| client_ip(gate, peer, &parts.headers));
    clean_request_headers(gate, &mut parts.headers, upgrade);
    parts.headers.extend(identity);
    forwarded_headers(gate, &mut parts.headers, client);

    let upstream = Request::from_parts(parts, body);
    let sent = tokio::time::timeout(proxy.response_timeout, proxy.client.request(upstream));
    let mut response = match sent.await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::warn!(%error, "upstream request failed");
            return StatusCode::BAD_GATEWAY.into_response();
        }
        Err(_) => {
            tracing::warn!("upstream took too long to answer");
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
    };
    gate.metrics.proxied.inc();

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(join_upgrades(client_upgrade, upstream_upgrade));
        }
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, idle_limited(body, proxy.idle_timeout))
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    let has = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

fn upstream_uri(upstream: &Uri, incoming: &Uri) -> Result<Uri, axum::http::Error> {
    let path = incoming
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let base = upstream.path().trim_end_matches('/');
    let mut builder = Uri::builder();
    if let Some(scheme) = upstream.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = upstream.authority() {
        builder = builder.authority(authority.clone());
    }
    builder.path_and_query(format!("{base}{path}")).build()
}

/// Removes hop-by-hop headers, every identity and forwarding header a client may have
/// sent, and the gateway's own cookies, which the upstream has no use for.
fn clean_request_headers(gate: &Gate, headers: &mut HeaderMap, upgrade: bool) {
    let upgrade_headers = upgrade.then(|| {
        (
            headers.get(header::UPGRADE).cloned(),
            headers.get(header::CONNECTION).cloned(),
        )
    });
    strip_hop_by_hop(headers);
    headers.remove(header::UPGRADE);
    for name in IDENTITY_HEADERS {
        headers.remove(name);
    }
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            name.starts_with("x-auth-request-")
                || name.starts_with("x-forwarded-")
                || name == "x-real-ip"
                || name == "forwarded"
                || name == "x-user-jwt"
        })
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    remove_own_cookies(gate, headers);
    if let Some((Some(upgrade), _)) = upgrade_headers {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn remove_own_cookies(gate: &Gate, headers: &mut HeaderMap) {
    let own = [
        &gate.cookies.session,
        &gate.cookies.flow,
        &gate.cookies.csrf,
    ];
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !pair.is_empty() && !own.iter().any(|own| own.as_str() == name)
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

fn forwarded_headers(gate: &Gate, headers: &mut HeaderMap, client: Option<std::net::IpAddr>) {
    if let Some(client) = client
        && let Ok(value) = HeaderValue::from_str(&client.to_string())
    {
        headers.insert("x-forwarded-for", value.clone());
        headers.insert("x-real-ip", value);
    }
    if let Ok(value) = HeaderValue::from_str(gate.site.scheme()) {
        headers.insert("x-forwarded-proto", value);
    }
    if let Some(host) = gate.site.host_str() {
        let host = match gate.site.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&host) {
            headers.insert("x-forwarded-host", value);
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too (RFC 9110 section 7.6.1).
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The upstream body, passed on chunk by chunk, cut when it stays silent too long.
fn idle_limited(body: hyper::body::Incoming, idle: Duration) -> Body {
    let stream = body.into_data_stream();
    let limited = futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok::<_, std::io::Error>(chunk), Some(stream))),
            Ok(Some(Err(error))) => Some((Err(std::io::Error::other(error)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "upstream stayed silent too long",
                )),
                None,
            )),
        }
    });
    Body::from_stream(limited)
}

async fn join_upgrades(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::join!(client, upstream) {
        (Ok(client), Ok(upstream)) => (client, upstream),
        _ => {
            tracing::debug!("a WebSocket upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%error, "a WebSocket connection ended");
    }
}
