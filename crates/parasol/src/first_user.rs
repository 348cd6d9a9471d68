//! The first start of `parasol serve`: with no users yet, a user `admin` with a random
//! password, so that the site can be signed in to at once.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parasol_gate::users::{LocalUser, UsersFile};
use secrecy::SecretString;

use crate::settings::Settings;

/// The name of the user made on the first start.
pub const ADMIN: &str = "admin";

/// Random bytes in a new password: 15 bytes are 120 bits, 20 characters of base64url.
const PASSWORD_BYTES: usize = 15;

/// The user just made, whose password is to be shown once. No `Debug`: it holds the
/// password.
pub struct FirstUser {
    /// The password, to be printed once.
    pub password: SecretString,
    path: PathBuf,
    /// Whether the users file was made for this user, rather than found empty.
    made_file: bool,
}

impl std::fmt::Debug for FirstUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstUser")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Adds `admin` with a random password when local sign-in is on and the users file has
/// nobody in it; otherwise changes nothing.
pub fn create_if_no_users(settings: &Settings) -> anyhow::Result<Option<FirstUser>> {
    if !settings.gate.local_users.enabled {
        return Ok(None);
    }
    let path = settings.users_file();
    let made_file = !path.exists();
    let mut file = UsersFile::load(&path)?;
    if !file.list().is_empty() {
        return Ok(None);
    }

    let password = random_password()?;
    file.add(LocalUser::new(ADMIN), &password)?;
    file.save()?;
    Ok(Some(FirstUser {
        password,
        path,
        made_file,
    }))
}

impl FirstUser {
    /// Takes the user back out after a later start-up step failed: its password was never
    /// shown, so keeping it would lock everyone out until `parasol users passwd`.
    pub fn undo(self) {
        let undone = if self.made_file {
            std::fs::remove_file(&self.path).map_err(anyhow::Error::from)
        } else {
            UsersFile::load(&self.path)
                .and_then(|mut file| file.remove(ADMIN).and_then(|_| file.save()))
                .map_err(anyhow::Error::from)
        };
        if let Err(error) = undone {
            tracing::warn!(
                path = %self.path.display(),
                "cannot take back the first user {ADMIN}: {error:#}; set its password with \
                 `parasol users passwd {ADMIN}`"
            );
        }
    }
}

fn random_password() -> anyhow::Result<SecretString> {
    let mut bytes = [0_u8; PASSWORD_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("{error}"))
        .context("the system gave no random bytes for the first password")?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
}
