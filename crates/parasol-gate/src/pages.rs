//! The gateway's own pages: sign-in, not allowed, and sign-in errors. No scripts.

use std::fmt::Write;

/// The stylesheet of the gateway's pages, served at `/oauth2/static/gate.css`.
pub const STYLESHEET: &str = r#"
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #fff;
  --accent: #1f6feb; --muted: #57606a; --error: #b42318; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117;
  --card: #161b22; --accent: #4493f8; --muted: #8d96a0; --error: #ff7b72; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center;
  font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
main { width: min(24rem, 92vw); padding: 2rem; border-radius: 12px;
  background: var(--card); box-shadow: 0 2px 12px rgb(0 0 0 / 12%); }
h1 { margin: 0 0 1rem; font-size: 1.4rem; }
p { color: var(--muted); }
.error { color: var(--error); }
label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
input { width: 100%; padding: .6rem; border: 1px solid var(--muted); border-radius: 8px;
  background: transparent; color: inherit; font: inherit; }
button, .provider { display: block; width: 100%; margin-top: 1rem; padding: .65rem;
  border: 0; border-radius: 8px; background: var(--accent); color: #fff; font: inherit;
  font-weight: 600; text-align: center; text-decoration: none; cursor: pointer; }
.or { text-align: center; margin: 1.25rem 0 0; }
a { color: var(--accent); }
"#;

/// Text made safe to place in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Parasol</title>\
         <link rel=\"stylesheet\" href=\"/oauth2/static/gate.css\"></head>\
         <body><main>{body}</main></body></html>\n",
        title = escape(title),
    )
}

/// A provider button on the sign-in page.
#[derive(Debug)]
pub struct ProviderLink<'a> {
    /// The provider's id.
    pub id: &'a str,
    /// The button's text.
    pub name: &'a str,
}

/// What the sign-in page shows.
#[derive(Debug)]
pub struct SignInPage<'a> {
    /// Where to go once signed in (already checked).
    pub rd: &'a str,
    /// The OpenID providers.
    pub providers: &'a [ProviderLink<'a>],
    /// The CSRF token for the local form; `None` hides the form.
    pub csrf: Option<&'a str>,
    /// The user name to fill in again after a failure.
    pub username: &'a str,
    /// An error to show above the form.
    pub error: Option<&'a str>,
}

/// The sign-in page.
pub fn sign_in(view: &SignInPage<'_>) -> String {
    let rd = escape(view.rd);
    let mut body = String::from("<h1>Sign in to Parasol</h1>");
    if let Some(error) = view.error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    for provider in view.providers {
        let href = format!(
            "/oauth2/start?provider={}&rd={}",
            url::form_urlencoded::byte_serialize(provider.id.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(view.rd.as_bytes()).collect::<String>(),
        );
        let _ = write!(
            body,
            "<a class=\"provider\" href=\"{}\">Sign in with {}</a>",
            escape(&href),
            escape(provider.name)
        );
    }
    if let Some(csrf) = view.csrf {
        if !view.providers.is_empty() {
            body.push_str("<p class=\"or\">or with your Parasol account</p>");
        }
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/oauth2/sign_in\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"rd\" value=\"{rd}\">\
             <label for=\"username\">User name</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required \
             maxlength=\"64\" value=\"{username}\" autofocus>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required maxlength=\"1024\">\
             <button type=\"submit\">Sign in</button></form>",
            csrf = escape(csrf),
            username = escape(view.username),
        );
    }
    if view.providers.is_empty() && view.csrf.is_none() {
        body.push_str("<p>No way to sign in is configured. Ask the operator.</p>");
    }
    page("Sign in", &body)
}

/// The page for a signed-in person whom the rules do not let in.
pub fn forbidden(who: &str) -> String {
    page(
        "Not allowed",
        &format!(
            "<h1>Not allowed</h1><p>You are signed in as <strong>{}</strong>, but this \
             account may not use this site. Ask the operator for access, or \
             <a href=\"/oauth2/sign_out\">sign out</a> and use another account.</p>",
            escape(who)
        ),
    )
}

/// A sign-in that failed at a provider or in the gateway.
pub fn sign_in_failed(message: &str) -> String {
    page(
        "Sign-in failed",
        &format!(
            "<h1>Sign-in failed</h1><p class=\"error\">{}</p>\
             <p><a href=\"/oauth2/sign_in\">Try again</a></p>",
            escape(message)
        ),
    )
}
