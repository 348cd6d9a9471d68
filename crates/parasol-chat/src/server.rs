//! The chat server assembled: identity, generations and routes over one store, and how it
//! is served and shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::{Listener, ListenerExt as _};
use parasol_agent::Agent;
use tokio::net::{TcpListener, TcpStream};

use crate::config::ChatConfig;
use crate::generation::Generations;
use crate::identity::{Authenticator, IdentityConfigError, VerifierSource};
use crate::routes;
use crate::state::AppState;
use crate::store::Store;
use crate::wire::Starter;

/// Why the chat server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The identity settings are incomplete or their files unreadable.
    #[error(transparent)]
    Identity(#[from] IdentityConfigError),
}

/// The `parasol chat` role, ready to serve.
#[derive(Debug, Clone)]
pub struct ChatServer {
    state: Arc<AppState>,
}

impl ChatServer {
    /// Builds the server: `agent` answers, `store` keeps everything, `starters` are the
    /// suggested first messages, and `verifier` says where identity keys come from. A
    /// JWKS is fetched now if it can be; if the gateway is not up yet, requests fetch it
    /// later.
    ///
    /// Answers left `generating` by a server that died are not touched here: a single
    /// chat server should call [`Store::interrupt_generating_answers`] before this, and
    /// one of several replicas must not.
    pub async fn build(
        config: &ChatConfig,
        store: Store,
        agent: Arc<Agent>,
        starters: Vec<Starter>,
        verifier: VerifierSource,
    ) -> Result<Self, ServerError> {
        let auth = Authenticator::new(&config.identity, verifier, store.clone())?;
        auth.prefetch().await;
        let generations = Generations::new(store.clone(), agent, &config.limits);
        let state = AppState {
            store,
            auth,
            generations,
            starters,
            limits: config.limits.clone(),
        };
        Ok(Self {
            state: Arc::new(state),
        })
    }

    /// The routes, for serving or for driving in tests without a socket.
    pub fn router(&self) -> Router {
        routes::router(Arc::clone(&self.state))
    }

    /// The answers being generated, to stop them or follow them from outside a request.
    pub fn generations(&self) -> &Arc<Generations> {
        &self.state.generations
    }

    /// Serves on `listener` until `shutdown` resolves. Then running answers are saved as
    /// interrupted, which ends their streams, and open requests are let finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, backend = self.state.store.backend_name(), "chat server listening");
        }
        let generations = Arc::clone(&self.state.generations);
        // Streams end only when their answer does, so the answers are ended first, or the
        // graceful shutdown would wait for them to finish on their own.
        let shutdown = async move {
            shutdown.await;
            generations.shutdown().await;
        };
        // `into_make_service` readies the routes once; serving the router itself would
        // rebuild its route table for every connection, about 13 KiB each.
        axum::serve(without_delay(listener), self.router().into_make_service())
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("chat server stopped");
        Ok(())
    }
}

/// `listener` with `TCP_NODELAY` set on every connection it accepts. Anything serving the
/// chat routes should listen through this.
///
/// An answer streams as many small writes. With Nagle's algorithm on, a write made while
/// the one before is unacknowledged waits for that acknowledgement, and a client that
/// delays its ACKs (Linux does, for up to 40 ms) holds the first token back by as much.
pub fn without_delay(listener: TcpListener) -> impl Listener<Io = TcpStream, Addr = SocketAddr> {
    listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            // The connection still works, only with its small writes delayed.
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    })
}
