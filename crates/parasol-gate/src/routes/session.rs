//! Finding the session a request carries, and keeping it alive.

use axum::http::{HeaderMap, HeaderValue};

use crate::cookies;
use crate::session::{Expiry, Session};
use crate::state::Gate;

/// Touch a session at most this often: each touch re-seals the cookie (or writes Redis),
/// which nginx's once-per-request question would otherwise pay every time.
const TOUCH_INTERVAL: u64 = 60;

/// What a request's cookie amounts to.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The live session, if any.
    pub session: Option<Session>,
    /// A `Set-Cookie` to send back: the session re-sealed, or the cookie cleared.
    pub set_cookie: Option<HeaderValue>,
}

/// The request's live session: expired sessions are ended, sessions due a refresh are
/// refreshed at their provider, and sessions not touched for a while are touched.
pub async fn resolve(gate: &Gate, headers: &HeaderMap) -> Resolved {
    let name = &gate.cookies.session;
    let Some(value) = cookies::read(headers, name) else {
        return Resolved::default();
    };
    let session = match gate.sessions.load(&gate.sealer, name, value).await {
        Ok(Some(session)) => session,
        Ok(None) => return cleared(gate),
        Err(error) => {
            tracing::error!(%error, "cannot read the session store");
            return Resolved::default();
        }
    };

    let now = gate.now();
    match gate.lifetimes.check(&session, now) {
        Expiry::Live => {}
        expiry => {
            tracing::info!(session = %session.id, ?expiry, "session ended");
            let _ = gate.sessions.delete(&session).await;
            gate.tokens.forget(&session.id);
            return cleared(gate);
        }
    }

    let mut session = session;
    let mut changed = false;
    if session.refresh_at.is_some_and(|at| now >= at) {
        match refresh(gate, &mut session).await {
            Ok(()) => changed = true,
            Err(()) => {
                let _ = gate.sessions.delete(&session).await;
                gate.tokens.forget(&session.id);
                return cleared(gate);
            }
        }
    }
    if changed || now.saturating_sub(session.seen) >= TOUCH_INTERVAL {
        session.seen = now;
        return match save(gate, &session).await {
            Some(cookie) => Resolved {
                session: Some(session),
                set_cookie: Some(cookie),
            },
            None => Resolved {
                session: Some(session),
                set_cookie: None,
            },
        };
    }
    Resolved {
        session: Some(session),
        set_cookie: None,
    }
}

/// Stores `session` and returns the cookie that carries it.
pub async fn save(gate: &Gate, session: &Session) -> Option<HeaderValue> {
    let now = gate.now();
    let ttl = gate.lifetimes.remaining(session, now);
    let absolute = session
        .created
        .saturating_add(gate.lifetimes.absolute.as_secs())
        .saturating_sub(now);
    match gate
        .sessions
        .save(&gate.sealer, &gate.cookies.session, session, ttl)
        .await
    {
        Ok(value) => Some(gate.cookies.set(&gate.cookies.session, value, absolute)),
        Err(error) => {
            tracing::error!(%error, "cannot store the session");
            None
        }
    }
}

fn cleared(gate: &Gate) -> Resolved {
    Resolved {
        session: None,
        set_cookie: Some(gate.cookies.clear(&gate.cookies.session)),
    }
}

/// Asks the session's provider about the person again. Without a refresh token the
/// session simply lives on to its own limits.
async fn refresh(gate: &Gate, session: &mut Session) -> Result<(), ()> {
    let Some(token) = session.refresh_token.clone() else {
        session.refresh_at = None;
        return Ok(());
    };
    let Some(provider) = gate.provider(&session.provider) else {
        return Err(());
    };
    let sub = session
        .user
        .subject
        .strip_prefix(&format!("{}:", provider.id()))
        .unwrap_or_default()
        .to_owned();
    match provider.refresh(&token, &sub).await {
        Ok(signed_in) => {
            gate.metrics
                .refreshes
                .get_or_create(&crate::metrics::AuthLabels { result: "ok" })
                .inc();
            tracing::info!(session = %session.id, provider = %provider.id(), "session refreshed");
            session.user = signed_in.user;
            session.refresh_token = signed_in.refresh_token;
            if signed_in.id_token.is_some() {
                session.id_token = signed_in.id_token;
            }
            session.refresh_at = signed_in
                .expires_in
                .map(|left| gate.now().saturating_add(left.as_secs()));
            gate.tokens.forget(&session.id);
            Ok(())
        }
        Err(error) => {
            gate.metrics
                .refreshes
                .get_or_create(&crate::metrics::AuthLabels { result: "refused" })
                .inc();
            tracing::info!(session = %session.id, %error, "session refresh refused; session ended");
            Err(())
        }
    }
}
