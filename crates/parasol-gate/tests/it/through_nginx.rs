//! The shipped `deploy/nginx/parasol.conf` in a real nginx: sign-in, identity headers a
//! client cannot forge, the internal auth endpoint, oversize headers; and the gateway's
//! own proxy mode, streaming and stripping the same headers.

use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures::StreamExt;
use parasol_testkit::{Nginx, free_port};
use tokio::net::TcpListener;

use crate::support::{TestGate, add_user, browser, csrf_of, location, spawn_gate_on};

/// A stand-in chat server: tells what identity headers reached it, and streams events.
async fn spawn_chat() -> u16 {
    async fn whoami(headers: HeaderMap) -> String {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        serde_json::json!({
            "jwt": header("x-user-jwt"),
            "user": header("x-auth-request-user"),
            "email": header("x-auth-request-email"),
            "forwarded_for": header("x-forwarded-for"),
            "cookie": header("cookie"),
        })
        .to_string()
    }
    async fn stream() -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
        let ticks = futures::stream::iter(0..3).then(|i| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            Ok(Event::default().data(format!("tick {i}")))
        });
        Sse::new(ticks)
    }
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/stream", get(stream));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// nginx with the shipped configuration, its ports swapped for the test's.
async fn nginx_for(gate_port: u16, chat_port: u16, port: u16) -> Nginx {
    let shipped = include_str!("../../../../deploy/nginx/parasol.conf");
    let config = shipped
        .replace("127.0.0.1:4180", &format!("127.0.0.1:{gate_port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{chat_port}"))
        .replace("listen 8000;", &format!("listen 127.0.0.1:{port};"));
    assert_ne!(config, shipped);
    Nginx::with_server_blocks(&config, &[port]).await.unwrap()
}

struct Site {
    base: String,
    _gate: TestGate,
    _nginx: Option<Nginx>,
}

/// The article's topology: nginx in front, the gateway deciding, the chat server behind.
async fn behind_nginx() -> Site {
    let chat = spawn_chat().await;
    let port = free_port().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let public = base.clone();
    let gate = spawn_gate_on(
        listener,
        move |config| config.public_url = Some(public),
        |dir| add_user(dir, "alice", "correct horse", &[]),
    )
    .await;
    let nginx = nginx_for(gate_port, chat, port).await;
    Site {
        base,
        _gate: gate,
        _nginx: Some(nginx),
    }
}

/// The gateway as the reverse proxy itself.
async fn proxy_mode() -> Site {
    let chat = spawn_chat().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gate = spawn_gate_on(
        listener,
        move |config| config.upstream = Some(format!("http://127.0.0.1:{chat}")),
        |dir| add_user(dir, "alice", "correct horse", &[]),
    )
    .await;
    Site {
        base,
        _gate: gate,
        _nginx: None,
    }
}

/// Signs alice in the way a browser would: the protected page sends it to sign in.
async fn sign_in(site: &Site) -> reqwest::Client {
    let client = browser();
    let first = client
        .get(format!("{}/whoami", site.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 302);
    // nginx writes `$request_uri` as it is and makes the URL absolute; the gateway
    // escapes it. Both come back to the same page.
    let to_start = location(&first).trim_start_matches(&site.base).to_owned();
    assert!(
        to_start == "/oauth2/start?rd=/whoami" || to_start == "/oauth2/start?rd=%2Fwhoami",
        "{to_start}"
    );
    let start = client
        .get(format!("{}{}", site.base, to_start))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let page = client
        .get(format!("{}{}", site.base, location(&start)))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let done = client
        .post(format!("{}/oauth2/sign_in", site.base))
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", csrf.as_str()),
            ("rd", "/whoami"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/whoami");
    client
}

async fn whoami(client: &reqwest::Client, site: &Site, forged: bool) -> serde_json::Value {
    let mut request = client.get(format!("{}/whoami", site.base));
    if forged {
        request = request
            .header("x-user-jwt", "forged.token.here")
            .header("x-auth-request-user", "admin")
            .header("x-auth-request-email", "admin@example.com")
            .header("x-forwarded-for", "10.9.9.9");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn check_identity_headers_cannot_be_forged(site: Site) {
    // Without a session, forged headers get nowhere near the chat server.
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = stranger
        .get(format!("{}/whoami", site.base))
        .header("x-user-jwt", "forged.token.here")
        .header("x-auth-request-user", "admin")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(refused.status().as_u16(), 302 | 401),
        "{}",
        refused.status()
    );

    let client = sign_in(&site).await;
    let honest = whoami(&client, &site, false).await;
    assert_eq!(honest["user"], "local:alice");
    assert_eq!(honest["jwt"].as_str().unwrap().split('.').count(), 3);

    let forged = whoami(&client, &site, true).await;
    assert_eq!(forged["user"], "local:alice");
    assert_eq!(forged["email"], "alice@example.com");
    assert_ne!(forged["jwt"], "forged.token.here");
    assert_eq!(forged["forwarded_for"], "127.0.0.1");
}

#[tokio::test]
async fn through_nginx_a_client_cannot_forge_identity_headers() {
    check_identity_headers_cannot_be_forged(behind_nginx().await).await;
}

#[tokio::test]
async fn in_proxy_mode_a_client_cannot_forge_identity_headers() {
    let site = proxy_mode().await;
    check_identity_headers_cannot_be_forged(site).await;
}

#[tokio::test]
async fn in_proxy_mode_the_session_cookie_is_not_passed_upstream() {
    let site = proxy_mode().await;
    let client = sign_in(&site).await;
    let seen = whoami(&client, &site, false).await;
    assert!(
        !seen["cookie"].as_str().unwrap().contains("parasol_session"),
        "{seen}"
    );
}

#[tokio::test]
async fn through_nginx_the_auth_endpoint_is_internal_and_oversize_headers_are_refused() {
    let site = behind_nginx().await;
    let client = sign_in(&site).await;
    // nginx answers /oauth2/auth only as a subrequest: a browser never sees the token.
    let direct = client
        .get(format!("{}/oauth2/auth", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 404);
    assert!(direct.headers().get("x-user-jwt").is_none());

    let huge = "a".repeat(20_000);
    let oversize = client
        .get(format!("{}/whoami", site.base))
        .header("x-padding", huge)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(oversize.status().as_u16(), 400 | 431 | 494),
        "{}",
        oversize.status()
    );
}

async fn check_streams_unbuffered(site: Site) {
    let client = sign_in(&site).await;
    let started = std::time::Instant::now();
    let response = client
        .get(format!("{}/stream", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("tick 0"));
    // The last tick is written 1.4 s after the first: a buffering proxy would hold the
    // first until then.
    assert!(
        first_at < Duration::from_millis(1000),
        "first event after {first_at:?}"
    );
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).contains("tick 2"));
}

#[tokio::test]
async fn through_nginx_server_sent_events_stream_unbuffered() {
    check_streams_unbuffered(behind_nginx().await).await;
}

#[tokio::test]
async fn in_proxy_mode_server_sent_events_stream_unbuffered() {
    check_streams_unbuffered(proxy_mode().await).await;
}

/// A stand-in chat server with a WebSocket that echoes, upper-cased.
async fn spawn_websocket_echo() -> u16 {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    async fn upgrade(ws: WebSocketUpgrade, headers: HeaderMap) -> axum::response::Response {
        let user = headers
            .get("x-auth-request-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        ws.on_upgrade(move |mut socket| async move {
            while let Some(Ok(Message::Text(text))) = socket.recv().await {
                let reply = format!("{user}: {}", text.to_uppercase());
                if socket.send(Message::Text(reply.into())).await.is_err() {
                    break;
                }
            }
        })
    }
    let app = Router::new()
        .route("/ws", get(upgrade))
        .route("/whoami", get(|| async { "{}" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn check_websocket(base: &str, cookie: &str) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("x-auth-request-user", "admin".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "local:alice: HELLO");
    socket.send(Message::text("again")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "local:alice: AGAIN");
}

/// The session cookie of a client that signed in at `base`.
async fn session_cookie(base: &str) -> String {
    let client = browser();
    let page = client
        .get(format!("{base}/oauth2/sign_in"))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let done = client
        .post(format!("{base}/oauth2/sign_in"))
        .form(&[
            ("username", "alice"),
            ("password", "correct horse"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    done.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("parasol_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .unwrap()
}

#[tokio::test]
async fn websocket_upgrades_pass_through_nginx_and_proxy_mode_with_the_gateways_identity() {
    let echo = spawn_websocket_echo().await;

    // Proxy mode.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_base = format!("http://{}", listener.local_addr().unwrap());
    let _proxy = spawn_gate_on(
        listener,
        move |config| config.upstream = Some(format!("http://127.0.0.1:{echo}")),
        |dir| add_user(dir, "alice", "correct horse", &[]),
    )
    .await;
    let cookie = session_cookie(&proxy_base).await;
    check_websocket(&proxy_base, &cookie).await;

    // nginx with the shipped configuration.
    let port = free_port().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_port = listener.local_addr().unwrap().port();
    let site = format!("http://127.0.0.1:{port}");
    let public = site.clone();
    let _gate = spawn_gate_on(
        listener,
        move |config| config.public_url = Some(public),
        |dir| add_user(dir, "alice", "correct horse", &[]),
    )
    .await;
    let _nginx = nginx_for(gate_port, echo, port).await;
    let cookie = session_cookie(&site).await;
    check_websocket(&site, &cookie).await;

    // Without a session there is no upgrade.
    let refused = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await;
    assert!(refused.is_err());
}
