//! What the server roles share at start-up: the listening socket, the data directory,
//! the gateway, the agent with its model, the chat database and the starters.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use parasol_agent::Agent;
use parasol_chat::Starter;
use parasol_chat::store::{DatabaseLocation, Store};
use parasol_gate::{Gate, GateConfig};
use tokio::net::TcpListener;

use crate::assistant;
use crate::settings::{Provider, Settings};

/// Binds `address` before anything slow or lasting happens, so that a port in use is
/// reported at once and leaves nothing behind. `setting` names the key that sets it.
pub async fn bind(address: SocketAddr, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        let hint = match error.kind() {
            ErrorKind::AddrInUse => "another process is using it: stop that one, or ",
            ErrorKind::PermissionDenied => "ports below 1024 need privileges: ",
            _ => "",
        };
        anyhow::anyhow!(
            "cannot listen on {address}: {error}; {hint}choose another address with \
             --listen or {setting}"
        )
    })
}

/// Creates the data directory (mode 0700: it will hold the signing key) when it is
/// missing, and checks that it can be read and written, so that a bad one is reported
/// as such and not as whichever file inside it is touched first.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;

    let shown = dir.display();
    let advice = "choose another with --data-dir or data_dir";
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("the data directory {shown} is not a directory; {advice}");
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| {
            anyhow::anyhow!("cannot create the data directory {shown}: {error}; {advice}")
        })?;
    std::fs::read_dir(dir).map_err(|error| {
        anyhow::anyhow!(
            "cannot read the data directory {shown}: {error}; let this user read and write \
             it (`chmod u+rwx {shown}`) or {advice}"
        )
    })?;

    let probe = dir.join(format!(".parasol-write-check.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    let _ = std::fs::remove_file(&probe);
    written.map_err(|error| {
        anyhow::anyhow!(
            "cannot write in the data directory {shown}: {error}; let this user write it \
             (`chmod u+rwx {shown}`) or {advice}"
        )
    })?;
    Ok(())
}

/// The assistant, with its model loaded (or its provider connected).
#[derive(Debug)]
pub struct LoadedAgent {
    /// The agent.
    pub agent: Arc<Agent>,
    /// How long building it took, nearly all of it loading a local model.
    pub took: Duration,
}

impl LoadedAgent {
    /// For the ready line: "model loaded in 310 ms", or which remote provider answers.
    pub fn describe(&self, settings: &Settings) -> String {
        match settings.model.provider {
            Provider::Local => format!("model loaded in {} ms", self.took.as_millis()),
            Provider::Openai => "model: an OpenAI-compatible server".to_owned(),
            Provider::Anthropic => "model: Anthropic".to_owned(),
        }
    }
}

/// Builds the assistant and times it.
pub async fn agent(settings: &Settings) -> anyhow::Result<LoadedAgent> {
    let started = Instant::now();
    let agent = assistant::build(settings).await?;
    Ok(LoadedAgent {
        agent: Arc::new(agent),
        took: started.elapsed(),
    })
}

/// Builds the gateway from `config` (the `[gate]` settings as the role adjusted them),
/// with the data directory and Redis of `settings`.
pub async fn gate(settings: &Settings, config: &GateConfig) -> anyhow::Result<Arc<Gate>> {
    let gate = Gate::build(
        config,
        &settings.data_dir,
        settings.redis.url.as_deref(),
        None,
    )
    .await
    .context("cannot start the gateway")?;
    Ok(Arc::new(gate))
}

/// Opens the `[database]` (SQLite in the data directory by default) and brings its
/// schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let location =
        DatabaseLocation::from_config(settings.database.url.as_deref(), &settings.data_dir)
            .context("check [database] url (PARASOL_DATABASE__URL)")?;
    Store::connect(&location).await.map_err(|error| {
        let cause = anyhow::Error::from(error);
        anyhow::anyhow!(
            "cannot open the chat database: {cause:#}; check [database] url and that the \
             database can be reached"
        )
    })
}

/// The weather assistant's suggested first messages.
pub fn starters() -> Vec<Starter> {
    parasol_tools::weather::STARTERS
        .iter()
        .map(|starter| Starter {
            title: starter.label.to_owned(),
            message: starter.message.to_owned(),
        })
        .collect()
}
