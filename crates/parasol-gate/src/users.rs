//! The local users file: people who sign in with a name and a password, their argon2id
//! password hashes, and the check the gateway makes at sign-in.
//!
//! [`UsersFile`] is the file as `parasol users` edits it; [`LocalUsers`] is the gateway's
//! read-only view, which follows changes to the file without a restart.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The most characters a password may have; argon2 accepts more, but nobody types them
/// and a bound keeps a sign-in request's cost predictable.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The most characters a user name may have.
pub const MAX_NAME_CHARS: usize = 64;

/// argon2id memory cost in KiB, from OWASP's password storage cheat sheet
/// (m=19456 KiB, t=2, p=1).
const M_COST: u32 = 19_456;
/// argon2id passes over the memory.
const T_COST: u32 = 2;
/// argon2id lanes.
const P_COST: u32 = 1;

/// What unknown names are checked against, so that an unknown name costs the same
/// argon2 work as a known one and the answer's timing does not reveal which names
/// exist. It was made with the parameters above from a random password that was then
/// thrown away; a test keeps its parameters in step with them.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    xg5/a6zap6P4cJqU5eqj1g$+OdBBC+O9zeo5yvf02g0z1KuOWSmvfI+pQVIivQtkQE";

/// How often [`LocalUsers`] looks at the file's modification time by default.
const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

/// What went wrong with the users file or a change to it. Each message is one line that
/// already includes its cause, so the causes are not also chained as `source` (which
/// would print them twice in `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file exists but cannot be read.
    #[error(
        "cannot read the users file {}: {cause}; check that it is a file this user may read",
        .path.display()
    )]
    Read {
        /// The users file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// The file is not valid TOML, or not a users file.
    #[error("the users file {} is malformed: {message}; fix it or restore a backup", .path.display())]
    Malformed {
        /// The users file.
        path: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// The file (or its directory) cannot be written.
    #[error(
        "cannot write the users file {}: {cause}; check that this user may write its directory",
        .path.display()
    )]
    Write {
        /// The users file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// A user name has the wrong length or characters.
    #[error(
        "invalid user name `{0}`: use 1 to {MAX_NAME_CHARS} letters, digits, `.`, `_`, `@` or `-`"
    )]
    InvalidName(String),
    /// A profile field (display name, email, group) holds a value it cannot.
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A user of that name, in any case, already exists.
    #[error("a user named `{0}` already exists; pick another name or change their password")]
    DuplicateName(String),
    /// No user of that name.
    #[error("there is no user named `{0}`")]
    UnknownUser(String),
    /// The password is shorter than [`MIN_PASSWORD_CHARS`].
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    /// The password is longer than [`MAX_PASSWORD_CHARS`].
    #[error("the password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    PasswordTooLong,
    /// The operating system gave no random bytes for the salt.
    #[error("cannot get random bytes for the password salt: {0}")]
    Random(getrandom::Error),
    /// argon2 refused to hash.
    #[error("cannot hash the password: {0}")]
    Hash(password_hash::Error),
}

/// A person in the users file, as the gateway vouches for them once signed in. It holds
/// no password or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalUser {
    /// The sign-in name, as written in the file.
    pub name: String,
    /// The name to show, if any.
    pub display_name: Option<String>,
    /// The email address, if any.
    pub email: Option<String>,
    /// The groups the person is in.
    pub groups: Vec<String>,
}

impl LocalUser {
    /// A user with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            display_name: None,
            email: None,
            groups: Vec::new(),
        }
    }
}

/// A stored argon2id hash in PHC form. It is not a password, but it lets an attacker try
/// passwords offline, so it is never printed.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredHash(String);

impl fmt::Debug for StoredHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// One `[[user]]` table.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    password_hash: StoredHash,
}

impl Entry {
    fn user(&self) -> LocalUser {
        LocalUser {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// The whole file, as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    #[serde(default, rename = "user")]
    users: Vec<Entry>,
}

/// The whole file, as written.
#[derive(Serialize)]
struct ContentsRef<'a> {
    #[serde(rename = "user")]
    users: &'a [Entry],
}

/// The users file, loaded for editing. Changes stay in memory until [`UsersFile::save`].
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl UsersFile {
    /// Reads the file at `path`; a missing file is an empty list.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, UsersError> {
        let path = path.into();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
            Err(cause) => return Err(UsersError::Read { path, cause }),
        };
        let entries = parse(&text).map_err(|message| UsersError::Malformed {
            path: path.clone(),
            message,
        })?;
        Ok(Self { path, entries })
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every user, in file order.
    pub fn list(&self) -> Vec<LocalUser> {
        self.entries.iter().map(Entry::user).collect()
    }

    /// The user called `name`, compared without regard to case.
    pub fn get(&self, name: &str) -> Option<LocalUser> {
        self.position(name).map(|index| self.entries[index].user())
    }

    /// Checks that `name` is valid and not taken, before anyone is asked for a password.
    pub fn check_new_name(&self, name: &str) -> Result<(), UsersError> {
        validate_name(name)?;
        match self.position(name) {
            Some(index) => Err(UsersError::DuplicateName(self.entries[index].name.clone())),
            None => Ok(()),
        }
    }

    /// Adds `user` with `password`, after checking the name, the profile and the password.
    pub fn add(&mut self, user: LocalUser, password: &SecretString) -> Result<(), UsersError> {
        self.check_new_name(&user.name)?;
        validate_profile(&user)?;
        let password_hash = hash_password(password)?;
        self.entries.push(Entry {
            name: user.name,
            display_name: user.display_name,
            email: user.email,
            groups: user.groups,
            password_hash,
        });
        Ok(())
    }

    /// Removes the user called `name` and returns who they were.
    pub fn remove(&mut self, name: &str) -> Result<LocalUser, UsersError> {
        let index = self
            .position(name)
            .ok_or_else(|| UsersError::UnknownUser(name.to_owned()))?;
        Ok(self.entries.remove(index).user())
    }

    /// Replaces the password of the user called `name`.
    pub fn set_password(&mut self, name: &str, password: &SecretString) -> Result<(), UsersError> {
        let index = self
            .position(name)
            .ok_or_else(|| UsersError::UnknownUser(name.to_owned()))?;
        self.entries[index].password_hash = hash_password(password)?;
        Ok(())
    }

    /// Writes the file: a temporary file beside it, readable only by its owner, then
    /// renamed over it, so that the gateway never reads half a file. The directory is
    /// created when missing.
    pub fn save(&self) -> Result<(), UsersError> {
        let write_error = |cause| UsersError::Write {
            path: self.path.clone(),
            cause,
        };
        let text = self.render().map_err(write_error)?;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        create_private_dir(dir).map_err(write_error)?;

        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
        set_owner_only(file.as_file()).map_err(write_error)?;
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.as_file().sync_all().map_err(write_error)?;
        file.persist(&self.path)
            .map_err(|error| write_error(error.error))?;
        Ok(())
    }

    fn render(&self) -> io::Result<String> {
        let contents = ContentsRef {
            users: &self.entries,
        };
        let body = toml::to_string(&contents).map_err(io::Error::other)?;
        Ok(format!(
            "# Parasol's local users. Edit with `parasol users`; the gateway rereads this \
             file when it changes.\n\n{body}"
        ))
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|entry| entry.name.eq_ignore_ascii_case(name))
    }
}

/// Creates `dir` and its missing parents, readable only by their owner: the data
/// directory also holds signing keys.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Mode 0600. tempfile already creates files so, but the file's safety should not rest
/// on another crate's default.
fn set_owner_only(file: &std::fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Checks a password's length before it is hashed or confirmed.
pub fn validate_password(password: &SecretString) -> Result<(), UsersError> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(UsersError::PasswordTooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(UsersError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// Checks a sign-in name: 1 to [`MAX_NAME_CHARS`] of `A-Z a-z 0-9 . _ @ -`.
pub fn validate_name(name: &str) -> Result<(), UsersError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !name.chars().all(allowed) {
        return Err(UsersError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// Display names, emails and groups end up in identity tokens and on pages, so they
/// carry no control characters; emails and groups carry no spaces either.
fn validate_profile(user: &LocalUser) -> Result<(), UsersError> {
    let invalid = |field, value: &str, reason| UsersError::InvalidField {
        field,
        value: value.to_owned(),
        reason,
    };
    if let Some(display_name) = &user.display_name
        && (display_name.trim().is_empty() || display_name.chars().any(char::is_control))
    {
        return Err(invalid(
            "display name",
            display_name,
            "give some text without control characters",
        ));
    }
    if let Some(email) = &user.email
        && (!email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(invalid(
            "email",
            email,
            "give an address such as alice@example.com",
        ));
    }
    for group in &user.groups {
        if group.is_empty() || group.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("group", group, "give a name without spaces"));
        }
    }
    Ok(())
}

/// Parses and checks the file's text; the error says what is wrong and where.
fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let contents: Contents = toml::from_str(text).map_err(|error| {
        let message = error.message().trim_end().to_owned();
        match error.span() {
            Some(span) => {
                let (line, column) = line_and_column(text, span.start);
                format!("{message} at line {line}, column {column}")
            }
            None => message,
        }
    })?;

    let mut seen: HashMap<String, &str> = HashMap::new();
    for entry in &contents.users {
        validate_name(&entry.name).map_err(|error| error.to_string())?;
        if let Some(first) = seen.insert(entry.name.to_ascii_lowercase(), &entry.name) {
            return Err(format!(
                "users `{first}` and `{}` have the same name; names ignore case",
                entry.name
            ));
        }
        if !is_argon2id(&entry.password_hash.0) {
            return Err(format!(
                "the password_hash of user `{}` is not an argon2id hash; set it with \
                 `parasol users passwd {}`",
                entry.name, entry.name
            ));
        }
    }
    Ok(contents.users)
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn is_argon2id(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| parsed.algorithm == Algorithm::Argon2id.ident())
}

/// argon2id with the OWASP parameters.
fn argon2() -> Result<Argon2<'static>, UsersError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|error| UsersError::Hash(error.into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a checked password with a fresh 16-byte random salt.
fn hash_password(password: &SecretString) -> Result<StoredHash, UsersError> {
    validate_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(UsersError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(UsersError::Hash)?;
    let hash = argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(UsersError::Hash)?;
    Ok(StoredHash(hash.to_string()))
}

/// One argon2 verification, with the parameters the hash names.
fn password_matches(hash: &str, password: &[u8]) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

/// What the file looked like when it was last read: a change in either means it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
}

/// `None` when the file does not exist.
fn fingerprint(path: &Path) -> io::Result<Option<Fingerprint>> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Some(Fingerprint {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        })),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[derive(Debug)]
struct Account {
    user: LocalUser,
    hash: StoredHash,
}

/// Accounts by lowercased name.
type Accounts = HashMap<String, Account>;

fn accounts(file: UsersFile) -> Accounts {
    file.entries
        .into_iter()
        .map(|entry| {
            let user = entry.user();
            let account = Account {
                user,
                hash: entry.password_hash,
            };
            (account.user.name.to_ascii_lowercase(), account)
        })
        .collect()
}

#[derive(Debug)]
struct Snapshot {
    accounts: Arc<Accounts>,
    fingerprint: Option<Fingerprint>,
    checked_at: Instant,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    recheck: Duration,
    snapshot: Mutex<Snapshot>,
}

/// The local users as the gateway checks them at sign-in. Cloning shares one view.
///
/// It rereads the file when its modification time or size changes (looked at no more
/// often than once a second), so that `parasol users add` takes effect without a
/// restart. A file that becomes unreadable or malformed leaves the last good list in
/// place; a file that is deleted empties the list.
#[derive(Debug, Clone)]
pub struct LocalUsers {
    inner: Arc<Inner>,
}

impl LocalUsers {
    /// Reads the users file at `path`; a missing file is an empty list, a malformed one an
    /// error.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, UsersError> {
        Self::open_with_recheck(path, DEFAULT_RECHECK)
    }

    /// Like [`LocalUsers::open`], looking for changes to the file at most once per
    /// `recheck` (tests use zero).
    pub fn open_with_recheck(
        path: impl Into<PathBuf>,
        recheck: Duration,
    ) -> Result<Self, UsersError> {
        let path = path.into();
        let fingerprint = fingerprint(&path).map_err(|cause| UsersError::Read {
            path: path.clone(),
            cause,
        })?;
        let file = UsersFile::load(&path)?;
        let snapshot = Snapshot {
            accounts: Arc::new(accounts(file)),
            fingerprint,
            checked_at: Instant::now(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                recheck,
                snapshot: Mutex::new(snapshot),
            }),
        })
    }

    /// How many users there are, after looking for changes to the file.
    pub fn len(&self) -> usize {
        self.inner.refresh();
        self.inner.lock().accounts.len()
    }

    /// Whether there are no users, after looking for changes to the file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The user called `name` (in any case) if `password` is theirs.
    ///
    /// Exactly one argon2 verification runs whatever the name, against a dummy hash with
    /// the same parameters when the name is unknown, so the answer takes about as long
    /// for a name that exists as for one that does not. The work runs on tokio's blocking
    /// pool, off the request threads.
    pub async fn verify(&self, name: &str, password: &SecretString) -> Option<LocalUser> {
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        let password = password.clone();
        let task = tokio::task::spawn_blocking(move || inner.verify_blocking(&name, &password));
        match task.await {
            Ok(user) => user,
            Err(error) => {
                tracing::warn!(%error, "the password check did not finish");
                None
            }
        }
    }
}

impl Inner {
    /// A poisoned lock only means another check panicked; the snapshot is replaced whole,
    /// so it is still consistent.
    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn verify_blocking(&self, name: &str, password: &SecretString) -> Option<LocalUser> {
        self.refresh();
        let accounts = Arc::clone(&self.lock().accounts);

        // An over-long password is still checked (against the dummy) so that it costs
        // the same; it can never match.
        let acceptable = password.expose_secret().chars().count() <= MAX_PASSWORD_CHARS;
        let account = accounts
            .get(&name.to_ascii_lowercase())
            .filter(|_| acceptable);
        let hash = account.map_or(DUMMY_HASH, |account| account.hash.0.as_str());
        let matches = password_matches(hash, password.expose_secret().as_bytes());
        account
            .filter(|_| matches)
            .map(|account| account.user.clone())
    }

    /// Rereads the file if it changed since it was last read.
    fn refresh(&self) {
        let mut snapshot = self.lock();
        if snapshot.checked_at.elapsed() < self.recheck {
            return;
        }
        snapshot.checked_at = Instant::now();

        let current = match fingerprint(&self.path) {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error,
                    "cannot look at the users file; keeping the last good list");
                return;
            }
        };
        if current == snapshot.fingerprint {
            return;
        }
        // Remembered even when the read fails, so that a broken file is reported once
        // rather than every second until it is fixed.
        snapshot.fingerprint = current;
        match UsersFile::load(&self.path) {
            Ok(file) => {
                snapshot.accounts = Arc::new(accounts(file));
                tracing::info!(path = %self.path.display(), users = snapshot.accounts.len(),
                    "reread the users file");
            }
            Err(error) => {
                tracing::warn!(%error, "keeping the last good list of local users");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_dummy_hash_has_the_parameters_new_hashes_get() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&dummy).unwrap();
        assert_eq!(dummy.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(dummy.version, Some(Version::V0x13.into()));
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST, T_COST, P_COST)
        );
    }

    #[test]
    fn an_error_location_counts_lines_and_characters_from_one() {
        assert_eq!(line_and_column("ab\ncdé\nfg", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncdé\nfg", 4), (2, 2));
        assert_eq!(line_and_column("ab\ncdé\nfg", 8), (3, 1));
    }
}
