//! The browser against small local servers: cookies, recorded hops, forms.

use axum::Form as FormBody;
use axum::Router;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use parasol_testkit::{Browser, BrowserError};
use reqwest::Method;
use url::Url;

use crate::support::serve;

/// A site that sets a Secure `__Host-` cookie on plain http, redirects twice, echoes the
/// cookie back, and has a form that answers with a 307 to its POST.
async fn site() -> String {
    async fn start() -> impl IntoResponse {
        let cookie = "__Host-session=s1; Path=/; Secure; HttpOnly; SameSite=Lax";
        (
            StatusCode::FOUND,
            [(SET_COOKIE, cookie), (LOCATION, "/middle")],
        )
    }
    async fn middle() -> impl IntoResponse {
        (StatusCode::SEE_OTHER, [(LOCATION, "/end")])
    }
    async fn end(headers: HeaderMap) -> String {
        let cookie = headers.get("cookie").and_then(|value| value.to_str().ok());
        format!("cookie: {}", cookie.unwrap_or("none"))
    }
    async fn page() -> Html<&'static str> {
        Html(r#"<form method="post" action="/form"><input name="who" value="me"></form>"#)
    }
    async fn post(FormBody(fields): FormBody<Vec<(String, String)>>) -> impl IntoResponse {
        assert_eq!(fields, [("who".to_owned(), "me".to_owned())]);
        (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, "/end")])
    }

    let app = Router::new()
        .route("/start", get(start))
        .route("/middle", get(middle))
        .route("/end", get(end))
        .route("/form", get(page).post(post));
    format!("http://127.0.0.1:{}", serve(app).await)
}

#[tokio::test]
async fn follow_keeps_secure_cookies_on_loopback_and_records_each_hop() {
    let site = site().await;
    let browser = Browser::new().unwrap();

    let first = browser.get(format!("{site}/start")).await.unwrap();
    let last = browser.follow(first).await.unwrap();

    assert_eq!(last.text().await.unwrap(), "cookie: __Host-session=s1");
    let hops: Vec<_> = browser
        .hops()
        .into_iter()
        .map(|hop| (hop.url.path().to_owned(), hop.status.as_u16(), hop.location))
        .collect();
    let at = |path: &str| Some(Url::parse(&format!("{site}{path}")).unwrap());
    assert_eq!(
        hops,
        [
            ("/start".to_owned(), 302, at("/middle")),
            ("/middle".to_owned(), 303, at("/end")),
            ("/end".to_owned(), 200, None),
        ]
    );
    let url = Url::parse(&site).unwrap();
    assert_eq!(
        browser.cookie(&url, "__Host-session").as_deref(),
        Some("s1")
    );
}

#[tokio::test]
async fn a_form_is_read_and_submitted_but_a_307_to_its_post_is_not_replayed() {
    let site = site().await;
    let browser = Browser::new().unwrap();

    let page = browser.get(format!("{site}/form")).await.unwrap();
    let form = browser.read_form(page).await.unwrap();
    let answer = browser.submit(&form).await.unwrap();
    let result = browser.next_hop(answer).await;

    assert_eq!(form.method, Method::POST);
    assert!(
        matches!(result, Err(BrowserError::RedirectKeepsBody { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn next_hop_refuses_what_is_not_a_redirect() {
    let site = site().await;
    let browser = Browser::new().unwrap();

    let end = browser.get(format!("{site}/end")).await.unwrap();
    let result = browser.next_hop(end).await;

    assert!(
        matches!(result, Err(BrowserError::NotARedirect { .. })),
        "{result:?}"
    );
}
