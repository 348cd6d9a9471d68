//! `parasol serve`: the gateway in front of the chat server and its agent, in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use parasol_chat::store::Store;
use parasol_chat::{ChatServer, VerifierSource};
use parasol_gate::Gate;
use parasol_identity::Verifier;
use secrecy::ExposeSecret as _;
use tokio::sync::watch;

use crate::first_user::{self, ADMIN, FirstUser};
use crate::settings::Settings;
use crate::startup::{self, LoadedAgent};

/// Runs the whole site until Ctrl-C or SIGTERM. SIGHUP reads the signing keys again.
///
/// The steps that fail on bad input most often come first, before anything lasting is
/// written: the port, the data directory, the model. Then the first user is made, and
/// taken out again if the database, the keys or the cookie secret fail, since its
/// password would never have been shown.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    let listener = startup::bind(settings.serve.listen, "[serve] listen").await?;
    let address = listener
        .local_addr()
        .context("cannot tell which address the server listens on")?;
    startup::prepare_data_dir(&settings.data_dir)?;
    let agent = startup::agent(&settings).await?;

    let first_user = first_user::create_if_no_users(&settings)?;
    let site = match Site::build(&settings, address, &agent).await {
        Ok(site) => site,
        Err(error) => {
            if let Some(user) = first_user {
                user.undo();
            }
            return Err(error);
        }
    };

    tracing::info!(
        "ready in {} ms ({}), listening on {address}",
        started.elapsed().as_millis(),
        agent.describe(&settings),
    );
    welcome(&site.url, first_user.as_ref());
    for provider in &site.gate.providers {
        if let Err(error) = provider.discover().await {
            tracing::warn!(%error, "provider not reachable yet; sign-in with it will retry");
        }
    }
    tokio::spawn(reload_keys_on_hangup(
        Arc::clone(&site.gate),
        site.keys,
        site.verifiers,
    ));

    let generations = Arc::clone(site.chat.generations());
    // Streams end only when their answer does, so the answers are ended first, or the
    // graceful shutdown would wait for them to finish on their own.
    let shutdown = async move {
        crate::commands::shutdown_signal().await;
        generations.shutdown().await;
    };
    let served = parasol_gate::server::serve_app(site.app, listener, shutdown).await;
    site.store.close().await;
    served.context("the server stopped with an error")
}

/// The gateway with the chat server inside it.
struct Site {
    app: axum::Router,
    gate: Arc<Gate>,
    chat: ChatServer,
    store: Store,
    keys: Expectations,
    /// Hands the chat server a new verifier when the keys change.
    verifiers: watch::Sender<Verifier>,
    /// Where to point the browser, ending in `/`.
    url: String,
}

impl Site {
    async fn build(
        settings: &Settings,
        address: SocketAddr,
        agent: &LoadedAgent,
    ) -> anyhow::Result<Self> {
        let store = startup::open_store(settings).await?;
        // One process owns every answer, so any still generating was cut off by its stop.
        store
            .interrupt_generating_answers()
            .await
            .context("cannot mark the answers cut short by the last stop")?;

        let mut config = settings.gate.clone();
        // The public URL defaults to the listen address, which must be the bound one when
        // port 0 picked a free port.
        config.listen = address;
        if config.upstream.take().is_some() {
            tracing::warn!("gate.upstream is ignored: parasol serve runs the chat in process");
        }
        let gate = startup::gate(settings, &config).await?;

        let keys = Expectations {
            issuer: config.token.issuer.clone().unwrap_or_else(|| origin(&gate)),
            audience: config.token.audience.clone(),
            leeway: Duration::from_secs(settings.chat.identity.leeway),
        };
        let (verifiers, receiver) = watch::channel(keys.verifier(&gate)?);
        let chat = ChatServer::build(
            &settings.chat,
            store.clone(),
            Arc::clone(&agent.agent),
            startup::starters(),
            VerifierSource::Watched(receiver),
        )
        .await
        .context("cannot start the chat server")?;

        let app = parasol_gate::server::app_with(Arc::clone(&gate), Some(chat.router()));
        Ok(Self {
            app,
            url: format!("{}/", origin(&gate)),
            gate,
            chat,
            store,
            keys,
            verifiers,
        })
    }
}

/// The site's origin without a trailing slash: the gateway's default token issuer.
fn origin(gate: &Gate) -> String {
    gate.site.as_str().trim_end_matches('/').to_owned()
}

/// What the chat server expects of the gateway's tokens.
struct Expectations {
    issuer: String,
    audience: String,
    leeway: Duration,
}

impl Expectations {
    /// A verifier of the gateway's current keys, held in this process: nothing is
    /// fetched over HTTP.
    fn verifier(&self, gate: &Gate) -> anyhow::Result<Verifier> {
        let verifier = Verifier::from_jwks_json(
            &gate.tokens.jwks(),
            self.issuer.clone(),
            self.audience.clone(),
        )
        .context("cannot read the gateway's own public keys")?;
        Ok(verifier.with_leeway(self.leeway))
    }
}

/// Says where to point the browser; on the first start also who to sign in as. Printed
/// on standard output, not logged, so that the password reaches no log collector.
fn welcome(url: &str, first_user: Option<&FirstUser>) {
    println!("Parasol is running: open {url} in a browser.");
    if let Some(user) = first_user {
        println!(
            "Sign in as `{ADMIN}` with the password {}",
            user.password.expose_secret()
        );
        println!("It is shown only this once: change it with `parasol users passwd {ADMIN}`.");
    }
}

async fn reload_keys_on_hangup(
    gate: Arc<Gate>,
    keys: Expectations,
    verifiers: watch::Sender<Verifier>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        let reloaded = gate
            .tokens
            .reload()
            .map_err(anyhow::Error::from)
            .and_then(|()| keys.verifier(&gate));
        match reloaded {
            Ok(verifier) => {
                verifiers.send_replace(verifier);
                tracing::info!("signing keys read again");
            }
            Err(error) => tracing::error!("cannot read the signing keys again: {error:#}"),
        }
    }
}
