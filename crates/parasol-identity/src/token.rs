//! A first, unauthenticated look at a compact JWS: its shape and the header fields that
//! decide which algorithm and key may check it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::verify::VerifyError;

/// Header values from an attacker-supplied token are echoed in errors; this bounds them.
const MAX_ECHOED_LEN: usize = 64;

/// The header members read before the signature is checked. Nothing here is trusted: it
/// only chooses the key, and the signature check that follows covers the header too.
#[derive(Debug, Deserialize)]
pub(crate) struct UnverifiedHeader {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
}

/// Reads the header of a compact JWS (`header.payload.signature`, RFC 7515 section 7.1).
pub(crate) fn read_header(token: &str) -> Result<UnverifiedHeader, VerifyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "a token has three dot-separated parts".to_owned(),
        ));
    };

    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed("the header is not base64url".to_owned()))?;
    serde_json::from_slice(&json)
        .map_err(|err| VerifyError::Malformed(format!("the header is not valid JSON: {err}")))
}

/// `value` cut to a length that is safe to put in a log line.
pub(crate) fn echo(value: &str) -> String {
    value.chars().take(MAX_ECHOED_LEN).collect()
}
