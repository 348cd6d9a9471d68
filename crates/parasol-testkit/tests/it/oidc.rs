//! The OpenID provider: discovery, the authorization-code flow with PKCE through its
//! development pages, the token, refresh and userinfo endpoints, and sign-out.

use axum::Router;
use axum::http::header::LOCATION;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parasol_testkit::{Browser, BrowserError, OidcProvider};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::support::{CLIENT_ID, CLIENT_SECRET, POST_CLIENT_ID, provider, serve};

/// A PKCE verifier of the length RFC 7636 asks for (43 to 128 characters).
const VERIFIER: &str = "testkit-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH";

async fn discovery(provider: &OidcProvider) -> Value {
    let response = reqwest::get(provider.discovery_url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The authorization request a relying party would send for `client_id`.
fn authorization_url(discovery: &Value, client_id: &str, app: &str, pkce: bool) -> Url {
    let mut url = Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &format!("{app}/oauth2/callback"))
        .append_pair("scope", "openid email profile groups")
        .append_pair("state", "state-1")
        .append_pair("nonce", "nonce-1");
    if pkce {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        url.query_pairs_mut()
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
    }
    url
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Signs Alice in for `client_id` and returns the code from the callback hop.
async fn sign_in(browser: &Browser, discovery: &Value, client_id: &str, app: &str) -> String {
    let start = browser
        .get(authorization_url(discovery, client_id, app, true))
        .await
        .unwrap();
    let callback = browser
        .sign_in_at_oidc_provider(start, "alice", "any password")
        .await
        .unwrap();

    let location = browser.hops().last().unwrap().location.clone().unwrap();
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location.path(), "/oauth2/callback");
    assert_eq!(query(&location, "state").as_deref(), Some("state-1"));
    assert_eq!(
        query(&location, "iss").as_deref(),
        discovery["issuer"].as_str()
    );
    query(&location, "code").unwrap()
}

/// The claims of a JWT, unverified: what the provider put in it.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn redeem(discovery: &Value, app: &str, code: &str) -> Value {
    let response = reqwest::Client::new()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &format!("{app}/oauth2/callback")),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn discovery_offers_pkce_and_the_end_session_endpoint() {
    let (provider, _) = provider().await;

    let discovery = discovery(&provider).await;

    assert!(provider.issuer().starts_with("http://127.0.0.1:"));
    assert_eq!(discovery["issuer"], provider.issuer());
    let end_session = discovery["end_session_endpoint"].as_str().unwrap();
    assert_eq!(end_session, format!("{}/session/end", provider.issuer()));
    let methods = discovery["code_challenge_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&Value::from("S256")), "{methods:?}");
    let scopes = discovery["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&Value::from("groups")), "{scopes:?}");
    assert!(discovery["userinfo_endpoint"].is_string());
}

#[tokio::test]
async fn code_flow_with_pkce_yields_id_and_refresh_tokens_with_email_and_groups() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();

    // Sign in through the provider's pages, stopping at the hop back to the app.
    let code = sign_in(&browser, &discovery, CLIENT_ID, &app).await;
    let tokens = redeem(&discovery, &app, &code).await;

    // The ID token speaks of Alice, for this client, with her email and groups.
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], provider.issuer());
    assert_eq!(id_token["aud"], CLIENT_ID);
    assert_eq!(id_token["sub"], "alice");
    assert_eq!(id_token["nonce"], "nonce-1");
    assert_eq!(id_token["email"], "alice@example.test");
    assert_eq!(id_token["email_verified"], true);
    assert_eq!(id_token["name"], "Alice Example");
    assert_eq!(id_token["groups"], serde_json::json!(["staff", "admins"]));
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");

    // The refresh token buys a new ID token; the access token reads userinfo.
    let refreshed: Value = reqwest::Client::new()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(refreshed["id_token"].as_str().unwrap())["sub"],
        "alice"
    );
    let userinfo: Value = reqwest::Client::new()
        .get(discovery["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "alice@example.test");
    assert_eq!(userinfo["groups"], serde_json::json!(["staff", "admins"]));
}

#[tokio::test]
async fn every_hop_of_the_development_sign_in_is_recorded() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();

    sign_in(&browser, &discovery, CLIENT_ID, &app).await;

    // /auth -> login form -> /auth/<uid> -> consent form -> /auth/<uid> -> the app.
    let hops: Vec<_> = browser
        .hops()
        .iter()
        .map(|hop| {
            (
                hop.method.clone(),
                hop.status.as_u16(),
                first_segment(&hop.url),
            )
        })
        .collect();
    let expected = [
        (Method::GET, 303, "auth"),
        (Method::GET, 200, "interaction"),
        (Method::POST, 303, "interaction"),
        (Method::GET, 303, "auth"),
        (Method::GET, 200, "interaction"),
        (Method::POST, 303, "interaction"),
        (Method::GET, 303, "auth"),
    ];
    assert_eq!(
        hops,
        expected.map(|(m, s, p)| (m, s, p.to_owned())).to_vec()
    );
    assert_eq!(
        browser.hops()[0].location.as_ref().unwrap().origin(),
        Url::parse(provider.issuer()).unwrap().origin()
    );
    let last = browser.hops().last().unwrap().location.clone().unwrap();
    assert!(last.as_str().starts_with(&app), "{last}");
}

fn first_segment(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut segments| segments.next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn sign_in_starting_at_an_apps_redirect_stops_at_its_callback() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let auth = authorization_url(&discovery, CLIENT_ID, &app, true).to_string();
    let start = Router::new().route(
        "/start",
        get(move || async move { (StatusCode::FOUND, [(LOCATION, auth)]) }),
    );
    let start = format!("http://127.0.0.1:{}/start", serve(start).await);
    let browser = Browser::new().unwrap();

    let first = browser.get(start).await.unwrap();
    let callback = browser
        .sign_in_at_oidc_provider(first, "alice", "any")
        .await
        .unwrap();

    assert_eq!(
        callback.url().origin(),
        Url::parse(provider.issuer()).unwrap().origin()
    );
    let location = browser.hops().last().unwrap().location.clone().unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{app}/oauth2/callback?")),
        "{location}"
    );
    assert_eq!(browser.hops().len(), 8);
}

#[tokio::test]
async fn a_second_sign_in_within_the_provider_session_shows_no_forms() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();
    sign_in(&browser, &discovery, CLIENT_ID, &app).await;
    browser.clear_hops();

    sign_in(&browser, &discovery, CLIENT_ID, &app).await;

    let hops = browser.hops();
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert_eq!(first_segment(&hops[0].url), "auth");
}

#[tokio::test]
async fn a_client_may_authenticate_with_its_secret_in_the_body() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();
    let code = sign_in(&browser, &discovery, POST_CLIENT_ID, &app).await;

    let response = reqwest::Client::new()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{app}/oauth2/callback")),
            ("code_verifier", VERIFIER),
            ("client_id", POST_CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_authorization_request_without_pkce_is_refused() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();

    let url = authorization_url(&discovery, CLIENT_ID, &app, false);
    let response = browser.get(url).await.unwrap();

    // The error goes back to the registered redirect URI (RFC 6749, section 4.1.2.1).
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = browser.hops()[0].location.clone().unwrap();
    assert_eq!(
        query(&location, "error").as_deref(),
        Some("invalid_request")
    );
    let description = query(&location, "error_description").unwrap();
    assert!(description.contains("PKCE"), "{description}");
}

#[tokio::test]
async fn an_unknown_login_is_rejected() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();
    let start = browser
        .get(authorization_url(&discovery, CLIENT_ID, &app, true))
        .await
        .unwrap();

    let result = browser
        .sign_in_at_oidc_provider(start, "mallory", "guess")
        .await;

    assert!(
        matches!(&result, Err(BrowserError::LoginRejected { login }) if login == "mallory"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_rejected_for_a_user_who_has_one() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();
    let start = browser
        .get(authorization_url(&discovery, CLIENT_ID, &app, true))
        .await
        .unwrap();

    let result = browser
        .sign_in_at_oidc_provider(start, "bob", "wrong")
        .await;

    assert!(
        matches!(&result, Err(BrowserError::LoginRejected { login }) if login == "bob"),
        "{result:?}"
    );
    let start = browser
        .get(authorization_url(&discovery, CLIENT_ID, &app, true))
        .await
        .unwrap();
    let callback = browser
        .sign_in_at_oidc_provider(start, "bob", "hunter2")
        .await;
    assert_eq!(callback.unwrap().status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_at_the_provider_returns_to_the_post_logout_uri() {
    let (provider, app) = provider().await;
    let discovery = discovery(&provider).await;
    let browser = Browser::new().unwrap();
    let code = sign_in(&browser, &discovery, CLIENT_ID, &app).await;
    let tokens = redeem(&discovery, &app, &code).await;

    let mut end_session = Url::parse(discovery["end_session_endpoint"].as_str().unwrap()).unwrap();
    end_session
        .query_pairs_mut()
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", &format!("{app}/signed-out"))
        .append_pair("state", "bye");
    let page = browser.get(end_session).await.unwrap();
    let back = browser.sign_out_at_oidc_provider(page).await.unwrap();

    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let paths: Vec<_> = browser
        .hops()
        .iter()
        .map(|hop| hop.url.path().to_owned())
        .collect();
    assert!(
        paths.ends_with(&["/session/end".to_owned(), "/session/end/confirm".to_owned()]),
        "{paths:?}"
    );
    let location = browser.hops().last().unwrap().location.clone().unwrap();
    assert_eq!(location.path(), "/signed-out");
    assert_eq!(query(&location, "state").as_deref(), Some("bye"));

    // Signed out, the next authorization request shows the login form again.
    let start = browser
        .get(authorization_url(&discovery, CLIENT_ID, &app, true))
        .await
        .unwrap();
    let form = browser
        .read_form(browser.follow(start).await.unwrap())
        .await
        .unwrap();
    assert_eq!(form.field("prompt"), Some("login"));
}
