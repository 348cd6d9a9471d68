//! The gateway's cookies: their names, attributes and how they are read from a request.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// The cookies the gateway sets, named once for the site.
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// The session.
    pub session: String,
    /// A sign-in in flight at a provider.
    pub flow: String,
    /// The login form's CSRF token.
    pub csrf: String,
    /// Whether the cookies are `Secure` (and so can carry the `__Host-` prefix).
    pub secure: bool,
}

impl CookieNames {
    /// The names for cookies based on `base`; over https they carry the `__Host-` prefix,
    /// which makes browsers refuse them unless they are Secure, host-only and for `/`, so
    /// that a sibling subdomain cannot plant or shadow them.
    pub fn new(base: &str, secure: bool) -> Self {
        let prefix = if secure { "__Host-" } else { "" };
        Self {
            session: format!("{prefix}{base}"),
            flow: format!("{prefix}{base}_flow"),
            csrf: format!("{prefix}{base}_csrf"),
            secure,
        }
    }

    /// A `Set-Cookie` value for `name=value`, living `max_age` seconds.
    pub fn set(&self, name: &str, value: String, max_age: u64) -> HeaderValue {
        let age = i64::try_from(max_age).unwrap_or(i64::MAX);
        let cookie = Cookie::build((name.to_owned(), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(age))
            .build();
        header_value(&cookie)
    }

    /// A `Set-Cookie` value that removes `name`.
    pub fn clear(&self, name: &str) -> HeaderValue {
        let cookie = Cookie::build((name.to_owned(), ""))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        header_value(&cookie)
    }
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Sealed values are base64 and names are ours, so this never fails in practice.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The value of the cookie `name` in a request, when it is there exactly once: two
/// cookies of one name mean someone planted one, and neither can be trusted to be ours.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value.trim_matches('"'));
            }
        }
    }
    found
}
