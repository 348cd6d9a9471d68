//! The claims an identity token carries, and the user identity they stand for.

use serde::{Deserialize, Serialize};

/// The payload of a Parasol identity token.
///
/// Times are seconds since the Unix epoch (a JWT `NumericDate`, RFC 7519 section 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The gateway that issued the token.
    pub iss: String,
    /// The service the token is meant for (the chat server).
    pub aud: String,
    /// The user's stable identifier at the gateway.
    pub sub: String,
    /// The user's display name.
    pub name: String,
    /// The user's email address. Optional because an OpenID provider may not release one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the token was issued.
    pub iat: u64,
    /// When the token stops being valid.
    pub exp: u64,
    /// A random token id, so that a token can be told apart from every other one.
    pub jti: String,
}

impl Claims {
    /// The user these claims describe.
    pub fn identity(&self) -> Identity {
        Identity {
            subject: self.sub.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// Who a request comes from, whatever kind of token it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user's stable identifier; threads are owned by it.
    pub subject: String,
    /// The user's display name.
    pub name: String,
    /// The user's email address, when the identity source knows it.
    pub email: Option<String>,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
}

impl From<Claims> for Identity {
    fn from(claims: Claims) -> Self {
        Self {
            subject: claims.sub,
            name: claims.name,
            email: claims.email,
            groups: claims.groups,
        }
    }
}
