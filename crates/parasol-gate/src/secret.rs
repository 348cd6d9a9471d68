//! The cookie key: from the configuration, from a file, or generated once and kept.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// The fewest bytes a cookie key may have: AES-256 and its HMAC-based key derivation want
/// 256 bits of entropy.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why the cookie key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is shorter than [`MIN_SECRET_BYTES`].
    #[error(
        "the cookie secret {origin} is {len} bytes; it needs at least {MIN_SECRET_BYTES} \
         (make one with `head -c 32 /dev/urandom | base64`)"
    )]
    TooShort {
        /// Where the key came from.
        origin: String,
        /// Its length.
        len: usize,
    },
    /// The key file could not be read or written.
    #[error("cannot {action} the cookie secret file {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// The cookie key's bytes, wiped from memory when dropped.
pub type CookieSecret = SecretBox<Vec<u8>>;

/// The configured key when there is one, otherwise the file's, creating the file with a
/// fresh random key (mode 0600) when it does not exist.
///
/// A key given as text is used as its bytes after trimming, so a base64 or hex string of
/// 44 or 64 characters works as well as raw bytes.
pub fn load_or_create(
    configured: Option<&SecretString>,
    file: &Path,
) -> Result<CookieSecret, SecretError> {
    if let Some(secret) = configured {
        return checked(
            secret.expose_secret().trim().as_bytes().to_vec(),
            "from the config",
        );
    }
    match fs::read_to_string(file) {
        Ok(text) => checked(
            text.trim().as_bytes().to_vec(),
            &format!("in {}", file.display()),
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(file),
        Err(source) => Err(SecretError::Io {
            action: "read",
            path: file.to_owned(),
            source,
        }),
    }
}

fn checked(bytes: Vec<u8>, origin: &str) -> Result<CookieSecret, SecretError> {
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort {
            origin: origin.to_owned(),
            len: bytes.len(),
        });
    }
    Ok(SecretBox::new(Box::new(bytes)))
}

/// Writes a new key to a temporary file and links it into place, so that two processes
/// starting at once agree on one key and a crash leaves no half-written file.
fn create(file: &Path) -> Result<CookieSecret, SecretError> {
    let io = |action| {
        move |source| SecretError::Io {
            action,
            path: file.to_owned(),
            source,
        }
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create the directory of"))?;

    let mut raw = [0u8; 48];
    getrandom::fill(&mut raw).map_err(|error| SecretError::Random(error.to_string()))?;
    let text = STANDARD.encode(raw);

    let temp = dir.join(format!(".cookie-secret.{}.tmp", std::process::id()));
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io("create"))?;
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(0o600)));
    let linked = written.and_then(|()| fs::hard_link(&temp, file));
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => checked(text.into_bytes(), "generated"),
        // Another process won the race: use its key.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create(None, file)
        }
        Err(source) => Err(SecretError::Io {
            action: "write",
            path: file.to_owned(),
            source,
        }),
    }
}
