//! `parasol gate`: the gateway alone, behind nginx or as the reverse proxy itself.

use std::sync::Arc;

use anyhow::Context;
use parasol_gate::Gate;

use crate::cli::GateArgs;
use crate::settings::Settings;

/// Runs the gateway until Ctrl-C or SIGTERM. SIGHUP reads the signing keys again, after
/// a rotation.
pub async fn run(settings: Settings, args: GateArgs) -> anyhow::Result<()> {
    let mut config = settings.gate.clone();
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(upstream) = args.upstream {
        config.upstream = Some(upstream);
    }

    let listener = crate::startup::bind(config.listen, "[gate] listen").await?;
    // The public URL defaults to the listen address, which must be the bound one when
    // port 0 picked a free port.
    config.listen = listener
        .local_addr()
        .context("cannot tell which address the gateway listens on")?;
    let gate = crate::startup::gate(&settings, &config).await?;

    let public = gate.site.as_str().trim_end_matches('/').to_owned();
    match &config.upstream {
        Some(upstream) => tracing::info!(
            "gateway listening on {}, passing signed-in requests to {upstream}; \
             open {public}/ in a browser",
            config.listen
        ),
        None => tracing::info!(
            "gateway listening on {}, answering nginx's auth_request; sign-in page at \
             {public}/oauth2/sign_in",
            config.listen
        ),
    }
    for provider in &gate.providers {
        if let Err(error) = provider.discover().await {
            tracing::warn!(%error, "provider not reachable yet; sign-in with it will retry");
        }
    }
    tokio::spawn(reload_keys_on_hangup(gate.clone()));

    parasol_gate::server::serve(gate, listener, crate::commands::shutdown_signal())
        .await
        .context("the gateway stopped with an error")
}

async fn reload_keys_on_hangup(gate: Arc<Gate>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match gate.tokens.reload() {
            Ok(()) => tracing::info!("signing keys read again"),
            Err(error) => tracing::error!(%error, "cannot read the signing keys again"),
        }
    }
}
