//! What every request handler shares.

use std::sync::Arc;

use crate::config::LimitsConfig;
use crate::generation::Generations;
use crate::identity::Authenticator;
use crate::store::Store;
use crate::wire::Starter;

/// The chat server's shared state, behind an `Arc`.
#[derive(Debug)]
pub(crate) struct AppState {
    pub store: Store,
    pub auth: Authenticator,
    pub generations: Arc<Generations>,
    pub starters: Vec<Starter>,
    pub limits: LimitsConfig,
}
