//! The gateway's HTTP routes.

pub(crate) mod auth;
mod callback;
mod health;
pub(crate) mod respond;
mod session;
pub(crate) mod sign_in;
mod sign_out;
mod start;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::Gate;

pub use session::{Resolved, resolve};

/// The gateway's own routes, with the headers every answer of its own carries; every
/// other path goes to `embedded` (an application in this process) when given, else to
/// the configured upstream in proxy mode, else nowhere (404).
pub fn router(gate: Arc<Gate>, embedded: Option<Router>) -> Router {
    let own = Router::new()
        .route("/oauth2/auth", get(auth::auth))
        .route("/oauth2/start", get(start::start))
        .route("/oauth2/sign_in", get(sign_in::page).post(sign_in::submit))
        .route("/oauth2/callback", get(callback::callback))
        .route(
            "/oauth2/sign_out",
            get(sign_out::sign_out).post(sign_out::sign_out),
        )
        .route("/oauth2/userinfo", get(auth::userinfo))
        .route("/oauth2/jwks.json", get(health::jwks))
        .route("/oauth2/forbidden", get(auth::forbidden))
        .route("/oauth2/static/gate.css", get(health::stylesheet))
        .route("/ping", get(health::ping))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        // Sign-in forms are small; nothing the gateway accepts is larger.
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(fixed_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed_header(header::X_FRAME_OPTIONS, "DENY"))
        // The callback URL carries the authorization code: no other site may see it in a
        // referrer. `same-origin` rather than `no-referrer`, because under `no-referrer`
        // browsers send `Origin: null` with the login form, which the CSRF check refuses.
        .layer(fixed_header(header::REFERRER_POLICY, "same-origin"))
        .layer(fixed_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ));
    let app = own.with_state(gate.clone());
    if let Some(embedded) = embedded {
        return app.fallback(move |request: axum::extract::Request| {
            crate::proxy::handle_embedded(gate.clone(), embedded.clone(), request)
        });
    }
    match gate.proxy.clone() {
        Some(proxy) => app.fallback(move |request: axum::extract::Request| {
            crate::proxy::handle(gate.clone(), proxy.clone(), request)
        }),
        None => app,
    }
}

fn fixed_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
