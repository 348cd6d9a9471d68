//! A local HTTP server on 127.0.0.1 with the pages the HTTP tool is tried against, and
//! a table resolver standing in for DNS. Nothing here reaches beyond the loopback range.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures::future::BoxFuture;
use parasol_tools::http_request::{HttpRequest, HttpRequestConfig, Lookup};

/// A lookup answering from a fixed table; names not in it do not resolve.
#[derive(Debug, Default, Clone)]
pub struct TableLookup(pub HashMap<String, Vec<IpAddr>>);

impl TableLookup {
    pub fn with(mut self, name: &str, addresses: &[&str]) -> Self {
        let parsed = addresses.iter().map(|a| a.parse().unwrap()).collect();
        self.0.insert(name.to_owned(), parsed);
        self
    }
}

impl Lookup for TableLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let found = self.0.get(host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such test host"))
        })
    }
}

pub const PAGE: &str = "<!doctype html><html><head><title>T</title>\
    <style>body { color: red }</style><script>alert('secret-script')</script></head>\
    <body><h1>Heading</h1><p>Hello <b>world</b>.</p><ul><li>one</li><li>two</li></ul>\
    <a href=\"/next\">next page</a></body></html>";

fn redirect_to(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn typed(content_type: &'static str, body: impl Into<Bytes>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    let json = serde_json::json!({
        "method": method.as_str(),
        "headers": names,
        "body": String::from_utf8_lossy(&body),
    });
    typed("application/json", json.to_string())
}

fn routes(port: u16) -> Router {
    Router::new()
        .route(
            "/html",
            get(|| async { typed("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/json",
            get(|| async { typed("application/json", r#"{"a":[1,2],"b":null}"#) }),
        )
        .route("/text", get(|| async { typed("text/plain", "just text") }))
        .route(
            "/unlabelled",
            get(|| async { Bytes::from_static(b"plain words") }),
        )
        .route(
            "/big",
            get(|| async { typed("text/plain", "x".repeat(10_000)) }),
        )
        .route(
            "/png",
            get(|| async { typed("image/png", vec![0x89, b'P', b'N', b'G', 0]) }),
        )
        .route(
            "/octets",
            get(|| async { typed("application/octet-stream", vec![0u8, 1, 2, 255]) }),
        )
        .route(
            "/deep",
            get(|| async { typed("text/html", deep_html(100_000)) }),
        )
        .route(
            "/nested",
            get(|| async { typed("text/html", deep_html(250)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route("/echo", any(echo))
        .route("/loop", get(|| async { redirect_to("/loop".into()) }))
        .route(
            "/see-other",
            any(|| async {
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/echo")]).into_response()
            }),
        )
        .route("/to-json", get(|| async { redirect_to("/json".into()) }))
        .route("/to-echo", get(|| async { redirect_to("/echo".into()) }))
        .route(
            "/temporary",
            any(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/echo")],
                )
                    .into_response()
            }),
        )
        .route(
            "/to-other-origin",
            get(move || async move { redirect_to(format!("http://allowed.test:{port}/echo")) }),
        )
        .route(
            "/to-other-loopback",
            get(move || async move { redirect_to(format!("http://127.0.0.2:{port}/json")) }),
        )
        .route(
            "/to-localhost",
            get(move || async move { redirect_to(format!("http://localhost:{port}/json")) }),
        )
        .route(
            "/to-rebinding-name",
            get(move || async move { redirect_to(format!("http://rebind.test:{port}/json")) }),
        )
        .route(
            "/to-file",
            get(|| async { redirect_to("file:///etc/passwd".into()) }),
        )
}

/// `depth` nested `<div>`s around a word, after a script and a comment that must not
/// show in the text.
pub fn deep_html(depth: usize) -> String {
    format!(
        "<html><body><!-- note --><script>let hidden = '<b>';</script>{}deep{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    )
}

/// Starts the server on 127.0.0.1 and port 0, and returns its address.
pub async fn spawn_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, routes(address.port())).await.unwrap();
    });
    address
}

/// A config opening 127.0.0.1 (the test server) and nothing else, with short bounds.
pub fn local_config() -> HttpRequestConfig {
    HttpRequestConfig {
        allow_hosts: vec!["127.0.0.1".into()],
        timeout: Duration::from_secs(5),
        max_bytes: 4096,
        max_redirects: 3,
    }
}

/// The HTTP tool with `config`, resolving names from `lookup`.
pub fn http_tool(config: HttpRequestConfig, lookup: TableLookup) -> HttpRequest {
    HttpRequest::with_lookup(config, Arc::new(lookup)).unwrap()
}
