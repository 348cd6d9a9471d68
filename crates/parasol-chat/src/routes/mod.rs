//! The chat server's routes: the JSON API under `/api/`, the page and its files, and the
//! health checks, with the layers every response goes through.

mod extract;
mod health;
mod me;
mod messages;
mod openapi;
mod pages;
mod threads;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::identity::require_user;
use crate::state::AppState;

/// The page may load its own script, styles and images (and inline `data:` images, which
/// sanitized answers never contain but the UI's icons may), talk to its own origin, and
/// nothing else; it may not be framed. Model output reaches the page as sanitized HTML,
/// and this policy is the second wall should the sanitizer ever let a script through.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy; anything longer, or not plain text, is
/// replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The whole application.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/", get(pages::index))
        .route("/static/app.js", get(pages::app_js))
        .route("/static/app.css", get(pages::app_css))
        .route("/static/highlight.css", get(pages::highlight_css))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/me", get(me::me))
        .route("/api/starters", get(me::starters))
        .route("/api/threads", get(threads::list).post(threads::create))
        .route(
            "/api/threads/{id}",
            get(threads::detail)
                .patch(threads::rename)
                .delete(threads::delete),
        )
        .route("/api/threads/{id}/messages", post(messages::post))
        .route("/api/messages/{id}/events", get(messages::events))
        .route("/api/messages/{id}/stop", post(messages::stop))
        .route("/api/messages/{id}/feedback", put(messages::feedback))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_user,
        ));

    let body_limit = state.limits.max_body_bytes();
    Router::new()
        .route("/ping", get(health::ping))
        .route("/ready", get(health::ready))
        .merge(protected)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Adds the headers every response carries, errors and streams included.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Runs the request in a span of its own, with an id taken from the proxy's
/// `X-Request-Id` or made up, and returns the id in the response. The query is left out
/// of the span, and no header is recorded: one of them is the identity token.
async fn request_span(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(new_request_id, str::to_owned);
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |path| path.as_str().to_owned(),
    );
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        route = %route,
    );

    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Sixteen random hex digits, or a fixed mark if the system has no randomness to give.
fn new_request_id() -> String {
    let mut bytes = [0_u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Err(_) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    use super::openapi::ApiDoc;

    #[test]
    fn the_openapi_document_is_version_3_1() {
        let document = ApiDoc::openapi();
        let json = serde_json::to_value(&document).unwrap_or_default();
        assert!(
            json["openapi"]
                .as_str()
                .is_some_and(|version| version.starts_with("3.1"))
        );
    }
}
