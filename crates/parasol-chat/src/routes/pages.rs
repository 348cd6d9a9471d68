//! The web UI: the page and its script and styles, compiled into the binary.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::identity::CurrentUser;
use crate::render::HIGHLIGHT_CSS;

const INDEX_HTML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/index.html"));
const APP_JS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/app.js"));
const APP_CSS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/app.css"));

/// `GET /`: the page.
pub(crate) async fn index(_user: CurrentUser) -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /static/app.js`.
pub(crate) async fn app_js(_user: CurrentUser) -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /static/app.css`.
pub(crate) async fn app_css(_user: CurrentUser) -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `GET /static/highlight.css`: the colours of highlighted code.
pub(crate) async fn highlight_css(_user: CurrentUser) -> Response {
    asset("text/css; charset=utf-8", HIGHLIGHT_CSS.as_str())
}

/// The files carry no version in their names, so browsers must check back each time
/// rather than keep a stale script across an upgrade; `private` keeps shared caches out,
/// since only signed-in users may see them.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}
