//! `/oauth2/sign_out`: ends the session here and, when it offers that, at the provider.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::respond::{redirect, with_cookies};
use super::session::resolve;
use crate::state::Gate;

/// The query of `/oauth2/sign_out`.
#[derive(Debug, Deserialize)]
pub struct SignOutQuery {
    rd: Option<String>,
}

/// `GET` or `POST /oauth2/sign_out?rd=`.
pub async fn sign_out(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    Query(query): Query<SignOutQuery>,
) -> Response {
    let clear = gate.cookies.clear(&gate.cookies.session);
    let after = match query.rd.as_deref() {
        Some(rd) => gate.redirects.target(Some(rd)),
        None => "/oauth2/sign_in".to_owned(),
    };
    let Some(session) = resolve(&gate, &headers).await.session else {
        return with_cookies(redirect(&after), [clear]);
    };

    if let Err(error) = gate.sessions.delete(&session).await {
        tracing::error!(%error, "cannot delete a session at sign-out");
    }
    gate.tokens.forget(&session.id);
    gate.metrics.sign_outs.inc();
    tracing::info!(subject = %session.user.subject, "signed out");

    // The provider needs an absolute URL to send the browser back to.
    let back = gate
        .site
        .join(&after)
        .map(|url| url.to_string())
        .unwrap_or_else(|_| gate.site.to_string());
    let at_provider = match gate.provider(&session.provider) {
        Some(provider) => {
            provider
                .logout_url(session.id_token.as_deref(), &back)
                .await
        }
        None => None,
    };
    match at_provider {
        Some(url) => with_cookies(redirect(url.as_str()), [clear]),
        None => with_cookies(redirect(&after), [clear]),
    }
}
