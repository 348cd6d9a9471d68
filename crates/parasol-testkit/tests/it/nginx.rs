//! nginx: proxying to a local server, `auth_request` in front of it, a rejected
//! configuration, and a clean stop.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use parasol_testkit::{Nginx, NginxError, free_port, wait_for_port};

use crate::support::serve;

/// The app behind nginx: says who nginx told it the user is.
async fn backend() -> u16 {
    async fn hello(headers: HeaderMap) -> String {
        let user = headers.get("x-user").and_then(|value| value.to_str().ok());
        format!("hello {}", user.unwrap_or("nobody"))
    }
    serve(Router::new().route("/hello", get(hello))).await
}

/// The auth server: 200 with the user for the right bearer token, 401 otherwise.
async fn auth_server() -> u16 {
    async fn check(headers: HeaderMap) -> impl IntoResponse {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        match authorization {
            Some("Bearer good") => (StatusCode::OK, [("x-user", "alice")]).into_response(),
            _ => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
    serve(Router::new().route("/auth", get(check))).await
}

/// nginx on a free port: `/open` proxied as is, `/hello` behind `auth_request`. The
/// protected location answers from `proxy_pass`: a `return` would run in the rewrite
/// phase, before `auth_request` checks anything.
fn servers(port: u16, backend: u16, auth: u16) -> String {
    format!(
        "server {{
    listen 127.0.0.1:{port};

    location = /_auth {{
        internal;
        proxy_pass http://127.0.0.1:{auth}/auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length \"\";
    }}

    location = /open {{
        proxy_pass http://127.0.0.1:{backend}/hello;
    }}

    location = /hello {{
        auth_request /_auth;
        auth_request_set $user $upstream_http_x_user;
        proxy_set_header X-User $user;
        proxy_pass http://127.0.0.1:{backend};
    }}
}}"
    )
}

async fn text(url: String, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn nginx_proxies_to_a_local_server() {
    let backend = backend().await;
    let port = free_port().unwrap();

    let nginx = Nginx::with_server_blocks(&servers(port, backend, backend), &[port])
        .await
        .unwrap();

    assert_eq!(nginx.url(), format!("http://127.0.0.1:{port}"));
    let (status, body) = text(format!("{}/open", nginx.url()), None).await;
    assert_eq!((status, body.as_str()), (200, "hello nobody"));
}

#[tokio::test]
async fn auth_request_lets_through_only_what_the_auth_server_accepts() {
    let (backend, auth) = (backend().await, auth_server().await);
    let port = free_port().unwrap();
    let nginx = Nginx::with_server_blocks(&servers(port, backend, auth), &[port])
        .await
        .unwrap();
    let url = format!("{}/hello", nginx.url());

    let (denied, _) = text(url.clone(), None).await;
    let (wrong, _) = text(url.clone(), Some("bad")).await;
    let (allowed, body) = text(url, Some("good")).await;

    assert_eq!(denied, 401);
    assert_eq!(wrong, 401);
    assert_eq!((allowed, body.as_str()), (200, "hello alice"));
}

#[tokio::test]
async fn a_whole_configuration_may_be_given() {
    let backend = backend().await;
    let port = free_port().unwrap();
    let config = format!(
        "events {{}}
http {{
    include temp_paths.conf;
    access_log logs/access.log;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}"
    );

    let nginx = Nginx::spawn(&config, &[port]).await.unwrap();

    let (status, _) = text(format!("{}/hello", nginx.url()), None).await;
    assert_eq!(status, 200);
    // nginx logs a request after answering it, so the line may come a moment later.
    let path = nginx.prefix().join("logs/access.log");
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&path).unwrap();
        if log.contains("GET /hello") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(log.contains("GET /hello"), "{log}");
}

#[tokio::test]
async fn a_broken_configuration_is_reported_with_nginx_s_words() {
    let port = free_port().unwrap();
    let servers = format!("server {{ listen 127.0.0.1:{port}; no_such_directive on; }}");

    let result = Nginx::with_server_blocks(&servers, &[port]).await;

    match result {
        Err(NginxError::Config { stderr }) => {
            assert!(stderr.contains("unknown directive"), "{stderr}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_port_already_taken_is_refused_before_nginx_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let servers = format!("server {{ listen 127.0.0.1:{port}; }}");

    let result = Nginx::with_server_blocks(&servers, &[port]).await;

    assert!(
        matches!(result, Err(NginxError::PortInUse { port: p }) if p == port),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_socket_nginx_cannot_bind_is_reported_with_its_words() {
    // `nginx -t` binds the listening sockets too, so the check before the start finds it.
    let port = free_port().unwrap();
    let servers = format!(
        "server {{ listen 127.0.0.1:{port}; listen unix:/nonexistent/parasol/nginx.sock; }}"
    );

    let result = Nginx::with_server_blocks(&servers, &[port]).await;

    match result {
        Err(NginxError::Config { stderr }) => {
            assert!(stderr.contains("bind() to unix:/nonexistent"), "{stderr}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn dropping_nginx_stops_master_and_workers() {
    let backend = backend().await;
    let port = free_port().unwrap();
    let nginx = Nginx::with_server_blocks(&servers(port, backend, backend), &[port])
        .await
        .unwrap();
    let prefix = nginx.prefix().to_owned();

    drop(nginx);

    assert!(!wait_for_port(port, Duration::from_millis(200)).await);
    assert!(!prefix.exists());
}
