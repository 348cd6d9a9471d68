//! `parasol chat`: the chat server alone, behind `parasol gate` or nginx, trusting only
//! the gateway's signed `X-User-JWT`.

use std::time::Instant;

use anyhow::Context;
use parasol_chat::{ChatServer, IdentityConfig, VerifierSource};

use crate::settings::Settings;
use crate::startup;

/// Runs the chat server until Ctrl-C or SIGTERM.
///
/// Answers a stopped server left generating are not marked interrupted here, as
/// `parasol serve` does: several chat servers may share one database, and one starting
/// would cut off the answers the others are writing.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    // Checked first: a server that can trust nobody is not worth loading a model for.
    let keys = identity_source(&settings.chat.identity)?;
    let listener = startup::bind(settings.chat.listen, "[chat] listen").await?;
    let address = listener
        .local_addr()
        .context("cannot tell which address the chat server listens on")?;
    let agent = startup::agent(&settings).await?;
    let store = startup::open_store(&settings).await?;
    let chat = ChatServer::build(
        &settings.chat,
        store.clone(),
        agent.agent.clone(),
        startup::starters(),
        VerifierSource::Configured,
    )
    .await
    .context("cannot start the chat server")?;

    tracing::info!(
        "ready in {} ms ({}), listening on {address}; identity tokens checked against {keys}",
        started.elapsed().as_millis(),
        agent.describe(&settings),
    );
    let served = chat
        .serve(listener, crate::commands::shutdown_signal())
        .await;
    store.close().await;
    served.context("the chat server stopped with an error")
}

/// Where the gateway's keys come from, for the log; an error that names the keys to set
/// when the settings give no way to check a token.
fn identity_source(identity: &IdentityConfig) -> anyhow::Result<String> {
    let source = match (&identity.jwks_url, &identity.key_file) {
        (None, None) => anyhow::bail!(
            "the chat server has no keys to check identity tokens with: set [chat.identity] \
             jwks_url to the gateway's JWKS (http://127.0.0.1:4180/oauth2/jwks.json) or \
             key_file to its public key, and issuer to its public URL \
             (PARASOL_CHAT__IDENTITY__JWKS_URL, PARASOL_CHAT__IDENTITY__ISSUER); or run \
             `parasol serve` for gateway and chat in one process"
        ),
        (Some(_), Some(_)) => {
            anyhow::bail!("[chat.identity] sets both jwks_url and key_file: keep only one of them")
        }
        (Some(url), None) => format!("the JWKS at {url}"),
        (None, Some(path)) => format!("the key in {}", path.display()),
    };
    let Some(issuer) = &identity.issuer else {
        anyhow::bail!(
            "[chat.identity] issuer is not set: set it to the gateway's public URL, which its \
             tokens carry as `iss` (such as http://127.0.0.1:4180; \
             PARASOL_CHAT__IDENTITY__ISSUER)"
        );
    };
    Ok(format!("{source} (issuer {issuer})"))
}
