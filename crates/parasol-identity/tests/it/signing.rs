//! Tokens the signer issues verify, and carry the header and claims the design names.

use std::time::Duration;

use parasol_identity::{DEFAULT_LIFETIME, Identity};

use crate::support::{
    AUDIENCE, ISSUER, NOW, alice, header_json, payload_json, signer, spawn_store, verifier,
};

#[test]
fn signed_token_verifies_and_returns_the_same_user() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let claims = verifier(&fixture.store).verify(&token).unwrap();

    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.iat, NOW);
    assert_eq!(Identity::from(claims), alice());
}

#[test]
fn header_says_eddsa_jwt_and_names_the_current_key() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let header = header_json(&token);

    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], fixture.store.current().kid());
}

#[test]
fn payload_has_every_claim_of_the_design() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let payload = payload_json(&token);

    for claim in [
        "iss", "aud", "sub", "name", "email", "groups", "iat", "exp", "jti",
    ] {
        assert!(payload.get(claim).is_some(), "{claim} is missing");
    }
    assert_eq!(payload["groups"], serde_json::json!(["staff", "admins"]));
}

#[test]
fn default_lifetime_is_five_minutes_and_can_be_changed() {
    let fixture = spawn_store();

    let default = signer(&fixture.store).claims_for(&alice()).unwrap();
    let short = signer(&fixture.store)
        .with_lifetime(Duration::from_secs(60))
        .claims_for(&alice())
        .unwrap();

    assert_eq!(DEFAULT_LIFETIME, Duration::from_secs(300));
    assert_eq!(default.exp, NOW + 300);
    assert_eq!(short.exp, NOW + 60);
}

#[test]
fn every_token_gets_its_own_random_jti() {
    let fixture = spawn_store();
    let signer = signer(&fixture.store);

    let first = signer.claims_for(&alice()).unwrap().jti;
    let second = signer.claims_for(&alice()).unwrap().jti;

    assert_ne!(first, second);
    assert_eq!(crate::support::unb64(&first).len(), 16);
}

#[test]
fn user_without_email_round_trips_without_an_email_claim() {
    let fixture = spawn_store();
    let user = Identity {
        email: None,
        ..alice()
    };

    let token = signer(&fixture.store).sign(&user).unwrap();

    assert!(payload_json(&token).get("email").is_none());
    let claims = verifier(&fixture.store).verify(&token).unwrap();
    assert_eq!(claims.identity(), user);
}
