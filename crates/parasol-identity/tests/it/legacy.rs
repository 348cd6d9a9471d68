//! The compatibility verifier accepts the article's HS256 tokens and nothing else.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parasol_identity::{Identity, LegacyClaims, LegacyConfigError, LegacyVerifier, VerifyError};
use secrecy::SecretString;

use crate::support::{NOW, alice, clock_at, signer, spawn_store};

const SECRET: &str = "the article's shared secret, long enough for HS256";

fn legacy_token(secret: &str, exp: u64) -> String {
    let claims = LegacyClaims {
        user: "alice".to_owned(),
        display_name: "Alice Example".to_owned(),
        exp,
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

fn legacy_verifier() -> LegacyVerifier {
    LegacyVerifier::new(&SecretString::from(SECRET))
        .unwrap()
        .with_clock(clock_at(NOW))
}

#[test]
fn article_token_maps_to_the_same_identity_type() {
    let token = legacy_token(SECRET, NOW + 60);

    let identity = legacy_verifier().verify(&token).unwrap();

    let expected = Identity {
        subject: "alice".to_owned(),
        name: "Alice Example".to_owned(),
        email: None,
        groups: Vec::new(),
    };
    assert_eq!(identity, expected);
}

#[test]
fn article_token_signed_with_another_secret_is_refused() {
    let token = legacy_token("a different secret that someone guessed", NOW + 60);

    let err = legacy_verifier().verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn expired_article_token_is_refused_beyond_the_leeway() {
    let token = legacy_token(SECRET, NOW - 31);

    let err = legacy_verifier().verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::Expired);

    let lenient = legacy_verifier().with_leeway(Duration::from_secs(60));
    assert!(lenient.verify(&token).is_ok());
}

#[test]
fn eddsa_token_is_not_accepted_by_the_legacy_verifier() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let err = legacy_verifier().verify(&token).unwrap_err();
    assert_eq!(err, VerifyError::DisallowedAlgorithm("EdDSA".to_owned()));
}

#[test]
fn empty_legacy_secret_is_refused() {
    let err = LegacyVerifier::new(&SecretString::from("")).unwrap_err();
    assert!(matches!(err, LegacyConfigError::EmptySecret));
}

#[test]
fn legacy_verifier_debug_output_hides_the_secret() {
    let printed = format!("{:?}", legacy_verifier());

    // Neither as text nor as the byte list a derived Debug of the key would print.
    let first_bytes = format!("{:?}", &SECRET.as_bytes()[..4]);
    assert!(!printed.contains("shared secret"), "{printed}");
    assert!(
        !printed.contains(first_bytes.trim_matches(['[', ']'])),
        "{printed}"
    );
}
