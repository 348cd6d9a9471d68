//! Sign-in through a real OpenID provider (npm `oidc-provider`), with a browserless client
//! that keeps cookies and submits the provider's own forms.

use parasol_gate::config::OidcProviderConfig;
use parasol_testkit::{Browser, Client, OidcProvider, ProviderSetup, User};
use tokio::net::TcpListener;
use url::Url;

use crate::support::{TestGate, spawn_gate_on};

const SECRET: &str = "a-client-secret-for-tests";

/// A provider that knows the gateway about to listen on `listener`, and that gateway.
async fn provider_and_gate(allow_groups: &[&str]) -> (OidcProvider, TestGate) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let client = Client::new("parasol", SECRET, &format!("{base}/oauth2/callback"))
        .with_post_logout_redirect_uri(&format!("{base}/oauth2/sign_in"));
    let provider = OidcProvider::spawn(ProviderSetup {
        clients: vec![client],
        users: vec![
            User::new("alice", "alice@example.com", "Alice Liddell").with_groups(&["staff"]),
            User::new("bob", "bob@example.com", "Bob").with_groups(&["visitors"]),
        ],
        ..ProviderSetup::default()
    })
    .await
    .unwrap();
    let issuer = provider.issuer().to_owned();
    let groups: Vec<String> = allow_groups.iter().map(|g| g.to_string()).collect();
    let gate = spawn_gate_on(
        listener,
        move |config| {
            config.local_users.enabled = false;
            config.allow.groups = groups;
            config.oidc = vec![OidcProviderConfig {
                id: "corp".into(),
                display_name: Some("Corp SSO".into()),
                issuer,
                client_id: "parasol".into(),
                client_secret: Some(SECRET.to_owned().into()),
                client_secret_file: None,
                scopes: ["email", "profile", "groups", "offline_access"]
                    .map(String::from)
                    .to_vec(),
                groups_claim: "groups".into(),
                algorithms: vec!["RS256".into()],
                accept_unverified_email: false,
            }];
        },
        |_| {},
    )
    .await;
    (provider, gate)
}

/// Runs the sign-in up to the provider's redirect back to the gateway, unfollowed.
async fn to_callback(browser: &Browser, gate: &TestGate, login: &str) -> reqwest::Response {
    let start = browser
        .get(gate.url("/oauth2/start?rd=/threads/7?tab=steps"))
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    browser
        .sign_in_at_oidc_provider(start, login, "any password")
        .await
        .unwrap()
}

fn location(response: &reqwest::Response) -> Url {
    let text = response.headers()["location"].to_str().unwrap();
    response.url().join(text).unwrap()
}

#[tokio::test]
async fn a_person_signs_in_at_the_provider_and_out_again() {
    let (provider, gate) = provider_and_gate(&[]).await;
    let browser = Browser::new().unwrap();

    let callback = to_callback(&browser, &gate, "alice").await;
    let back = location(&callback);
    assert_eq!(back.path(), "/oauth2/callback");
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(query.iter().any(|(k, _)| k == "code"), "{back}");

    // The authorization request asked for PKCE with S256.
    let asked = browser.hops()[0].location.clone().unwrap();
    assert!(asked.as_str().starts_with(provider.issuer()));
    let pairs: Vec<(String, String)> = asked.query_pairs().into_owned().collect();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("nonce").is_some() && param("state").is_some());

    let done = browser.next_hop(callback).await.unwrap();
    assert_eq!(
        done.status(),
        302,
        "{}",
        done.text().await.unwrap_or_default()
    );
    assert_eq!(done.headers()["location"], "/threads/7?tab=steps");

    let auth = browser.get(gate.url("/oauth2/auth")).await.unwrap();
    assert_eq!(auth.status(), 200);
    let token = auth.headers()["x-user-jwt"].to_str().unwrap().to_owned();
    let jwks = reqwest::get(gate.url("/oauth2/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier =
        parasol_identity::Verifier::from_jwks_json(&jwks, gate.url(""), "parasol-chat").unwrap();
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(claims.sub, "corp:alice");
    assert_eq!(claims.name, "Alice Liddell");
    assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
    assert_eq!(claims.groups, vec!["staff".to_owned()]);

    // The session holds a refresh token (offline_access), so it can be extended.
    let session = current_session(&gate, &browser).await;
    assert!(session.refresh_token.is_some());

    // Signing out goes through the provider's end_session_endpoint and back.
    let out = browser.get(gate.url("/oauth2/sign_out")).await.unwrap();
    let at_provider = location(&out);
    assert!(
        at_provider.as_str().starts_with(provider.issuer()),
        "{at_provider}"
    );
    assert!(at_provider.query_pairs().any(|(k, _)| k == "id_token_hint"));
    let back = browser.sign_out_at_oidc_provider(out).await.unwrap();
    assert_eq!(location(&back).path(), "/oauth2/sign_in");
    assert_eq!(
        browser
            .get(gate.url("/oauth2/auth"))
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn current_session(gate: &TestGate, browser: &Browser) -> parasol_gate::session::Session {
    let url = Url::parse(&gate.url("/")).unwrap();
    let value = browser.cookie(&url, "parasol_session").unwrap();
    let g = &gate.gate;
    g.sessions
        .load(&g.sealer, &g.cookies.session, &value)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_session_is_extended_with_its_refresh_token() {
    let (_provider, gate) = provider_and_gate(&[]).await;
    let browser = Browser::new().unwrap();
    let callback = to_callback(&browser, &gate, "alice").await;
    browser.next_hop(callback).await.unwrap();

    // Make the session due for a refresh by sealing it again with refresh_at in the past.
    let mut session = current_session(&gate, &browser).await;
    let old_refresh = session.refresh_token.clone().unwrap();
    session.refresh_at = Some(1);
    let g = &gate.gate;
    let value = g
        .sessions
        .save(&g.sealer, &g.cookies.session, &session, 600)
        .await
        .unwrap();

    let auth = reqwest::Client::new()
        .get(gate.url("/oauth2/auth"))
        .header("cookie", format!("parasol_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), 200);
    let renewed = auth
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("parasol_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .unwrap();
    let refreshed = g
        .sessions
        .load(&g.sealer, &g.cookies.session, &renewed)
        .await
        .unwrap()
        .unwrap();
    assert!(refreshed.refresh_at.unwrap() > 1);
    assert_eq!(refreshed.user.subject, "corp:alice");
    let text = g.metrics.render();
    assert!(
        text.contains("parasol_gate_refreshes_total{result=\"ok\"} 1"),
        "{text}"
    );
    // oidc-provider keeps a confidential client's refresh token, and the session keeps it.
    assert_eq!(refreshed.refresh_token.unwrap(), old_refresh);
}

#[tokio::test]
async fn a_callback_with_a_wrong_state_is_refused() {
    let (_provider, gate) = provider_and_gate(&[]).await;
    let browser = Browser::new().unwrap();
    let callback = to_callback(&browser, &gate, "alice").await;
    let mut back = location(&callback);
    let pairs: Vec<(String, String)> = back
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forged".into())
            } else {
                (k, v)
            }
        })
        .collect();
    back.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = browser.get(back).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        browser
            .get(gate.url("/oauth2/auth"))
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_replayed_callback_is_refused_by_the_state_and_then_by_the_provider() {
    let (_provider, gate) = provider_and_gate(&[]).await;
    let browser = Browser::new().unwrap();
    let callback = to_callback(&browser, &gate, "alice").await;
    let back = location(&callback);
    let site = Url::parse(&gate.url("/")).unwrap();
    let flow = browser.cookie(&site, "parasol_session_flow").unwrap();
    assert_eq!(browser.next_hop(callback).await.unwrap().status(), 302);

    // An attacker who copied the callback URL and the flow cookie replays both.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let again = replay
        .get(back.clone())
        .header("cookie", format!("parasol_session_flow={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "state used twice");

    // A second gateway (same cookie key, no shared state store) lets the state through,
    // and the provider refuses the code it already redeemed.
    let other = crate::support::spawn_gate(
        |config| {
            config.local_users.enabled = false;
            config.oidc = gate_config_oidc(&gate);
        },
        |_| {},
    )
    .await;
    let mut elsewhere = back.clone();
    elsewhere.set_port(Some(other.addr.port())).unwrap();
    let redeemed = replay
        .get(elsewhere)
        .header("cookie", format!("parasol_session_flow={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 502, "the provider refuses a used code");
    assert!(!redeemed.headers().get_all("set-cookie").iter().any(|v| {
        v.to_str()
            .unwrap_or_default()
            .starts_with("parasol_session=")
            && !v.to_str().unwrap_or_default().contains("Max-Age=0")
    }));
}

fn gate_config_oidc(gate: &TestGate) -> Vec<OidcProviderConfig> {
    gate.gate
        .providers
        .iter()
        .map(|p| p.config().clone())
        .collect()
}

#[tokio::test]
async fn a_person_outside_the_allowed_groups_gets_no_session() {
    let (_provider, gate) = provider_and_gate(&["staff"]).await;
    let browser = Browser::new().unwrap();
    let callback = to_callback(&browser, &gate, "bob").await;
    let denied = browser.next_hop(callback).await.unwrap();
    assert_eq!(denied.status(), 403);
    assert!(denied.text().await.unwrap().contains("bob@example.com"));
    assert_eq!(
        browser
            .get(gate.url("/oauth2/auth"))
            .await
            .unwrap()
            .status(),
        401
    );
}
