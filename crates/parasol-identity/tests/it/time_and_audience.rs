//! Issuer, audience and the token's lifetime are checked, with a small leeway for clocks.

use std::time::Duration;

use parasol_identity::{DEFAULT_LEEWAY, Signer, Verifier, VerifyError};

use crate::support::{
    AUDIENCE, ISSUER, NOW, alice, clock_at, signer, spawn_store, verifier, verifier_at,
};

#[test]
fn token_for_another_audience_is_refused() {
    let fixture = spawn_store();
    let token = Signer::new(fixture.store.current(), ISSUER, "some-other-service")
        .unwrap()
        .with_clock(clock_at(NOW))
        .sign(&alice())
        .unwrap();

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::WrongAudience);
}

#[test]
fn token_from_another_issuer_is_refused() {
    let fixture = spawn_store();
    let token = Signer::new(fixture.store.current(), "https://evil.test", AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW))
        .sign(&alice())
        .unwrap();

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::WrongIssuer);
}

#[test]
fn default_leeway_is_thirty_seconds() {
    assert_eq!(DEFAULT_LEEWAY, Duration::from_secs(30));
}

#[test]
fn token_expired_within_the_leeway_is_still_accepted() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let expiry = NOW + 300;

    for now in [expiry, expiry + 1, expiry + 30] {
        let result = verifier_at(&fixture.store, now).verify(&token);
        assert!(result.is_ok(), "at exp + {}: {result:?}", now - expiry);
    }
}

#[test]
fn token_expired_beyond_the_leeway_is_refused() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let err = verifier_at(&fixture.store, NOW + 300 + 31)
        .verify(&token)
        .unwrap_err();
    assert_eq!(err, VerifyError::Expired);
}

#[test]
fn leeway_can_be_set_to_zero() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let strict = verifier_at(&fixture.store, NOW + 301).with_leeway(Duration::ZERO);

    assert_eq!(strict.verify(&token).unwrap_err(), VerifyError::Expired);
}

#[test]
fn token_issued_in_the_future_beyond_the_leeway_is_refused() {
    let fixture = spawn_store();
    let token = Signer::new(fixture.store.current(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW + 3600))
        .sign(&alice())
        .unwrap();

    let err = verifier(&fixture.store).verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::IssuedInFuture);
}

#[test]
fn token_issued_slightly_ahead_of_the_clock_is_accepted() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let behind = Verifier::from_jwks(&fixture.store.jwks(), ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW - 30));

    assert!(behind.verify(&token).is_ok());
}
