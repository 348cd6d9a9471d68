//! The JWKS document has the RFC 7517 / RFC 8037 shape, and verifiers built from one trust
//! exactly its Ed25519 signature keys.

use parasol_identity::{Jwks, JwksError, PublicKey, Verifier, VerifyError};
use serde_json::{Value, json};

use crate::support::{
    AUDIENCE, ISSUER, NOW, alice, clock_at, signer, spawn_store, unb64, verifier,
};

/// RFC 8037 appendix A.2's public key and its RFC 7638 thumbprint from appendix A.3.
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

#[test]
fn kid_is_the_rfc_7638_thumbprint_of_the_key() {
    let key = PublicKey::from_bytes(&unb64(RFC8037_X)).unwrap();

    assert_eq!(key.kid(), RFC8037_THUMBPRINT);
    assert_eq!(key.x(), RFC8037_X);
}

#[test]
fn jwks_json_has_the_rfc_8037_members_for_each_key() {
    let mut fixture = spawn_store();
    fixture.store.rotate().unwrap();

    let json: Value = serde_json::from_str(&fixture.store.jwks().to_json().unwrap()).unwrap();

    let object = json.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["keys"]);
    let keys = json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let expected_keys = [
        fixture.store.current().public_key(),
        &fixture.store.previous()[0],
    ];
    for (jwk, key) in keys.iter().zip(expected_keys) {
        let mut members: Vec<_> = jwk.as_object().unwrap().keys().cloned().collect();
        members.sort();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["x"], key.x());

        let x = jwk["x"].as_str().unwrap();
        assert!(
            !x.contains(['=', '+', '/']),
            "x must be unpadded base64url: {x}"
        );
        assert_eq!(unb64(x), key.as_bytes());
    }
}

#[test]
fn verifier_from_jwks_json_accepts_the_gateways_tokens() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let json = fixture.store.jwks().to_json().unwrap();

    let verifier = Verifier::from_jwks_json(&json, ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW));

    assert!(verifier.knows_kid(fixture.store.current().kid()));
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn keys_of_other_types_and_uses_are_skipped() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let ours = serde_json::to_value(&fixture.store.jwks().keys[0]).unwrap();
    let document = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB", "alg": "RS256"},
        {"kty": "OKP", "crv": "X25519", "kid": "ecdh-1", "x": RFC8037_X},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc-1", "x": RFC8037_X, "use": "enc"},
        {"kty": "oct", "kid": "hmac-1", "k": "c2VjcmV0"},
        ours,
    ]});

    let verifier = Verifier::from_jwks_json(&document.to_string(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW));

    assert!(verifier.verify(&token).is_ok());
    for kid in ["rsa-1", "ecdh-1", "enc-1", "hmac-1"] {
        assert!(!verifier.knows_kid(kid), "{kid} should not be trusted");
    }
}

#[test]
fn key_without_alg_or_use_is_still_an_ed25519_signature_key() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let key = fixture.store.current().public_key();
    let document =
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": key.kid(), "x": key.x()}]});

    let verifier = Verifier::from_jwks_json(&document.to_string(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW));

    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn jwks_without_a_usable_key_is_refused() {
    let document = json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"}]});

    let err = Verifier::from_jwks_json(&document.to_string(), ISSUER, AUDIENCE).unwrap_err();

    assert!(matches!(err, JwksError::NoUsableKeys), "{err:?}");
}

#[test]
fn jwks_with_a_broken_ed25519_key_is_refused() {
    let document = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"}]});

    let err = Verifier::from_jwks_json(&document.to_string(), ISSUER, AUDIENCE).unwrap_err();

    assert!(
        matches!(err, JwksError::InvalidKey { ref kid, .. } if kid == "short"),
        "{err:?}"
    );
}

#[test]
fn jwks_with_two_keys_under_one_kid_is_refused() {
    let fixture = spawn_store();
    let mut jwks = fixture.store.jwks();
    let mut twin = jwks.keys[0].clone();
    twin.x = Some(RFC8037_X.to_owned());
    jwks.keys.push(twin);

    let err = Verifier::from_jwks(&jwks, ISSUER, AUDIENCE).unwrap_err();

    assert!(matches!(err, JwksError::DuplicateKid(_)), "{err:?}");
}

#[test]
fn text_that_is_not_a_jwks_is_refused() {
    for text in [
        "",
        "[]",
        r#"{"keys": 3}"#,
        r#"{"keys": [{"crv": "Ed25519"}]}"#,
    ] {
        let err = Jwks::from_json(text).unwrap_err();
        assert!(matches!(err, JwksError::Json(_)), "{text:?}: {err:?}");
    }
}

#[test]
fn verifier_from_an_old_jwks_asks_for_a_refetch_after_rotation() {
    let mut fixture = spawn_store();
    let stale = verifier(&fixture.store);
    fixture.store.rotate().unwrap();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let err = stale.verify(&token).unwrap_err();
    assert_eq!(
        err,
        VerifyError::UnknownKid(fixture.store.current().kid().to_owned())
    );

    let refreshed = verifier(&fixture.store);
    assert!(refreshed.verify(&token).is_ok());
}
