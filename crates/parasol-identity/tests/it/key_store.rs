//! The key store creates, reloads, rotates and drops keys on disk safely.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use parasol_identity::{KeyStore, StoreError, Verifier, VerifyError};

use crate::support::{AUDIENCE, ISSUER, NOW, alice, clock_at, signer, spawn_store, verifier};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_creates_a_private_key_readable_by_the_owner_only() {
    let fixture = spawn_store();
    let dir = fixture.store.dir();

    assert_eq!(mode(&dir.join("current.pem")), 0o600);
    assert_eq!(mode(dir), 0o700);
    let pem = fs::read_to_string(dir.join("current.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
}

#[test]
fn first_start_leaves_no_temporary_files_behind() {
    let mut fixture = spawn_store();
    fixture.store.rotate().unwrap();

    let names: Vec<String> = fs::read_dir(fixture.store.dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();

    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|name| name.ends_with(".pem")), "{names:?}");
}

#[test]
fn next_start_reloads_the_same_key() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();

    let reopened = KeyStore::open(fixture.store.dir()).unwrap();

    assert_eq!(reopened.current().kid(), fixture.store.current().kid());
    assert!(verifier(&reopened).verify(&token).is_ok());
}

#[test]
fn corrupt_key_file_is_reported_and_left_untouched() {
    let fixture = spawn_store();
    let path = fixture.store.dir().join("current.pem");
    let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    fs::write(&path, garbage).unwrap();

    let err = KeyStore::open(fixture.store.dir()).unwrap_err();

    assert!(
        matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("current.pem"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), garbage);
}

#[test]
fn empty_key_file_is_corrupt_rather_than_replaced() {
    let fixture = spawn_store();
    let path = fixture.store.dir().join("current.pem");
    fs::write(&path, "").unwrap();

    let err = KeyStore::open(fixture.store.dir()).unwrap_err();

    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
}

#[test]
fn corrupt_previous_key_file_is_reported_with_its_path() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    fixture.store.rotate().unwrap();
    let path = fixture.store.dir().join(format!("previous-{old_kid}.pem"));
    fs::write(&path, "not a key").unwrap();

    let err = KeyStore::open(fixture.store.dir()).unwrap_err();

    assert!(
        matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
}

#[test]
fn token_signed_before_rotation_still_verifies_after_it() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    let old_token = signer(&fixture.store).sign(&alice()).unwrap();

    fixture.store.rotate().unwrap();
    let new_token = signer(&fixture.store).sign(&alice()).unwrap();

    assert_ne!(fixture.store.current().kid(), old_kid);
    let verifier = verifier(&fixture.store);
    assert!(verifier.verify(&old_token).is_ok());
    assert!(verifier.verify(&new_token).is_ok());
}

#[test]
fn jwks_after_rotation_publishes_the_new_key_first_and_the_old_one() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();

    fixture.store.rotate().unwrap();

    let kids: Vec<_> = fixture
        .store
        .jwks()
        .keys
        .into_iter()
        .map(|jwk| jwk.kid.unwrap())
        .collect();
    assert_eq!(kids, [fixture.store.current().kid().to_owned(), old_kid]);
}

#[test]
fn rotation_survives_a_restart() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    fixture.store.rotate().unwrap();

    let reopened = KeyStore::open(fixture.store.dir()).unwrap();

    assert_eq!(reopened.current().kid(), fixture.store.current().kid());
    let previous: Vec<_> = reopened.previous().iter().map(|key| key.kid()).collect();
    assert_eq!(previous, [old_kid.as_str()]);
    let previous_file = reopened.dir().join(format!("previous-{old_kid}.pem"));
    assert_eq!(mode(&previous_file), 0o600);
    assert_eq!(mode(&reopened.dir().join("current.pem")), 0o600);
}

#[test]
fn token_of_a_dropped_key_no_longer_verifies() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    let old_token = signer(&fixture.store).sign(&alice()).unwrap();
    fixture.store.rotate().unwrap();

    assert!(fixture.store.drop_previous(&old_kid).unwrap());

    let err = verifier(&fixture.store).verify(&old_token).unwrap_err();
    assert_eq!(err, VerifyError::UnknownKid(old_kid.clone()));
    assert_eq!(fixture.store.jwks().keys.len(), 1);
    let reopened = KeyStore::open(fixture.store.dir()).unwrap();
    assert!(reopened.previous().is_empty());
    assert!(!fixture.store.drop_previous(&old_kid).unwrap());
}

#[test]
fn previous_key_file_whose_name_does_not_match_its_key_is_refused() {
    let mut fixture = spawn_store();
    let old_kid = fixture.store.current().kid().to_owned();
    fixture.store.rotate().unwrap();
    let dir = fixture.store.dir();
    fs::rename(
        dir.join(format!("previous-{old_kid}.pem")),
        dir.join("previous-somebody-else.pem"),
    )
    .unwrap();

    let err = KeyStore::open(dir).unwrap_err();

    assert!(matches!(err, StoreError::KidMismatch { actual, .. } if actual == old_kid));
}

#[test]
fn leftover_copy_of_the_current_key_from_a_crashed_rotation_is_ignored() {
    let fixture = spawn_store();
    let current = fixture.store.current().public_key();
    let leftover = fixture
        .store
        .dir()
        .join(format!("previous-{}.pem", current.kid()));
    fs::write(&leftover, current.to_public_key_pem().unwrap()).unwrap();

    let reopened = KeyStore::open(fixture.store.dir()).unwrap();

    assert!(reopened.previous().is_empty());
    assert_eq!(reopened.jwks().keys.len(), 1);
}

#[test]
fn verifier_from_the_private_key_file_accepts_the_gateways_tokens() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let path = fixture.store.dir().join("current.pem");

    let verifier = Verifier::from_key_file(&path, ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW));

    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn verifier_from_a_public_key_file_accepts_the_gateways_tokens() {
    let fixture = spawn_store();
    let token = signer(&fixture.store).sign(&alice()).unwrap();
    let path = fixture.dir.path().join("gateway.pub.pem");
    let pem = fixture
        .store
        .current()
        .public_key()
        .to_public_key_pem()
        .unwrap();
    fs::write(&path, pem).unwrap();

    let verifier = Verifier::from_key_file(&path, ISSUER, AUDIENCE)
        .unwrap()
        .with_clock(clock_at(NOW));

    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn verifier_from_a_missing_key_file_says_which_file() {
    let fixture = spawn_store();
    let path = fixture.dir.path().join("nowhere.pem");

    let err = Verifier::from_key_file(&path, ISSUER, AUDIENCE).unwrap_err();

    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nowhere.pem"), "{err}");
}

#[test]
fn key_pair_debug_output_shows_the_kid_and_not_the_key() {
    let fixture = spawn_store();
    let printed = format!("{:?}", fixture.store);

    assert!(printed.contains(fixture.store.current().kid()), "{printed}");
    assert!(!printed.contains("PRIVATE"), "{printed}");
    assert!(!printed.contains("secret"), "{printed}");
}
