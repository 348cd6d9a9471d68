//! `/oauth2/auth`, nginx's question about each request, and `/oauth2/userinfo`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::respond::{html, with_cookies};
use super::session::resolve;
use crate::pages;
use crate::session::Session;
use crate::state::Gate;

/// The identity headers the gateway sets; in proxy mode any a client sent are removed.
pub const IDENTITY_HEADERS: [&str; 5] = [
    "x-user-jwt",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
];

/// The outcome of checking a request.
pub enum Verdict {
    /// Signed in and allowed: the headers to pass on.
    Allowed(HeaderMap),
    /// No live session.
    Unauthenticated,
    /// Signed in, but the rules keep them out.
    Forbidden(Session),
    /// Something broke on our side.
    Failed,
}

/// Checks the request's session and, when it passes, makes the identity headers.
/// Returns the verdict and any `Set-Cookie` the session needs.
pub async fn check(gate: &Gate, headers: &HeaderMap) -> (Verdict, Option<HeaderValue>) {
    let resolved = resolve(gate, headers).await;
    let Some(session) = resolved.session else {
        gate.metrics.auth("unauthenticated");
        return (Verdict::Unauthenticated, resolved.set_cookie);
    };
    if !gate.rules.allows(&session.user) {
        gate.metrics.auth("forbidden");
        return (Verdict::Forbidden(session), resolved.set_cookie);
    }
    let token = match gate.tokens.token_for(&session.id, &session.user) {
        Ok((token, signed)) => {
            if signed {
                gate.metrics.tokens_signed.inc();
            }
            token
        }
        Err(error) => {
            tracing::error!(%error, "cannot sign an identity token");
            return (Verdict::Failed, resolved.set_cookie);
        }
    };
    gate.metrics.auth("ok");
    (
        Verdict::Allowed(identity_headers(&session, &token)),
        resolved.set_cookie,
    )
}

fn identity_headers(session: &Session, token: &str) -> HeaderMap {
    let user = &session.user;
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        // A value that cannot be a header (a name with line breaks, say) is left out; the
        // token carries every claim anyway.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-user-jwt", token);
    put("x-auth-request-user", &user.subject);
    if let Some(email) = &user.email {
        put("x-auth-request-email", email);
    }
    if !user.groups.is_empty() {
        put("x-auth-request-groups", &user.groups.join(","));
    }
    put("x-auth-request-preferred-username", &user.name);
    headers
}

/// `GET /oauth2/auth`: 200 with the identity headers, 401 without a session, 403 when the
/// rules keep the person out.
pub async fn auth(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    let (verdict, cookie) = check(&gate, &headers).await;
    let response = match verdict {
        Verdict::Allowed(identity) => (StatusCode::OK, identity).into_response(),
        Verdict::Unauthenticated => StatusCode::UNAUTHORIZED.into_response(),
        Verdict::Forbidden(_) => StatusCode::FORBIDDEN.into_response(),
        Verdict::Failed => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    with_cookies(response, cookie)
}

/// `GET /oauth2/userinfo`: who is signed in, as JSON.
pub async fn userinfo(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    let resolved = resolve(&gate, &headers).await;
    let response = match resolved.session {
        Some(session) => Json(serde_json::json!({
            "user": session.user.subject,
            "name": session.user.name,
            "email": session.user.email,
            "groups": session.user.groups,
            "provider": session.provider,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    };
    with_cookies(response, resolved.set_cookie)
}

/// `GET /oauth2/forbidden`: the page nginx shows (as its 403 error page) to a signed-in
/// person the rules keep out.
pub async fn forbidden(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    let resolved = resolve(&gate, &headers).await;
    let who = resolved
        .session
        .map(|s| s.user.email.unwrap_or(s.user.name))
        .unwrap_or_else(|| "someone".into());
    html(StatusCode::FORBIDDEN, pages::forbidden(&who))
}
