//! `parasol keys`: list, rotate and drop the gateway's signing keys.
//!
//! A running gateway reads the key directory again on SIGHUP. Rotation keeps the old
//! public key in the JWKS, so tokens signed just before it still verify; an operator
//! drops that key once no token it signed can still be alive (after `[gate.token]
//! lifetime`, a few minutes).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use parasol_identity::KeyStore;

use crate::cli::KeysCommand;
use crate::settings::Settings;

/// Runs one `parasol keys` subcommand on the configured key directory.
pub fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let dir = settings.keys_dir();
    match command {
        KeysCommand::List => list(&dir),
        KeysCommand::Rotate => rotate(&dir),
        KeysCommand::Drop { kid } => drop_key(&dir, &kid),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn list(dir: &Path) -> anyhow::Result<()> {
    let store = open_existing(dir)?;
    println!("{}  signs new tokens", store.current().kid());
    for key in store.previous() {
        println!("{}  verifies only", key.kid());
    }
    Ok(())
}

fn rotate(dir: &Path) -> anyhow::Result<()> {
    let mut store = open_existing(dir)?;
    let old = store.current().kid().to_owned();
    store.rotate()?;
    println!("{}", store.current().kid());
    eprintln!(
        "the new key {} signs new tokens; {old} still verifies the ones it signed",
        store.current().kid()
    );
    eprintln!(
        "next: send SIGHUP to every running gateway (`systemctl reload parasol-gate`, or \
         `kill -HUP` the `parasol gate` or `parasol serve` process); after the token \
         lifetime has passed, `parasol keys drop {old}`"
    );
    Ok(())
}

fn drop_key(dir: &Path, kid: &str) -> anyhow::Result<()> {
    let mut store = open_existing(dir)?;
    if store.current().kid() == kid {
        bail!(
            "{kid} is the key that signs new tokens; rotate first (`parasol keys rotate`), \
             then drop it"
        );
    }
    if !store.drop_previous(kid)? {
        bail!(
            "no previous key {kid} in {}; `parasol keys list` shows the keys",
            dir.display()
        );
    }
    eprintln!(
        "dropped {kid}: tokens it signed no longer verify once the gateways have read \
         the keys again (SIGHUP)"
    );
    Ok(())
}

/// Opens the key directory a gateway made, without making one: a key made here would
/// belong to no gateway, or to the wrong user.
fn open_existing(dir: &Path) -> anyhow::Result<KeyStore> {
    if !KeyStore::exists(dir) {
        bail!(
            "no signing key in {}: the gateway makes one on its first start (or set \
             [gate.token] keys_dir to where it keeps them)",
            dir.display()
        );
    }
    Ok(KeyStore::open(dir)?)
}
