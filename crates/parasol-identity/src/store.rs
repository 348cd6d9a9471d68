//! The gateway's signing keys on disk: the current key pair and the public keys of the ones
//! it replaced.

use std::fs::{self, DirBuilder, File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret as _;

use crate::jwks::Jwks;
use crate::key::{KeyError, KeyPair, PublicKey};

const CURRENT: &str = "current.pem";
const PREVIOUS_PREFIX: &str = "previous-";
const PEM_SUFFIX: &str = ".pem";
/// Temporary files start with a dot so that a crash's leftovers are never read as keys.
const TEMP_PREFIX: &str = ".tmp-";

/// What went wrong reading or writing the key directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A key file exists but does not hold a usable key. It is left as it is: replacing it
    /// would silently invalidate every token it signed.
    #[error("key file {path} is not a valid key: {source}")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be read.
        source: KeyError,
    },
    /// A previous key's file name does not match the key inside it.
    #[error("key file {path} holds the key with kid {actual:?}, not the one its name says")]
    KidMismatch {
        /// The key file.
        path: PathBuf,
        /// The kid of the key in the file.
        actual: String,
    },
    /// A new key could not be made or encoded.
    #[error("could not make a key: {0}")]
    Key(#[from] KeyError),
}

/// The current signing key and the previous public keys, backed by a directory.
///
/// The layout of the key directory:
///
/// ```text
/// keys/                      mode 0700, created if missing
///   current.pem              PKCS#8 PEM private key that signs new tokens, mode 0600
///   previous-<kid>.pem       SPKI PEM public key of a replaced key, still trusted, mode 0600
/// ```
///
/// `<kid>` is the key's RFC 7638 thumbprint, so a file name can be checked against its
/// contents. A replaced key keeps only its public half: it verifies tokens issued before the
/// rotation until an operator drops it, but can sign nothing. Every file is written to a
/// temporary file in the same directory, synced and renamed into place, so a crash leaves
/// either the old file or the new one, never half a key.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    current: KeyPair,
    previous: Vec<PublicKey>,
}

impl KeyStore {
    /// Opens the key directory, creating it and a first key pair when there is none.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error("create key directory", &dir))?;

        let current = load_or_create_current(&dir)?;
        let previous = load_previous(&dir, current.kid())?;
        Ok(Self {
            dir,
            current,
            previous,
        })
    }

    /// Whether `dir` holds a signing key already, so that tools which only manage keys can
    /// refuse to make a first one of their own.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CURRENT).is_file()
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &KeyPair {
        &self.current
    }

    /// The public keys of replaced keys, still trusted for verification.
    pub fn previous(&self) -> &[PublicKey] {
        &self.previous
    }

    /// Every key a verifier should trust, the current one first.
    pub fn verification_keys(&self) -> impl Iterator<Item = &PublicKey> {
        std::iter::once(self.current.public_key()).chain(&self.previous)
    }

    /// The JWKS to publish.
    pub fn jwks(&self) -> Jwks {
        Jwks::from_keys(self.verification_keys())
    }

    /// The directory the keys live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the current key with a new one and keeps the old public key trusted.
    ///
    /// The old public key is written before the new private key replaces `current.pem`, so
    /// a crash in between leaves the old key current and its public copy ignored.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        let next = KeyPair::generate()?;
        let old = self.current.public_key().clone();

        let old_pem = old.to_public_key_pem()?;
        write_atomically(
            &self.dir,
            &previous_file_name(old.kid()),
            old_pem.as_bytes(),
            true,
        )?;
        let next_pem = next.to_pkcs8_pem()?;
        write_atomically(
            &self.dir,
            CURRENT,
            next_pem.expose_secret().as_bytes(),
            true,
        )?;

        tracing::info!(
            old_kid = old.kid(),
            new_kid = next.kid(),
            "rotated the signing key"
        );
        self.previous.push(old);
        self.current = next;
        Ok(())
    }

    /// Stops trusting a previous key; tokens it signed no longer verify. Returns whether
    /// the key was known.
    pub fn drop_previous(&mut self, kid: &str) -> Result<bool, StoreError> {
        // Only kids read from this directory are turned into paths, never arbitrary input.
        let Some(index) = self.previous.iter().position(|key| key.kid() == kid) else {
            return Ok(false);
        };

        let path = self.dir.join(previous_file_name(kid));
        fs::remove_file(&path).map_err(io_error("remove previous key", &path))?;
        sync_dir(&self.dir)?;
        self.previous.remove(index);
        tracing::info!(kid, "dropped a previous signing key");
        Ok(true)
    }
}

/// Reads one key from a PEM file: a public key, or a private key's public half.
pub(crate) fn read_any_key(path: &Path) -> Result<PublicKey, StoreError> {
    let pem = fs::read_to_string(path).map_err(io_error("read key file", path))?;
    if pem.contains("-----BEGIN PUBLIC KEY-----") {
        return PublicKey::from_public_key_pem(&pem).map_err(corrupt(path));
    }
    let pair = KeyPair::from_pkcs8_pem(&pem).map_err(corrupt(path))?;
    Ok(pair.public_key().clone())
}

fn load_or_create_current(dir: &Path) -> Result<KeyPair, StoreError> {
    let path = dir.join(CURRENT);
    match fs::read_to_string(&path) {
        Ok(pem) => {
            warn_if_readable_by_others(&path);
            KeyPair::from_pkcs8_pem(&pem).map_err(corrupt(&path))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => create_current(dir),
        Err(err) => Err(io_error("read key file", &path)(err)),
    }
}

fn create_current(dir: &Path) -> Result<KeyPair, StoreError> {
    let pair = KeyPair::generate()?;
    let pem = pair.to_pkcs8_pem()?;

    // No clobbering: if another process created the key meanwhile, its key wins and is read.
    match write_atomically(dir, CURRENT, pem.expose_secret().as_bytes(), false) {
        Ok(()) => {
            tracing::info!(kid = pair.kid(), "created a new signing key");
            Ok(pair)
        }
        Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            load_or_create_current(dir)
        }
        Err(err) => Err(err),
    }
}

fn load_previous(dir: &Path, current_kid: &str) -> Result<Vec<PublicKey>, StoreError> {
    let mut previous = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list key directory", dir))? {
        let entry = entry.map_err(io_error("list key directory", dir))?;
        let name = entry.file_name();
        let Some(kid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PREVIOUS_PREFIX))
            .and_then(|rest| rest.strip_suffix(PEM_SUFFIX))
        else {
            continue;
        };

        let path = entry.path();
        let pem = fs::read_to_string(&path).map_err(io_error("read key file", &path))?;
        let key = PublicKey::from_public_key_pem(&pem).map_err(corrupt(&path))?;
        if key.kid() != kid {
            return Err(StoreError::KidMismatch {
                path,
                actual: key.kid().to_owned(),
            });
        }
        // A rotation that crashed before replacing current.pem leaves this copy behind.
        if kid != current_kid {
            previous.push(key);
        }
    }

    // Directory order is arbitrary; sorting keeps the JWKS stable between restarts.
    previous.sort_by(|a, b| a.kid().cmp(b.kid()));
    Ok(previous)
}

fn write_atomically(
    dir: &Path,
    name: &str,
    contents: &[u8],
    replace: bool,
) -> Result<(), StoreError> {
    let path = dir.join(name);

    // The temporary file is created 0600, so the secret is never readable by others, not
    // even for a moment; it is deleted again if anything below fails.
    let mut file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_error("create temporary key file in", dir))?;
    file.write_all(contents)
        .map_err(io_error("write temporary key file for", &path))?;
    file.as_file()
        .sync_all()
        .map_err(io_error("sync temporary key file for", &path))?;

    let persisted = if replace {
        file.persist(&path).map(drop)
    } else {
        file.persist_noclobber(&path).map(drop)
    };
    persisted.map_err(|err| io_error("move key file into place at", &path)(err.error))?;
    sync_dir(dir)
}

/// The rename is durable only once the directory entry itself has reached the disk.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error("sync key directory", dir))
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the signing key file is readable by other users");
    }
}

fn previous_file_name(kid: &str) -> String {
    format!("{PREVIOUS_PREFIX}{kid}{PEM_SUFFIX}")
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

fn corrupt(path: &Path) -> impl FnOnce(KeyError) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Corrupt { path, source }
}
