//! The HTTP tool against a local server on 127.0.0.1: content handling, the bounds, and
//! refusals at redirects. Every request stays on the loopback range: redirect targets
//! that must be refused are themselves loopback addresses or names, so that even a
//! broken guard would send nothing off this machine.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parasol_agent::Tool;
use parasol_tools::http_request::{
    BodyFormat, GuardError, HttpRequestArgs, HttpRequestConfig, HttpRequestError, Method,
};
use serde_json::json;

use crate::support::{TableLookup, http_tool, local_config, spawn_server};

fn get(url: String) -> HttpRequestArgs {
    HttpRequestArgs {
        method: Method::Get,
        url,
        headers: BTreeMap::new(),
        body: None,
    }
}

#[tokio::test]
async fn html_is_returned_as_readable_text_without_scripts_or_styles() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let response = tool
        .call(get(format!("http://{server}/html")))
        .await
        .unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(response.format, BodyFormat::HtmlText);
    let text = response.body.as_str().unwrap();
    for expected in ["Heading", "Hello", "world", "one", "two", "next page"] {
        assert!(text.contains(expected), "{expected} missing from {text:?}");
    }
    for unwanted in ["<", "alert", "secret-script", "color: red"] {
        assert!(!text.contains(unwanted), "{unwanted} left in {text:?}");
    }
}

#[tokio::test]
async fn json_is_passed_through_as_json() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let response = tool
        .call(get(format!("http://{server}/json")))
        .await
        .unwrap();
    assert_eq!(response.format, BodyFormat::Json);
    assert_eq!(response.body, json!({"a": [1, 2], "b": null}));
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn text_is_returned_as_text_and_unlabelled_text_is_sniffed() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let text = tool
        .call(get(format!("http://{server}/text")))
        .await
        .unwrap();
    assert_eq!(
        (text.format, text.body),
        (BodyFormat::Text, json!("just text"))
    );

    let unlabelled = tool
        .call(get(format!("http://{server}/unlabelled")))
        .await
        .unwrap();
    assert_eq!(unlabelled.body, json!("plain words"));
}

#[tokio::test]
async fn binary_responses_are_refused() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    for path in ["png", "octets"] {
        let error = tool
            .call(get(format!("http://{server}/{path}")))
            .await
            .unwrap_err();
        assert!(
            matches!(error, HttpRequestError::Binary { .. }),
            "{path}: {error}"
        );
    }
}

#[tokio::test]
async fn bodies_past_the_size_cap_are_cut_off() {
    let server = spawn_server().await;
    let config = HttpRequestConfig {
        max_bytes: 1000,
        ..local_config()
    };
    let response = http_tool(config, TableLookup::default())
        .call(get(format!("http://{server}/big")))
        .await
        .unwrap();
    assert!(response.truncated);
    assert_eq!(response.body.as_str().unwrap().len(), 1000);
}

#[tokio::test]
async fn a_slow_server_runs_into_the_timeout() {
    let server = spawn_server().await;
    let config = HttpRequestConfig {
        timeout: Duration::from_millis(300),
        ..local_config()
    };
    let started = Instant::now();
    let error = http_tool(config, TableLookup::default())
        .call(get(format!("http://{server}/slow")))
        .await
        .unwrap_err();
    assert!(matches!(error, HttpRequestError::Timeout(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn redirects_within_the_allowlist_are_followed() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let response = tool
        .call(get(format!("http://{server}/to-json")))
        .await
        .unwrap();
    assert_eq!(response.url, format!("http://{server}/json"));
    assert_eq!(response.format, BodyFormat::Json);
}

#[tokio::test]
async fn redirects_past_the_cap_are_not_followed() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let error = tool
        .call(get(format!("http://{server}/loop")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, HttpRequestError::TooManyRedirects { max: 3, .. }),
        "{error}"
    );
}

fn refused_at_redirect(error: &HttpRequestError) -> bool {
    match error {
        HttpRequestError::Redirect { source, .. } => matches!(
            **source,
            HttpRequestError::Guard(GuardError::Address(_) | GuardError::Name { .. })
                | HttpRequestError::Guard(GuardError::Scheme(_))
                | HttpRequestError::Refused(_)
        ),
        _ => false,
    }
}

#[tokio::test]
async fn a_redirect_to_an_address_outside_the_allowlist_is_refused() {
    let server = spawn_server().await;
    let lookup = TableLookup::default().with("rebind.test", &["127.0.0.1"]);
    let tool = http_tool(local_config(), lookup);
    for path in [
        "to-other-loopback",
        "to-localhost",
        "to-rebinding-name",
        "to-file",
    ] {
        let error = tool
            .call(get(format!("http://{server}/{path}")))
            .await
            .unwrap_err();
        assert!(refused_at_redirect(&error), "{path}: {error:?}");
    }
}

#[tokio::test]
async fn loopback_is_refused_unless_allowlisted() {
    let server = spawn_server().await;
    let config = HttpRequestConfig {
        allow_hosts: Vec::new(),
        ..local_config()
    };
    let error = http_tool(config, TableLookup::default())
        .call(get(format!("http://{server}/json")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, HttpRequestError::Guard(GuardError::Address(_))),
        "{error}"
    );
}

#[tokio::test]
async fn a_name_is_checked_on_what_it_resolves_to() {
    let server = spawn_server().await;
    let port = server.port();
    let lookup = TableLookup::default()
        .with("allowed.test", &["127.0.0.1"])
        .with("sneaky.test", &["127.0.0.1"]);
    let config = HttpRequestConfig {
        allow_hosts: vec!["allowed.test".into()],
        ..local_config()
    };
    let tool = http_tool(config, lookup);

    let allowed = tool
        .call(get(format!("http://allowed.test:{port}/json")))
        .await;
    assert_eq!(allowed.unwrap().format, BodyFormat::Json);

    let error = tool
        .call(get(format!("http://sneaky.test:{port}/json")))
        .await
        .unwrap_err();
    assert!(matches!(error, HttpRequestError::Refused(_)), "{error:?}");
    assert!(error.to_string().contains("127.0.0.1"), "{error}");
}

#[tokio::test]
async fn post_sends_its_body_and_see_other_turns_it_into_a_get() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let post = |path: &str| HttpRequestArgs {
        method: Method::Post,
        url: format!("http://{server}/{path}"),
        headers: BTreeMap::from([("Content-Type".into(), "text/plain".into())]),
        body: Some("hello".into()),
    };

    let echoed = tool.call(post("echo")).await.unwrap().body;
    assert_eq!(
        (echoed["method"].clone(), echoed["body"].clone()),
        (json!("POST"), json!("hello"))
    );

    let redirected = tool.call(post("see-other")).await.unwrap().body;
    assert_eq!(
        (redirected["method"].clone(), redirected["body"].clone()),
        (json!("GET"), json!(""))
    );
}

#[tokio::test]
async fn framing_headers_and_bodies_on_get_are_refused() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    for name in ["Host", "Content-Length", "Transfer-Encoding", "connection"] {
        let mut args = get(format!("http://{server}/echo"));
        args.headers.insert(name.into(), "x".into());
        let error = tool.call(args).await.unwrap_err();
        assert!(
            matches!(error, HttpRequestError::Header { .. }),
            "{name}: {error}"
        );
    }
    let mut args = get(format!("http://{server}/echo"));
    args.body = Some("x".into());
    assert!(matches!(
        tool.call(args).await,
        Err(HttpRequestError::Body(_))
    ));
}

#[tokio::test]
async fn head_returns_the_status_without_a_body() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let mut args = get(format!("http://{server}/json"));
    args.method = Method::Head;
    let response = tool.call(args).await.unwrap();
    assert_eq!((response.status, response.format), (200, BodyFormat::Empty));
}

#[tokio::test]
async fn a_page_nested_just_within_the_render_limit_is_rendered() {
    let server = spawn_server().await;
    let config = HttpRequestConfig {
        max_bytes: 64 * 1024,
        ..local_config()
    };
    let response = http_tool(config, TableLookup::default())
        .call(get(format!("http://{server}/nested")))
        .await
        .unwrap();
    assert_eq!(response.format, BodyFormat::HtmlText);
    assert!(response.body.as_str().unwrap().contains("deep"));
}

#[tokio::test]
async fn a_page_nested_too_deeply_to_render_still_reads_as_text() {
    let server = spawn_server().await;
    let config = HttpRequestConfig {
        max_bytes: 2 * 1024 * 1024,
        ..local_config()
    };
    let response = http_tool(config, TableLookup::default())
        .call(get(format!("http://{server}/deep")))
        .await
        .unwrap();
    assert_eq!(response.body, json!("deep"));
}

#[tokio::test]
async fn invalid_urls_and_allowlists_are_reported() {
    let tool = http_tool(local_config(), TableLookup::default());
    let error = tool.call(get("not a url".into())).await.unwrap_err();
    assert!(
        matches!(error, HttpRequestError::InvalidUrl { .. }),
        "{error}"
    );

    let config = HttpRequestConfig {
        allow_hosts: vec!["bad host".into()],
        ..local_config()
    };
    let built = parasol_tools::HttpRequest::new(config);
    assert!(matches!(built, Err(HttpRequestError::InvalidAllowlist(_))));
}

#[tokio::test]
async fn a_temporary_redirect_repeats_the_post_with_its_body() {
    let server = spawn_server().await;
    let tool = http_tool(local_config(), TableLookup::default());
    let args = HttpRequestArgs {
        method: Method::Post,
        url: format!("http://{server}/temporary"),
        headers: BTreeMap::new(),
        body: Some("again".into()),
    };
    let echoed = tool.call(args).await.unwrap().body;
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["body"], "again");
}

#[tokio::test]
async fn credentials_are_kept_within_the_origin_and_dropped_when_a_redirect_leaves_it() {
    let server = spawn_server().await;
    let lookup = TableLookup::default().with("allowed.test", &["127.0.0.1"]);
    let config = HttpRequestConfig {
        allow_hosts: vec!["127.0.0.1".into(), "allowed.test".into()],
        ..local_config()
    };
    let tool = http_tool(config, lookup);
    let with_credentials = |path: &str| HttpRequestArgs {
        method: Method::Get,
        url: format!("http://{server}/{path}"),
        headers: BTreeMap::from([
            ("Authorization".into(), "Bearer secret".into()),
            ("Cookie".into(), "session=secret".into()),
            ("X-Trace".into(), "1".into()),
        ]),
        body: None,
    };
    let names = |body: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(body["headers"].clone()).unwrap()
    };

    let same_origin = names(&tool.call(with_credentials("to-echo")).await.unwrap().body);
    assert!(
        same_origin.contains(&"authorization".to_owned()),
        "{same_origin:?}"
    );
    assert!(
        same_origin.contains(&"cookie".to_owned()),
        "{same_origin:?}"
    );

    let other_origin = names(
        &tool
            .call(with_credentials("to-other-origin"))
            .await
            .unwrap()
            .body,
    );
    assert!(
        !other_origin.contains(&"authorization".to_owned()),
        "{other_origin:?}"
    );
    assert!(
        !other_origin.contains(&"cookie".to_owned()),
        "{other_origin:?}"
    );
    assert!(
        other_origin.contains(&"x-trace".to_owned()),
        "{other_origin:?}"
    );
}
