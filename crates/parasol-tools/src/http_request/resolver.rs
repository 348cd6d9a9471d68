//! The resolver `http_request`'s client connects through, which checks every address.
//!
//! Checking a name's addresses and then letting the client look the name up again would
//! leave a gap: a hostile DNS server can answer the check with a public address and the
//! connection with a private one (DNS rebinding). So the check sits inside the client's
//! own resolver, and the client connects to exactly the addresses that passed it.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard::{ForbiddenAddress, Guard, check_ip};

/// Looks a host name up. The system resolver in production; a table in tests, so that
/// names resolving to refused addresses can be tried without a DNS server.
pub trait Lookup: Send + Sync + 'static {
    /// The addresses `host` resolves to.
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver, through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// Why a name yielded no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name resolves to a refused address.
    #[error(
        "refused: `{name}` resolves to {}, {}, which is not a public internet address",
        address.address,
        address.reason
    )]
    Forbidden {
        /// The name.
        name: String,
        /// The first refused address among its answers.
        address: ForbiddenAddress,
    },
    /// The lookup failed.
    #[error("could not resolve `{name}`: {source}")]
    Lookup {
        /// The name.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// The lookup found nothing.
    #[error("`{name}` has no addresses")]
    NoAddresses {
        /// The name.
        name: String,
    },
}

/// A [`Resolve`] that refuses names resolving to any refused address.
#[derive(Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
    lookup: Arc<dyn Lookup>,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// A resolver looking names up with `lookup` and checking them with `guard`.
    pub fn new(guard: Arc<Guard>, lookup: Arc<dyn Lookup>) -> Self {
        Self { guard, lookup }
    }

    /// Resolves `name` and checks every address.
    pub async fn resolve_checked(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let addresses = self
            .lookup
            .lookup(name)
            .await
            .map_err(|source| ResolveError::Lookup {
                name: name.to_owned(),
                source,
            })?;
        if addresses.is_empty() {
            return Err(ResolveError::NoAddresses {
                name: name.to_owned(),
            });
        }
        if self.guard.name_is_allowlisted(name) {
            return Ok(addresses);
        }

        // One refused answer refuses the name: connecting to the public answers only
        // would still let a hostile zone steer some connections inward by ordering.
        for address in &addresses {
            if let Err(address) = check_ip(*address) {
                tracing::info!(
                    host = name,
                    address = %address.address,
                    reason = address.reason,
                    "http_request refused a name resolving to a non-public address"
                );
                return Err(ResolveError::Forbidden {
                    name: name.to_owned(),
                    address,
                });
            }
        }
        Ok(addresses)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let addresses = resolver.resolve_checked(name.as_str()).await?;
            // Port 0 tells the connector to use the URL's port.
            let addrs: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(addrs)
        })
    }
}
