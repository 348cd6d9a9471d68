//! `/oauth2/callback`: the provider sends the browser back here with a code.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::respond::{html, redirect, with_cookies};
use super::session::save;
use super::start::Flow;
use crate::cookies;
use crate::pages;
use crate::session::Session;
use crate::state::{FLOW_LIFETIME, Gate};

/// The query of the callback (RFC 6749 section 4.1.2 and 4.1.2.1).
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /oauth2/callback?code=&state=`.
pub async fn callback(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let clear_flow = gate.cookies.clear(&gate.cookies.flow);
    let fail = |status: StatusCode, message: &str| {
        with_cookies(
            html(status, pages::sign_in_failed(message)),
            [clear_flow.clone()],
        )
    };

    let Some(flow) = read_flow(&gate, &headers) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was started in another browser. Start again.",
        );
    };
    let state = query.state.unwrap_or_default();
    if !bool::from(state.as_bytes().ct_eq(flow.secrets.state.as_bytes())) {
        tracing::warn!(provider = %flow.provider, "callback state does not match the flow");
        gate.metrics.sign_in(&flow.provider, "failed");
        return fail(
            StatusCode::BAD_REQUEST,
            "The sign-in answer does not match. Start again.",
        );
    }
    if !gate.used_states.first_use(&state).await {
        tracing::warn!(provider = %flow.provider, "callback state used twice");
        gate.metrics.sign_in(&flow.provider, "failed");
        return fail(
            StatusCode::BAD_REQUEST,
            "This sign-in answer was already used. Start again.",
        );
    }
    if let Some(error) = query.error {
        tracing::info!(provider = %flow.provider, %error, "the provider refused the sign-in");
        gate.metrics.sign_in(&flow.provider, "failed");
        return fail(StatusCode::FORBIDDEN, "The provider did not sign you in.");
    }
    let (Some(code), Some(provider)) = (query.code, gate.provider(&flow.provider)) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The sign-in answer is incomplete. Start again.",
        );
    };

    let signed_in = match provider.finish(&code, &flow.secrets).await {
        Ok(signed_in) => signed_in,
        Err(error) => {
            tracing::warn!(%error, "sign-in failed");
            gate.metrics.sign_in(&flow.provider, "failed");
            return fail(
                StatusCode::BAD_GATEWAY,
                "The provider's answer was refused. Start again.",
            );
        }
    };
    if !gate.rules.allows(&signed_in.user) {
        tracing::info!(subject = %signed_in.user.subject, "sign-in denied by the rules");
        gate.metrics.sign_in(&flow.provider, "forbidden");
        let who = signed_in
            .user
            .email
            .clone()
            .unwrap_or(signed_in.user.name.clone());
        return with_cookies(
            html(StatusCode::FORBIDDEN, pages::forbidden(&who)),
            [clear_flow],
        );
    }

    let now = gate.now();
    let Ok(mut session) = Session::new(signed_in.user, flow.provider.clone(), now) else {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, "Try again.");
    };
    session.refresh_token = signed_in.refresh_token;
    session.id_token = signed_in.id_token;
    session.refresh_at = signed_in
        .expires_in
        .map(|left| now.saturating_add(left.as_secs()));
    let Some(cookie) = save(&gate, &session).await else {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sessions cannot be stored right now.",
        );
    };
    tracing::info!(subject = %session.user.subject, provider = %flow.provider, "signed in");
    gate.metrics.sign_in(&flow.provider, "ok");
    with_cookies(redirect(&flow.rd), [clear_flow, cookie])
}

fn read_flow(gate: &Gate, headers: &HeaderMap) -> Option<Flow> {
    let sealed = cookies::read(headers, &gate.cookies.flow)?;
    let json = gate.sealer.open(&gate.cookies.flow, sealed)?;
    let flow: Flow = serde_json::from_str(&json).ok()?;
    // The cookie's Max-Age is only the browser's promise; the sealed start time is ours.
    (gate.now() < flow.started.saturating_add(FLOW_LIFETIME.as_secs())).then_some(flow)
}
