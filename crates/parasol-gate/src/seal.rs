//! Sealed cookie values: encrypted and authenticated, bound to the cookie's name.

use cookie::{Cookie, CookieJar, Key};
use secrecy::ExposeSecret;

use crate::secret::CookieSecret;

/// Seals and opens cookie values with AES-256-GCM under a key derived from the cookie
/// secret. The cookie's name is the associated data, so a value sealed for one cookie
/// (a sign-in flow, say) is refused as another (a session).
#[derive(Clone)]
pub struct Sealer {
    key: Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer keyed by `secret`, which [`crate::secret`] guarantees is long enough.
    pub fn new(secret: &CookieSecret) -> Self {
        // `derive_from` expands the secret with HKDF-SHA256 into the encryption key.
        Self {
            key: Key::derive_from(secret.expose_secret()),
        }
    }

    /// `plaintext` sealed as the value of the cookie `name`.
    pub fn seal(&self, name: &str, plaintext: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.to_owned(), plaintext.to_owned()));
        jar.get(name)
            .map(|cookie| cookie.value().to_owned())
            .unwrap_or_default()
    }

    /// The plaintext of a value sealed for `name`, or `None` when it was tampered with,
    /// sealed under another key or for another cookie.
    pub fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.to_owned(), sealed.to_owned()));
        jar.private(&self.key)
            .get(name)
            .map(|cookie| cookie.value().to_owned())
    }
}
