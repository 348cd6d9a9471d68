//! Forged, altered and confused tokens are refused, each with an error that says why.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parasol_identity::VerifyError;
use serde_json::json;

use crate::support::{
    alice, b64, parts, payload_json, sign_raw, signer, spawn_store, valid_payload, verifier,
};

#[test]
fn token_with_an_altered_payload_has_a_bad_signature() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let [header, _, signature] = parts(&token);

    let mut payload = payload_json(&token);
    payload["sub"] = json!("mallory");
    payload["groups"] = json!(["admins"]);
    let forged = format!(
        "{header}.{}.{signature}",
        b64(payload.to_string().as_bytes())
    );

    let err = verifier(&fixture.store).verify(&forged).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn token_with_an_altered_signature_has_a_bad_signature() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let [header, payload, signature] = parts(&token);

    let mut bytes = crate::support::unb64(&signature);
    bytes[10] ^= 0x01;
    let forged = format!("{header}.{payload}.{}", b64(&bytes));

    let err = verifier(&fixture.store).verify(&forged).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn unsigned_alg_none_token_is_refused() {
    let fixture = spawn_store();
    let header = json!({"alg": "none", "typ": "JWT", "kid": fixture.store.current().kid()});
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(valid_payload().to_string().as_bytes())
    );

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::DisallowedAlgorithm("none".to_owned()));
}

#[test]
fn hs256_token_keyed_with_the_public_key_is_refused() {
    let fixture = spawn_store();
    let public = fixture.store.current().public_key();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(public.kid().to_owned());

    // The classic key confusion: an attacker uses the published key as the HMAC secret, in
    // each form a careless verifier might hand to HMAC.
    let secrets = [
        public.as_bytes().to_vec(),
        public.x().into_bytes(),
        public.to_public_key_pem().unwrap().into_bytes(),
    ];
    for secret in secrets {
        let key = EncodingKey::from_secret(&secret).unwrap();
        let token = jsonwebtoken::encode(&header, &valid_payload(), &key).unwrap();

        let err = verifier(&fixture.store).verify(&token).unwrap_err();
        assert_eq!(err, VerifyError::DisallowedAlgorithm("HS256".to_owned()));
    }
}

#[test]
fn rs256_token_is_refused_before_any_key_is_tried() {
    let fixture = spawn_store();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": fixture.store.current().kid()});
    let token = format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(valid_payload().to_string().as_bytes()),
        b64(&[0u8; 256])
    );

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::DisallowedAlgorithm("RS256".to_owned()));
}

#[test]
fn token_from_an_unknown_key_gives_the_unknown_kid_error() {
    let trusted = spawn_store();
    let stranger = spawn_store();
    let token = signer(&stranger.store).sign(&alice()).unwrap();

    let err = verifier(&trusted.store).verify(&token).unwrap_err();

    let kid = stranger.store.current().kid().to_owned();
    assert_eq!(err, VerifyError::UnknownKid(kid));
}

#[test]
fn token_without_a_kid_is_refused() {
    let fixture = spawn_store();
    let token = sign_raw(
        &fixture.store,
        &json!({"alg": "EdDSA", "typ": "JWT"}),
        &valid_payload(),
    );

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::MissingKid);
}

#[test]
fn token_signed_by_one_trusted_key_but_naming_another_has_a_bad_signature() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    fixture.store.rotate().unwrap();

    let token = sign_raw(
        &fixture.store,
        &json!({"alg": "EdDSA", "typ": "JWT", "kid": old_kid}),
        &valid_payload(),
    );

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn token_with_an_unknown_critical_header_is_refused() {
    let fixture = spawn_store();
    let header = json!({
        "alg": "EdDSA",
        "kid": fixture.store.current().kid(),
        "crit": ["exp-policy"],
        "exp-policy": "lenient",
    });
    let token = sign_raw(&fixture.store, &header, &valid_payload());

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
}

#[test]
fn strings_that_are_not_tokens_are_malformed() {
    let fixture = spawn_store();
    let verifier = verifier(&fixture.store);

    for token in [
        "",
        "not a token",
        "a.b",
        "a.b.c.d",
        "%%%.e30.AA",
        "e30.e30.AA",
    ] {
        let err = verifier.verify(token).unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed(_)),
            "{token:?}: {err:?}"
        );
    }
}

#[test]
fn validly_signed_token_missing_a_claim_is_malformed() {
    let fixture = spawn_store();
    let mut payload = valid_payload();
    payload.as_object_mut().unwrap().remove("sub");
    let header = json!({"alg": "EdDSA", "kid": fixture.store.current().kid()});
    let token = sign_raw(&fixture.store, &header, &payload);

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
}
