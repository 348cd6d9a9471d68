//! The local users' sign-in, end to end over HTTP.

use crate::support::{add_user, browser, csrf_of, location, spawn_gate};

async fn sign_in(
    client: &reqwest::Client,
    gate: &crate::support::TestGate,
    user: &str,
    password: &str,
    rd: &str,
) -> reqwest::Response {
    let page = client
        .get(gate.url(&format!("/oauth2/sign_in?rd={rd}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    client
        .post(gate.url("/oauth2/sign_in"))
        .form(&[
            ("username", user),
            ("password", password),
            ("csrf", &csrf),
            ("rd", rd),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_local_user_signs_in_and_gets_an_identity_token() {
    let gate = spawn_gate(
        |_| {},
        |dir| add_user(dir, "alice", "correct horse", &["staff"]),
    )
    .await;
    let client = browser();

    // No session yet: nginx would be told 401.
    let auth = client.get(gate.url("/oauth2/auth")).send().await.unwrap();
    assert_eq!(auth.status(), 401);

    // /oauth2/start sends a browser to the sign-in page, keeping rd.
    let start = client
        .get(gate.url("/oauth2/start?rd=/threads?x=1&y=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    assert_eq!(
        location(&start),
        "/oauth2/sign_in?rd=%2Fthreads%3Fx%3D1%26y%3D2"
    );

    let signed_in = sign_in(&client, &gate, "alice", "correct horse", "/threads?x=1&y=2").await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/threads?x=1&y=2");
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    let auth = client.get(gate.url("/oauth2/auth")).send().await.unwrap();
    assert_eq!(auth.status(), 200);
    let header = |name: &str| {
        auth.headers()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("x-auth-request-user"), "local:alice");
    assert_eq!(header("x-auth-request-email"), "alice@example.com");
    assert_eq!(header("x-auth-request-groups"), "staff");

    // The token verifies against the gateway's own JWKS.
    let jwks = client
        .get(gate.url("/oauth2/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let issuer = gate.url("");
    let verifier =
        parasol_identity::Verifier::from_jwks_json(&jwks, &issuer, "parasol-chat").unwrap();
    let claims = verifier.verify(&header("x-user-jwt")).unwrap();
    assert_eq!(claims.sub, "local:alice");
    assert_eq!(claims.name, "alice (display)");
    assert_eq!(claims.groups, vec!["staff".to_owned()]);

    let info: serde_json::Value = client
        .get(gate.url("/oauth2/userinfo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "alice@example.com");

    // Signing out ends it.
    let out = client
        .get(gate.url("/oauth2/sign_out"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 302);
    let auth = client.get(gate.url("/oauth2/auth")).send().await.unwrap();
    assert_eq!(auth.status(), 401);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let gate = spawn_gate(|_| {}, |dir| add_user(dir, "alice", "correct horse", &[])).await;
    let client = browser();
    let wrong = sign_in(&client, &gate, "alice", "wrong password", "/").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = sign_in(&client, &gate, "mallory", "wrong password", "/").await;
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown.status(), 401);
    let unknown_body = unknown.text().await.unwrap();
    let strip = |page: &str| page.replace("alice", "NAME").replace("mallory", "NAME");
    assert_eq!(
        strip(&wrong_body).split("csrf").count(),
        strip(&unknown_body).split("csrf").count()
    );
    assert!(wrong_body.contains("Wrong user name or password."));
    assert!(unknown_body.contains("Wrong user name or password."));
    assert_eq!(
        client
            .get(gate.url("/oauth2/auth"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_login_without_the_csrf_token_is_refused() {
    let gate = spawn_gate(|_| {}, |dir| add_user(dir, "alice", "correct horse", &[])).await;
    let client = browser();
    // A page visit sets the CSRF cookie, but the form sent does not carry its token.
    client
        .get(gate.url("/oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    let forged = client
        .post(gate.url("/oauth2/sign_in"))
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", "made-up"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // A form posted from another site is refused even with a good token.
    let page = client
        .get(gate.url("/oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let cross = client
        .post(gate.url("/oauth2/sign_in"))
        .header("origin", "https://evil.example")
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(
        client
            .get(gate.url("/oauth2/auth"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn repeated_failures_are_rate_limited_with_retry_after() {
    let gate = spawn_gate(
        |config| config.login_limit.free_failures = 3,
        |dir| add_user(dir, "alice", "correct horse", &[]),
    )
    .await;
    let client = browser();
    for _ in 0..3 {
        let failed = sign_in(&client, &gate, "alice", "nope nope", "/").await;
        assert_eq!(failed.status(), 401);
    }
    // The limit holds even for the right password, until the wait is over.
    let limited = sign_in(&client, &gate, "alice", "correct horse", "/").await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
}

#[tokio::test]
async fn a_signed_in_user_the_rules_keep_out_sees_a_403_page() {
    let gate = spawn_gate(
        |config| config.allow.groups = vec!["admins".into()],
        |dir| add_user(dir, "alice", "correct horse", &["staff"]),
    )
    .await;
    let client = browser();
    let denied = sign_in(&client, &gate, "alice", "correct horse", "/").await;
    assert_eq!(denied.status(), 403);
    assert!(
        denied
            .text()
            .await
            .unwrap()
            .contains("may not use this site")
    );
    assert_eq!(
        client
            .get(gate.url("/oauth2/auth"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn tampered_and_foreign_session_cookies_are_refused() {
    let gate = spawn_gate(|_| {}, |dir| add_user(dir, "alice", "correct horse", &[])).await;
    let client = browser();
    let signed_in = sign_in(&client, &gate, "alice", "correct horse", "/").await;
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("parasol_session="))
        .unwrap()
        .to_owned();
    let value = cookie
        .trim_start_matches("parasol_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let plain = reqwest::Client::new();
    let ask = |cookie: String| {
        let plain = plain.clone();
        let url = gate.url("/oauth2/auth");
        async move {
            plain
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(ask(format!("parasol_session={value}")).await, 200);

    let mut tampered = value.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(ask(format!("parasol_session={tampered}")).await, 401);
    // Two session cookies: one may be planted, so neither counts.
    assert_eq!(
        ask(format!("parasol_session={value}; parasol_session=x")).await,
        401
    );
    // A session sealed by another gateway's key does not open here.
    let other = spawn_gate(
        |config| {
            config.cookie_secret = Some("another-key-another-key-another-key!!".to_owned().into())
        },
        |_| {},
    )
    .await;
    let status = plain
        .get(other.url("/oauth2/auth"))
        .header("cookie", format!("parasol_session={value}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_sign_in_page_lists_every_provider_beside_the_local_form() {
    use parasol_gate::config::OidcProviderConfig;
    let provider = |id: &str, name: &str| OidcProviderConfig {
        id: id.into(),
        display_name: Some(name.into()),
        issuer: "http://127.0.0.1:9".into(),
        client_id: "parasol".into(),
        client_secret: None,
        client_secret_file: None,
        scopes: vec![],
        groups_claim: "groups".into(),
        algorithms: vec!["RS256".into()],
        accept_unverified_email: false,
    };
    let gate = spawn_gate(
        |config| config.oidc = vec![provider("corp", "Corp SSO"), provider("google", "<Google>")],
        |_| {},
    )
    .await;
    let client = browser();
    // With several ways in, /oauth2/start shows the choice.
    let start = client
        .get(gate.url("/oauth2/start?rd=/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&start), "/oauth2/sign_in?rd=%2Fx");
    let page = client
        .get(gate.url("/oauth2/sign_in?rd=/x"))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("href=\"/oauth2/start?provider=corp&amp;rd=%2Fx\""),
        "{html}"
    );
    assert!(html.contains("Sign in with Corp SSO"));
    assert!(
        html.contains("Sign in with &lt;Google&gt;"),
        "names are escaped"
    );
    assert!(html.contains("name=\"password\""));
    // An unreachable provider is a clear page, not a hang or a 500.
    let down = client
        .get(gate.url("/oauth2/start?provider=corp&rd=/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 502);
    assert!(down.text().await.unwrap().contains("cannot be reached"));
}

#[tokio::test]
async fn the_sign_in_page_keeps_referrers_on_site_so_browsers_send_a_real_origin() {
    // Under `no-referrer` a browser posts the login form with `Origin: null`, which the
    // CSRF check must refuse; the page therefore asks for `same-origin`.
    let gate = spawn_gate(|_| {}, |dir| add_user(dir, "alice", "correct horse", &[])).await;
    let client = browser();
    let page = client
        .get(gate.url("/oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let csrf = csrf_of(&page.text().await.unwrap());
    let null_origin = client
        .post(gate.url("/oauth2/sign_in"))
        .header("origin", "null")
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(null_origin.status(), 403);
    let own_origin = client
        .post(gate.url("/oauth2/sign_in"))
        .header("origin", gate.url(""))
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(own_origin.status(), 303);
}
