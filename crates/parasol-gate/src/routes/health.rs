//! Liveness, readiness, metrics, the JWKS and the pages' stylesheet.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::pages;
use crate::session_store::SessionStore;
use crate::state::Gate;

/// `GET /ping`: the process answers.
pub async fn ping() -> &'static str {
    "OK"
}

/// `GET /ready`: every provider's discovery has succeeded and Redis answers.
pub async fn ready(State(gate): State<Arc<Gate>>) -> Response {
    let mut missing = Vec::new();
    for provider in &gate.providers {
        if !provider.is_ready()
            && let Err(error) = provider.discover().await
        {
            tracing::warn!(%error, "provider not ready");
            missing.push(format!("provider {}", provider.id()));
        }
    }
    if let SessionStore::Redis(redis) = &gate.sessions {
        let mut redis = redis.clone();
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut redis).await;
        if pong.is_err() {
            missing.push("redis".to_owned());
        }
    }
    if missing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let text = format!("not ready: {}\n", missing.join(", "));
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(gate): State<Arc<Gate>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gate.metrics.render(),
    )
        .into_response()
}

/// `GET /oauth2/jwks.json`: the keys that verify identity tokens.
pub async fn jwks(State(gate): State<Arc<Gate>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            // Short, so that a rotated key is seen within minutes even by a verifier that
            // does not refetch on an unknown kid.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        gate.tokens.jwks().as_str().to_owned(),
    )
        .into_response()
}

/// `GET /oauth2/static/gate.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        pages::STYLESHEET,
    )
        .into_response()
}
