//! `/oauth2/start`: begins a sign-in, at a provider or on the sign-in page.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::redirect::StartQuery;

use super::respond::{html, redirect, with_cookies};
use super::session::resolve;
use crate::oidc::FlowSecrets;
use crate::pages;
use crate::state::{FLOW_LIFETIME, Gate};

/// A sign-in in flight at a provider, sealed in the flow cookie.
#[derive(Serialize, Deserialize)]
pub struct Flow {
    /// The provider's id.
    pub provider: String,
    /// Where to go afterwards (checked when the flow began).
    pub rd: String,
    /// When the flow began.
    pub started: u64,
    /// `state`, `nonce` and the PKCE verifier.
    pub secrets: FlowSecrets,
}

/// `GET /oauth2/start?rd=&provider=`.
pub async fn start(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = StartQuery::parse(raw.as_deref());
    let rd = gate.redirects.target(query.rd.as_deref());
    if resolve(&gate, &headers).await.session.is_some() {
        return redirect(&rd);
    }

    // With one provider and no local form there is nothing to choose.
    let only = match (gate.providers.as_slice(), &gate.local_users) {
        ([one], None) => Some(one.id().to_owned()),
        _ => None,
    };
    let Some(id) = query.provider.or(only) else {
        let page = format!(
            "/oauth2/sign_in?rd={}",
            url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
        );
        return redirect(&page);
    };
    let Some(provider) = gate.provider(&id) else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::sign_in_failed("There is no such sign-in provider."),
        );
    };

    let (url, secrets) = match provider.authorize().await {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "cannot start a sign-in");
            return html(
                StatusCode::BAD_GATEWAY,
                pages::sign_in_failed(&format!(
                    "{} cannot be reached right now. Try again in a moment.",
                    provider.display_name()
                )),
            );
        }
    };
    let flow = Flow {
        provider: id,
        rd,
        started: gate.now(),
        secrets,
    };
    let Ok(json) = serde_json::to_string(&flow) else {
        return html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::sign_in_failed("Try again."),
        );
    };
    let sealed = gate.sealer.seal(&gate.cookies.flow, &json);
    let cookie = gate
        .cookies
        .set(&gate.cookies.flow, sealed, FLOW_LIFETIME.as_secs());
    with_cookies(redirect(url.as_str()), [cookie])
}
