//! A browser without a screen for sign-in tests: HTTP with a cookie jar, redirects followed
//! one recorded hop at a time, and HTML forms read and submitted.
//!
//! The jar is reqwest's (`cookies` feature). It keeps cookies per host, not per port, as
//! browsers do, and like them treats `http://127.0.0.1` and `http://localhost` as secure
//! origins, so `Secure` and `__Host-` cookies set by a server on plain loopback http come
//! back to it. It does not enforce `SameSite`; every request here is a top-level one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{IntoUrl, Method, RequestBuilder, Response, ResponseBuilderExt, StatusCode};
use scraper::{ElementRef, Html, Selector};
use url::{Origin, Url};

use crate::output::debug_as_message;

/// More hops than any sign-in takes: a loop, not a flow.
const MAX_HOPS: usize = 20;

/// How much of a page's text an error quotes.
const EXCERPT_CHARS: usize = 800;

/// What went wrong while browsing.
#[derive(thiserror::Error)]
pub enum BrowserError {
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// A request failed before an answer came.
    #[error("request to {url} failed")]
    Request {
        /// Where it went, when known.
        url: String,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// A response was expected to redirect and did not.
    #[error("{url} answered {status}, not a redirect")]
    NotARedirect {
        /// The response's URL.
        url: Url,
        /// Its status.
        status: StatusCode,
    },
    /// A redirect's `Location` is missing or not a URL.
    #[error("{url} redirected to an unusable location {location:?}")]
    BadLocation {
        /// The response's URL.
        url: Url,
        /// The header's value, if any.
        location: Option<String>,
    },
    /// A 307 or 308 answered a request with a body, which would have to be sent again.
    #[error("{url} answered {status} to a {method} request; repeating a body is not supported")]
    RedirectKeepsBody {
        /// The response's URL.
        url: Url,
        /// Its status.
        status: StatusCode,
        /// The method of the request it answered.
        method: Method,
    },
    /// Redirects or forms did not come to an end.
    #[error("more than {MAX_HOPS} hops, the last to {url}")]
    TooManyHops {
        /// The last URL reached.
        url: Url,
    },
    /// A page that should have held a form did not.
    #[error("no form on the page at {url}")]
    NoForm {
        /// The page's URL.
        url: Url,
    },
    /// The provider showed a page that is neither a form nor a way out: an error page.
    #[error("stuck at {url} ({status}): {text}")]
    Stuck {
        /// The page's URL.
        url: Url,
        /// Its status.
        status: StatusCode,
        /// The start of its text.
        text: String,
    },
    /// The provider showed its login form again: it knows no user by that login.
    #[error("the provider did not accept the login {login:?}")]
    LoginRejected {
        /// The login that was tried.
        login: String,
    },
}

impl std::fmt::Debug for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_as_message(self, f)
    }
}

/// One request and the answer to it, as the browser made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The request's method.
    pub method: Method,
    /// The URL that answered.
    pub url: Url,
    /// The answer's status.
    pub status: StatusCode,
    /// The answer's `Location`, resolved against `url`, for a redirect.
    pub location: Option<Url>,
}

/// An HTML form as a browser would submit it with its first submit button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Where it is submitted, resolved against the page's URL.
    pub action: Url,
    /// `GET` or `POST`.
    pub method: Method,
    /// Its fields in document order: hidden, text and password inputs, checked boxes,
    /// text areas, selects, and the submit button's name and value when it has them.
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The first form in `html`, a page fetched from `page`.
    pub fn parse(html: &str, page: &Url) -> Option<Self> {
        let document = Html::parse_document(html);
        let form = document.select(&Selector::parse("form").ok()?).next()?;

        let action = match form.attr("action").map(str::trim) {
            None | Some("") => page.clone(),
            Some(action) => page.join(action).ok()?,
        };
        let method = match form.attr("method") {
            Some(method) if method.eq_ignore_ascii_case("post") => Method::POST,
            _ => Method::GET,
        };
        let controls = Selector::parse("input, button, select, textarea").ok()?;
        let mut fields = Vec::new();
        let mut pressed = false;
        for control in document.select(&controls) {
            if belongs_to(control, form) && control.attr("disabled").is_none() {
                read_control(control, &mut fields, &mut pressed);
            }
        }
        Some(Self {
            action,
            method,
            fields,
        })
    }

    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Sets the first field called `name` to `value`, adding it if there is none.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(field, _)| field == name) {
            Some((_, old)) => *old = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// Whether `control` is inside `form`, or names it in its `form` attribute.
fn belongs_to(control: ElementRef<'_>, form: ElementRef<'_>) -> bool {
    if let (Some(owner), Some(id)) = (control.attr("form"), form.attr("id")) {
        return owner == id;
    }
    control.ancestors().any(|node| node.id() == form.id())
}

/// Adds what `control` contributes to a submission with the first submit button.
fn read_control(control: ElementRef<'_>, fields: &mut Vec<(String, String)>, pressed: &mut bool) {
    let Some(name) = control.attr("name") else {
        // A nameless submit button is still the one pressed.
        *pressed |= is_submit_button(control);
        return;
    };
    let value = control.attr("value").unwrap_or_default();
    match control.value().name() {
        "textarea" => fields.push((name.to_owned(), control.text().collect())),
        "select" => {
            if let Some(value) = selected_option(control) {
                fields.push((name.to_owned(), value));
            }
        }
        _ if is_submit_button(control) => {
            if !*pressed {
                *pressed = true;
                fields.push((name.to_owned(), value.to_owned()));
            }
        }
        _ => match input_type(control).as_str() {
            "button" | "reset" | "file" | "image" => {}
            "checkbox" | "radio" => {
                if control.attr("checked").is_some() {
                    let value = control.attr("value").unwrap_or("on");
                    fields.push((name.to_owned(), value.to_owned()));
                }
            }
            _ => fields.push((name.to_owned(), value.to_owned())),
        },
    }
}

fn input_type(control: ElementRef<'_>) -> String {
    control.attr("type").unwrap_or("text").to_ascii_lowercase()
}

fn is_submit_button(control: ElementRef<'_>) -> bool {
    match control.value().name() {
        "button" => control
            .attr("type")
            .is_none_or(|kind| kind.eq_ignore_ascii_case("submit")),
        "input" => input_type(control) == "submit",
        _ => false,
    }
}

/// The value of a select's selected option, or of its first one.
fn selected_option(select: ElementRef<'_>) -> Option<String> {
    let options = Selector::parse("option").ok()?;
    let mut all = select.select(&options);
    let first = all.next()?;
    let chosen = std::iter::once(first)
        .chain(all)
        .find(|option| option.attr("selected").is_some())
        .unwrap_or(first);
    Some(
        chosen
            .attr("value")
            .map(str::to_owned)
            .unwrap_or_else(|| chosen.text().collect()),
    )
}

/// A response whose body has been read.
struct Page {
    url: Url,
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    async fn read(response: Response) -> Result<Self, BrowserError> {
        let url = response.url().clone();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|source| BrowserError::Request {
                url: url.to_string(),
                source,
            })?;
        Ok(Self {
            url,
            status,
            headers,
            body,
        })
    }

    /// The start of the page's visible text, for error messages.
    fn excerpt(&self) -> String {
        let document = Html::parse_document(&self.body);
        let text = document.root_element().text().collect::<Vec<_>>().join(" ");
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        words.chars().take(EXCERPT_CHARS).collect()
    }

    fn stuck(&self) -> BrowserError {
        BrowserError::Stuck {
            url: self.url.clone(),
            status: self.status,
            text: self.excerpt(),
        }
    }

    /// The response again, for a caller who wants it whole.
    fn into_response(self) -> Response {
        let mut builder = http::Response::builder().status(self.status).url(self.url);
        if let Some(headers) = builder.headers_mut() {
            *headers = self.headers;
        }
        match builder.body(self.body.clone()) {
            Ok(response) => Response::from(response),
            // Unreachable: the status and headers came from a real response.
            Err(_) => Response::from(http::Response::new(self.body)),
        }
    }
}

/// What a walk through the provider's pages is for.
enum Errand<'a> {
    SignIn { login: &'a str, password: &'a str },
    SignOut,
}

/// An HTTP client with its own cookie jar that follows redirects only when asked and
/// records every request it makes.
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    hops: Mutex<Vec<Hop>>,
}

// By hand: the jar holds session cookies, which are secrets.
impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("hops", &self.hops().len())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Result<Self, BrowserError> {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            // Every server a test browses is on this machine; a proxy from the environment
            // would only be in the way.
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .user_agent("parasol-testkit")
            .build()
            .map_err(BrowserError::Client)?;
        Ok(Self {
            client,
            jar,
            hops: Mutex::new(Vec::new()),
        })
    }

    /// The underlying client, sharing the jar; requests built on it are recorded only
    /// when sent through [`Browser::send`].
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` (built on [`Browser::client`]) and records the hop.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, BrowserError> {
        let request = request.build().map_err(|source| BrowserError::Request {
            url: String::new(),
            source,
        })?;
        let method = request.method().clone();
        let url = request.url().to_string();
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|source| BrowserError::Request { url, source })?;
        self.record(method, &response);
        Ok(response)
    }

    /// GETs `url`.
    pub async fn get(&self, url: impl IntoUrl) -> Result<Response, BrowserError> {
        self.send(self.client.get(url)).await
    }

    /// POSTs `fields` to `url` as `application/x-www-form-urlencoded`.
    pub async fn post_form(
        &self,
        url: impl IntoUrl,
        fields: &[(&str, &str)],
    ) -> Result<Response, BrowserError> {
        self.send(self.client.post(url).form(fields)).await
    }

    /// Submits `form` as a browser would.
    pub async fn submit(&self, form: &Form) -> Result<Response, BrowserError> {
        if form.method == Method::POST {
            return self
                .send(self.client.post(form.action.clone()).form(&form.fields))
                .await;
        }
        let mut url = form.action.clone();
        url.query_pairs_mut().clear().extend_pairs(&form.fields);
        self.get(url).await
    }

    /// Reads `response` as a page and returns its first form.
    pub async fn read_form(&self, response: Response) -> Result<Form, BrowserError> {
        let page = Page::read(response).await?;
        Form::parse(&page.body, &page.url).ok_or(BrowserError::NoForm { url: page.url })
    }

    /// Follows the redirect `response` is, with a GET (or the same method for a 307 or
    /// 308 to a GET), and returns the next response.
    pub async fn next_hop(&self, response: Response) -> Result<Response, BrowserError> {
        let target = redirect_target(&response)?;
        let status = response.status();
        if matches!(status.as_u16(), 307 | 308) {
            let method = self.method_that_reached(response.url());
            if method != Method::GET && method != Method::HEAD {
                let url = response.url().clone();
                return Err(BrowserError::RedirectKeepsBody {
                    url,
                    status,
                    method,
                });
            }
        }
        self.get(target).await
    }

    /// Follows redirects from `response` until an answer that is not one.
    pub async fn follow(&self, response: Response) -> Result<Response, BrowserError> {
        let mut response = response;
        for _ in 0..MAX_HOPS {
            if !is_redirect(&response) {
                return Ok(response);
            }
            response = self.next_hop(response).await?;
        }
        Err(BrowserError::TooManyHops {
            url: response.url().clone(),
        })
    }

    /// Every hop so far, oldest first.
    pub fn hops(&self) -> Vec<Hop> {
        self.hops
            .lock()
            .map(|hops| hops.clone())
            .unwrap_or_default()
    }

    /// Forgets the hops recorded so far; the cookies stay.
    pub fn clear_hops(&self) {
        if let Ok(mut hops) = self.hops.lock() {
            hops.clear();
        }
    }

    /// The value of the cookie called `name` that the browser would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<String> {
        let header = self.jar.cookies(url)?;
        let header = header.to_str().ok()?;
        header.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    }

    /// Signs in through the provider's development pages: starting from `first` (an app's
    /// redirect to the provider's authorization endpoint, or a response of the provider),
    /// follows its redirects, fills in the login form with `login` and `password`,
    /// confirms the consent form, and returns the first redirect that leaves the
    /// provider's origin, unfollowed: the callback hop. When the provider's session
    /// already covers the request there are no forms, and that hop comes at once.
    ///
    /// Fails with [`BrowserError::LoginRejected`] when the login form comes back, and with
    /// [`BrowserError::Stuck`] on an error page.
    pub async fn sign_in_at_oidc_provider(
        &self,
        first: Response,
        login: &str,
        password: &str,
    ) -> Result<Response, BrowserError> {
        self.walk(first, Errand::SignIn { login, password }).await
    }

    /// Signs out at the provider: starting from `first` (a redirect to its end-session
    /// endpoint, or its page), confirms the sign-out form, and returns the first redirect
    /// that leaves the provider (to the post-logout URI), unfollowed, or the provider's
    /// own "signed out" page when there is no such URI.
    pub async fn sign_out_at_oidc_provider(
        &self,
        first: Response,
    ) -> Result<Response, BrowserError> {
        self.walk(first, Errand::SignOut).await
    }

    /// Walks through the provider's redirects and forms until the way leads out of it.
    async fn walk(&self, first: Response, errand: Errand<'_>) -> Result<Response, BrowserError> {
        let provider = provider_origin(&first)?;
        let mut response = first;
        let mut forms = 0;
        let mut logins = 0;
        for _ in 0..MAX_HOPS {
            if is_redirect(&response) {
                let target = redirect_target(&response)?;
                if response.url().origin() == provider && target.origin() != provider {
                    return Ok(response);
                }
                response = self.next_hop(response).await?;
                continue;
            }

            let page = Page::read(response).await?;
            let Some(mut form) = Form::parse(&page.body, &page.url) else {
                // After the sign-out form, the provider's own page is the end of the way.
                return match errand {
                    Errand::SignOut if forms > 0 => Ok(page.into_response()),
                    _ => Err(page.stuck()),
                };
            };
            if page.url.origin() != provider || form.action.origin() != provider {
                // A form that posts elsewhere (response_mode=form_post) is the way out.
                return Ok(page.into_response());
            }
            if let Errand::SignIn { login, password } = errand
                && fill_login(&mut form, login, password)
            {
                // The provider shows its login form again to a login it does not know.
                logins += 1;
                if logins > 1 {
                    let login = login.to_owned();
                    return Err(BrowserError::LoginRejected { login });
                }
            }
            forms += 1;
            response = self.submit(&form).await?;
        }
        Err(BrowserError::TooManyHops {
            url: response.url().clone(),
        })
    }

    fn record(&self, method: Method, response: &Response) {
        let location = is_redirect(response)
            .then(|| redirect_target(response).ok())
            .flatten();
        let hop = Hop {
            method,
            url: response.url().clone(),
            status: response.status(),
            location,
        };
        if let Ok(mut hops) = self.hops.lock() {
            hops.push(hop);
        }
    }

    /// The method of the latest recorded request answered from `url`.
    fn method_that_reached(&self, url: &Url) -> Method {
        self.hops()
            .iter()
            .rev()
            .find(|hop| &hop.url == url)
            .map_or(Method::GET, |hop| hop.method.clone())
    }
}

/// Fills in `form` if it is the login form, saying whether it was.
fn fill_login(form: &mut Form, login: &str, password: &str) -> bool {
    if form.field("login").is_none() {
        return false;
    }
    form.set("login", login);
    form.set("password", password);
    true
}

/// The provider's origin: where `first` redirects to when that is a request to a
/// provider, else where `first` came from.
///
/// A redirect between origins is either an app sending the browser to the provider or the
/// provider sending it back; only a request to the provider names the client or the
/// ID token (RFC 6749, section 4.1.1; OpenID Connect RP-Initiated Logout, section 2).
fn provider_origin(first: &Response) -> Result<Origin, BrowserError> {
    if is_redirect(first) {
        let target = redirect_target(first)?;
        let to_provider = target.query_pairs().any(|(name, _)| {
            matches!(
                name.as_ref(),
                "client_id" | "id_token_hint" | "post_logout_redirect_uri"
            )
        });
        if to_provider {
            return Ok(target.origin());
        }
    }
    Ok(first.url().origin())
}

fn is_redirect(response: &Response) -> bool {
    matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The redirect's `Location`, resolved against the response's URL.
fn redirect_target(response: &Response) -> Result<Url, BrowserError> {
    let url = response.url();
    if !is_redirect(response) {
        return Err(BrowserError::NotARedirect {
            url: url.clone(),
            status: response.status(),
        });
    }
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok());
    location
        .and_then(|location| url.join(location).ok())
        .ok_or_else(|| BrowserError::BadLocation {
            url: url.clone(),
            location: location.map(str::to_owned),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:9/interaction/abc").unwrap()
    }

    #[test]
    fn a_login_form_yields_its_hidden_and_text_fields() {
        let html = r#"<form action="/interaction/abc" method="post">
            <input type="hidden" name="prompt" value="login"/>
            <input required type="text" name="login">
            <input required type="password" name="password">
            <button type="submit">Sign-in</button></form>"#;

        let form = Form::parse(html, &page());

        let fields = [("prompt", "login"), ("login", ""), ("password", "")];
        let fields = fields.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec();
        assert_eq!(
            form,
            Some(Form {
                action: page(),
                method: Method::POST,
                fields
            })
        );
    }

    #[test]
    fn a_button_outside_the_form_that_names_it_is_pressed_first() {
        let html = r#"<form id="op.logoutForm" method="post" action="/session/end/confirm">
            <input type="hidden" name="xsrf" value="x1"/></form>
            <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes</button>
            <button type="submit" form="op.logoutForm">No</button>"#;

        let form = Form::parse(html, &page()).map(|form| form.fields);

        let fields = [("xsrf", "x1"), ("logout", "yes")];
        let fields = fields.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec();
        assert_eq!(form, Some(fields));
    }

    #[test]
    fn only_the_first_submit_button_and_checked_boxes_count() {
        let html = r#"<form><input type="checkbox" name="a" checked>
            <input type="checkbox" name="b"><input type="submit" name="go" value="1">
            <input type="submit" name="stop" value="2"><select name="s">
            <option value="x">X</option><option selected value="y">Y</option></select></form>"#;

        let form = Form::parse(html, &page()).map(|form| form.fields);

        let fields = [("a", "on"), ("go", "1"), ("s", "y")];
        let fields = fields.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec();
        assert_eq!(form, Some(fields));
    }
}
