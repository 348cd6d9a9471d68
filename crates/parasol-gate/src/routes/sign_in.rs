//! `/oauth2/sign_in`: the sign-in page, and the local users' login form behind it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use parasol_identity::Identity;
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::respond::{html, redirect, with_cookies};
use super::session::{resolve, save};
use crate::cookies;
use crate::pages::{self, ProviderLink, SignInPage};
use crate::session::{Session, random_id};
use crate::state::Gate;

/// How long a login form stays usable.
const CSRF_LIFETIME: u64 = 3600;

/// The login form. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
    csrf: String,
    rd: Option<String>,
}

/// `GET /oauth2/sign_in?rd=`.
pub async fn page(
    State(gate): State<Arc<Gate>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = crate::redirect::StartQuery::parse(raw.as_deref());
    let rd = gate.redirects.target(query.rd.as_deref());
    if resolve(&gate, &headers).await.session.is_some() {
        return redirect(&rd);
    }
    render(&gate, &headers, &rd, "", None, StatusCode::OK)
}

/// The page, reusing the browser's CSRF token when it has a good one.
fn render(
    gate: &Gate,
    headers: &HeaderMap,
    rd: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let links: Vec<ProviderLink<'_>> = gate
        .providers
        .iter()
        .map(|p| ProviderLink {
            id: p.id(),
            name: p.display_name(),
        })
        .collect();
    let (csrf, cookie) = match gate.local_users {
        Some(_) => match csrf_token(gate, headers) {
            Some(found) => found,
            None => {
                return html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    pages::sign_in_failed("Try again."),
                );
            }
        },
        None => (String::new(), None),
    };
    let view = SignInPage {
        rd,
        providers: &links,
        csrf: gate.local_users.as_ref().map(|_| csrf.as_str()),
        username,
        error,
    };
    with_cookies(html(status, pages::sign_in(&view)), cookie)
}

/// The CSRF token: the one in the browser's cookie when it opens, else a new one with
/// the cookie that carries it. The form must send it back (a double submit); the sealed
/// cookie means a token cannot be made up even by someone who can plant cookies.
fn csrf_token(gate: &Gate, headers: &HeaderMap) -> Option<(String, Option<HeaderValue>)> {
    let name = &gate.cookies.csrf;
    if let Some(token) = cookies::read(headers, name).and_then(|v| gate.sealer.open(name, v)) {
        return Some((token, None));
    }
    let token = random_id().ok()?;
    let cookie = gate
        .cookies
        .set(name, gate.sealer.seal(name, &token), CSRF_LIFETIME);
    Some((token, Some(cookie)))
}

/// `POST /oauth2/sign_in`: checks a local user's name and password.
pub async fn submit(
    State(gate): State<Arc<Gate>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let rd = gate.redirects.target(form.rd.as_deref());
    let Some(users) = &gate.local_users else {
        return html(
            StatusCode::NOT_FOUND,
            pages::sign_in_failed("Local sign-in is off."),
        );
    };
    if !same_origin(&gate, &headers) || !csrf_matches(&gate, &headers, &form.csrf) {
        tracing::warn!(%peer, "login form refused: CSRF check failed");
        return render(
            &gate,
            &headers,
            &rd,
            "",
            Some("The form expired. Sign in again."),
            StatusCode::FORBIDDEN,
        );
    }

    let client = client_ip(&gate, peer.ip(), &headers);
    let username = form.username.trim().to_owned();
    if let Err(wait) = gate.limiter.check(client, &username) {
        gate.metrics.sign_in("local", "rate_limited");
        tracing::warn!(%client, "login rate limited");
        let seconds = wait.seconds();
        let mut response = render(
            &gate,
            &headers,
            &rd,
            &username,
            Some(&format!(
                "Too many failed attempts. Try again in {seconds} seconds."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }

    let Some(user) = users.verify(&username, &form.password).await else {
        gate.limiter.record_failure(client, &username);
        gate.metrics.sign_in("local", "failed");
        tracing::info!(%client, "local sign-in failed");
        return render(
            &gate,
            &headers,
            &rd,
            &username,
            Some("Wrong user name or password."),
            StatusCode::UNAUTHORIZED,
        );
    };
    gate.limiter.record_success(client, &username);

    let identity = Identity {
        subject: format!("local:{}", user.name),
        name: user
            .display_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
        email: user.email.clone(),
        groups: user.groups.clone(),
    };
    if !gate.rules.allows(&identity) {
        gate.metrics.sign_in("local", "forbidden");
        tracing::info!(subject = %identity.subject, "sign-in denied by the rules");
        return html(StatusCode::FORBIDDEN, pages::forbidden(&identity.name));
    }
    let Ok(session) = Session::new(identity, "local", gate.now()) else {
        return html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::sign_in_failed("Try again."),
        );
    };
    let Some(cookie) = save(&gate, &session).await else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::sign_in_failed("Sessions cannot be stored right now."),
        );
    };
    tracing::info!(subject = %session.user.subject, provider = "local", "signed in");
    gate.metrics.sign_in("local", "ok");
    // 303 so that a reload of the next page does not post the password again.
    let mut response = with_cookies(redirect(&rd), [cookie]);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

fn csrf_matches(gate: &Gate, headers: &HeaderMap, sent: &str) -> bool {
    let name = &gate.cookies.csrf;
    let Some(expected) = cookies::read(headers, name).and_then(|v| gate.sealer.open(name, v))
    else {
        return false;
    };
    !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// Browsers send `Origin` with every form post; when it is there it must be this site.
fn same_origin(gate: &Gate, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => true,
        Some(Ok(origin)) => url::Url::parse(origin)
            .map(|url| url.origin() == gate.site.origin())
            .unwrap_or(false),
        Some(Err(_)) => false,
    }
}

/// The client's address: the peer's, or the one a trusted proxy reports.
pub fn client_ip(gate: &Gate, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !gate.trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}
