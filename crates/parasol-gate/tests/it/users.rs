//! The users file and the password check at sign-in.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use parasol_gate::users::{LocalUser, LocalUsers, UsersError, UsersFile};
use secrecy::SecretString;

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// A hash with the cheapest parameters argon2 allows, so that tests which are not about
/// cost do not pay for the real ones (which take seconds in a debug build).
fn cheap_hash(password: &str) -> String {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"a test salt 1234").unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// A users file holding `users` (name, password, groups) with cheap hashes.
fn write_users(path: &Path, users: &[(&str, &str, &[&str])]) {
    let mut text = String::new();
    for (name, password, groups) in users {
        let groups: Vec<String> = groups.iter().map(|group| format!("{group:?}")).collect();
        text.push_str(&format!(
            "[[user]]\nname = {name:?}\ngroups = [{}]\npassword_hash = {:?}\n\n",
            groups.join(", "),
            cheap_hash(password)
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Gives the file a modification time of its own, so that a rewrite within the same
/// clock tick is still seen as a change.
fn touch(path: &Path, seconds_ago: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds_ago))
        .unwrap();
}

#[tokio::test]
async fn an_added_user_survives_save_and_load_and_signs_in_with_the_real_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("users.toml");
    let mut file = UsersFile::load(&path).unwrap();
    assert!(file.list().is_empty(), "a missing file is an empty list");

    let mut alice = LocalUser::new("alice");
    alice.display_name = Some("Alice Liddell".into());
    alice.email = Some("alice@example.com".into());
    alice.groups = vec!["staff".into(), "admins".into()];
    file.add(alice.clone(), &secret("correct horse")).unwrap();
    file.save().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP parameters: {text}"
    );
    let reloaded = UsersFile::load(&path).unwrap();
    assert_eq!(reloaded.list(), vec![alice.clone()]);

    let users = LocalUsers::open(&path).unwrap();
    assert_eq!(
        users.verify("alice", &secret("correct horse")).await,
        Some(alice)
    );
}

#[test]
fn the_saved_file_is_readable_only_by_its_owner() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("users.toml");
    std::fs::create_dir(dir.path().join("new")).unwrap();
    write_users(
        &path,
        &[
            ("alice", "correct horse", &[]),
            ("bob", "battery staple", &[]),
        ],
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut file = UsersFile::load(&path).unwrap();
    file.remove("bob").unwrap();
    file.save().unwrap();

    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let names: Vec<String> = UsersFile::load(&path)
        .unwrap()
        .list()
        .into_iter()
        .map(|user| user.name)
        .collect();
    assert_eq!(names, ["alice"]);
}

#[test]
fn saving_creates_the_missing_directory_privately() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh").join("users.toml");
    let file = UsersFile::load(&path).unwrap();
    file.save().unwrap();

    let mode = std::fs::metadata(dir.path().join("fresh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(UsersFile::load(&path).unwrap().list().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("alice", "correct horse", &["staff"])]);
    let users = LocalUsers::open(&path).unwrap();

    assert_eq!(users.verify("alice", &secret("wrong horse")).await, None);
    assert_eq!(users.verify("alice", &secret("")).await, None);
    let alice = users
        .verify("alice", &secret("correct horse"))
        .await
        .unwrap();
    assert_eq!(alice.groups, ["staff"]);
}

#[tokio::test]
async fn an_unknown_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("alice", "correct horse", &[])]);
    let users = LocalUsers::open(&path).unwrap();

    assert_eq!(
        users.verify("mallory", &secret("correct horse")).await,
        None
    );
}

#[tokio::test]
async fn names_match_without_regard_to_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("Alice", "correct horse", &[])]);
    let users = LocalUsers::open(&path).unwrap();

    let alice = users
        .verify("aLICE", &secret("correct horse"))
        .await
        .unwrap();
    assert_eq!(alice.name, "Alice", "the name as written in the file");
    let file = UsersFile::load(&path).unwrap();
    assert_eq!(file.get("ALICE").unwrap().name, "Alice");
}

#[test]
fn a_name_taken_in_any_case_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("alice", "correct horse", &[])]);
    let mut file = UsersFile::load(&path).unwrap();

    let error = file
        .add(LocalUser::new("ALICE"), &secret("another password"))
        .unwrap_err();
    assert!(matches!(error, UsersError::DuplicateName(ref name) if name == "alice"));
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(file.list().len(), 1);
}

#[test]
fn names_outside_the_allowed_characters_or_length_are_refused() {
    let file = UsersFile::load("/nonexistent/users.toml").unwrap();
    let long = "a".repeat(65);
    for name in [
        "",
        "al ice",
        "alice/../x",
        "ålice",
        "alice\n",
        "a:b",
        long.as_str(),
    ] {
        let error = file.check_new_name(name).unwrap_err();
        assert!(matches!(error, UsersError::InvalidName(_)), "{name:?}");
    }
    for name in [
        "a",
        "alice.liddell",
        "alice@example.com",
        "a_b-c",
        &"a".repeat(64),
    ] {
        file.check_new_name(name).unwrap();
    }
}

#[test]
fn a_password_too_short_or_too_long_is_refused_before_hashing() {
    let mut file = UsersFile::load("/nonexistent/users.toml").unwrap();
    let error = file
        .add(LocalUser::new("alice"), &secret("seven77"))
        .unwrap_err();
    assert!(matches!(error, UsersError::PasswordTooShort), "{error}");
    assert!(error.to_string().contains("at least 8"), "{error}");

    let error = file
        .add(LocalUser::new("alice"), &secret(&"x".repeat(1025)))
        .unwrap_err();
    assert!(matches!(error, UsersError::PasswordTooLong), "{error}");
    assert!(file.list().is_empty());
}

#[test]
fn profile_fields_with_control_characters_or_spaces_are_refused() {
    let mut file = UsersFile::load("/nonexistent/users.toml").unwrap();
    let mut user = LocalUser::new("alice");
    user.email = Some("not an address".into());
    let error = file.add(user, &secret("correct horse")).unwrap_err();
    assert!(matches!(
        error,
        UsersError::InvalidField { field: "email", .. }
    ));

    let mut user = LocalUser::new("alice");
    user.groups = vec!["two words".into()];
    let error = file.add(user, &secret("correct horse")).unwrap_err();
    assert!(matches!(
        error,
        UsersError::InvalidField { field: "group", .. }
    ));
}

#[test]
fn removing_or_changing_an_unknown_user_is_an_error() {
    let mut file = UsersFile::load("/nonexistent/users.toml").unwrap();
    let error = file.remove("ghost").unwrap_err();
    assert_eq!(error.to_string(), "there is no user named `ghost`");
    let error = file
        .set_password("ghost", &secret("correct horse"))
        .unwrap_err();
    assert!(matches!(error, UsersError::UnknownUser(_)));
}

#[test]
fn a_malformed_file_is_an_error_naming_the_file_and_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, "[[user]]\nname = \"alice\"\npassword_hash = \n").unwrap();

    let error = UsersFile::load(&path).unwrap_err().to_string();
    assert!(
        error.contains(&path.display().to_string()) && error.contains("line 3"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");

    std::fs::write(&path, "[[user]]\nname = \"alice\"\npasword_hash = \"x\"\n").unwrap();
    let error = UsersFile::load(&path).unwrap_err().to_string();
    assert!(error.contains("pasword_hash"), "{error}");
}

#[test]
fn a_file_with_two_users_of_one_name_or_a_foreign_hash_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(
        &path,
        &[("alice", "correct horse", &[]), ("ALICE", "x", &[])],
    );
    let error = UsersFile::load(&path).unwrap_err().to_string();
    assert!(error.contains("same name"), "{error}");

    std::fs::write(
        &path,
        "[[user]]\nname = \"alice\"\npassword_hash = \"$2b$12$notargon2\"\n",
    )
    .unwrap();
    let error = UsersFile::load(&path).unwrap_err().to_string();
    assert!(error.contains("not an argon2id hash"), "{error}");
}

#[test]
fn neither_debug_output_nor_the_list_shows_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("alice", "correct horse", &[])]);
    let hash = cheap_hash("correct horse");
    let salt_and_output = hash.rsplit('$').next().unwrap();

    let file = UsersFile::load(&path).unwrap();
    let users = LocalUsers::open(&path).unwrap();
    for printed in [
        format!("{file:?}"),
        format!("{users:?}"),
        format!("{:?}", file.list()),
    ] {
        assert!(!printed.contains(salt_and_output), "{printed}");
        assert!(!printed.contains("argon2"), "{printed}");
    }
}

#[tokio::test]
async fn a_changed_file_is_reread_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let users = LocalUsers::open_with_recheck(&path, Duration::ZERO).unwrap();
    assert!(users.is_empty());

    write_users(&path, &[("bob", "battery staple", &[])]);
    touch(&path, 20);
    assert_eq!(
        users
            .verify("bob", &secret("battery staple"))
            .await
            .unwrap()
            .name,
        "bob"
    );

    write_users(&path, &[("carol", "correct horse", &[])]);
    touch(&path, 10);
    assert_eq!(users.verify("bob", &secret("battery staple")).await, None);
    assert!(
        users
            .verify("carol", &secret("correct horse"))
            .await
            .is_some()
    );
    assert_eq!(users.len(), 1);
}

#[tokio::test]
async fn a_file_that_turns_malformed_keeps_the_last_good_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    write_users(&path, &[("alice", "correct horse", &[])]);
    touch(&path, 20);
    let users = LocalUsers::open_with_recheck(&path, Duration::ZERO).unwrap();

    std::fs::write(&path, "[[user]\nthis is not toml").unwrap();
    touch(&path, 10);
    assert!(
        users
            .verify("alice", &secret("correct horse"))
            .await
            .is_some()
    );

    // Once fixed, the file is read again.
    write_users(&path, &[("bob", "battery staple", &[])]);
    touch(&path, 5);
    assert!(
        users
            .verify("bob", &secret("battery staple"))
            .await
            .is_some()
    );
    assert!(
        users
            .verify("alice", &secret("correct horse"))
            .await
            .is_none()
    );
}

#[test]
fn a_file_that_is_malformed_at_start_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(&path, "user = 3\n").unwrap();
    assert!(matches!(
        LocalUsers::open(&path),
        Err(UsersError::Malformed { .. })
    ));
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Both kinds of attempt run one argon2 verification with the same parameters, which
/// dwarfs everything else. They alternate, so that load from other tests on the same
/// cores falls on both alike.
#[tokio::test]
async fn an_unknown_name_takes_about_as_long_as_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let mut file = UsersFile::load(&path).unwrap();
    file.add(LocalUser::new("alice"), &secret("correct horse"))
        .unwrap();
    file.save().unwrap();
    let users = LocalUsers::open(&path).unwrap();

    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        assert!(
            users
                .verify("mallory", &secret("guess one"))
                .await
                .is_none()
        );
        unknown.push(start.elapsed());

        let start = Instant::now();
        assert!(users.verify("alice", &secret("guess two")).await.is_none());
        known.push(start.elapsed());
    }

    let (unknown, known) = (median(unknown), median(known));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:?}, known {known:?}"
    );
}
