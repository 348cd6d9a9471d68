//! Serving the gateway: the router with its request spans, on a listener.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Request;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::routes;
use crate::state::Gate;

/// The whole application: routes, request ids and one tracing span per request.
pub fn app(gate: Arc<Gate>) -> axum::Router {
    app_with(gate, None)
}

/// The gateway in front of an application in the same process (`parasol serve`): every
/// path that is not the gateway's own is checked and, when signed in, handed to `embedded`
/// with the identity headers, as the reverse proxy would.
pub fn app_with(gate: Arc<Gate>, embedded: Option<axum::Router>) -> axum::Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    routes::router(gate, embedded)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The query is left out: it can carry an authorization code.
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    id = %id,
                )
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    gate: Arc<Gate>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(app(gate), listener, shutdown).await
}

/// Serves an application built by [`app`] or [`app_with`] until `shutdown` resolves,
/// with the peer address the login limit needs.
pub async fn serve_app(
    app: axum::Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Without TCP_NODELAY, a streamed answer's small frames wait for the client's delayed
    // ACK (Nagle's algorithm), some 40 ms each time the stream pauses.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
