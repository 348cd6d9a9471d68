//! The gateway's counters, served at `/metrics` in the Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of the `/oauth2/auth` counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `ok`, `unauthenticated` or `forbidden`.
    pub result: &'static str,
}

/// Labels of the sign-in counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignInLabels {
    /// `local` or the provider's id.
    pub provider: String,
    /// `ok`, `failed`, `forbidden` or `rate_limited`.
    pub result: &'static str,
}

/// Every counter the gateway keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Answers of `/oauth2/auth`, by result.
    pub auth: Family<AuthLabels, Counter>,
    /// Sign-in attempts, by provider and result.
    pub sign_ins: Family<SignInLabels, Counter>,
    /// Sign-outs.
    pub sign_outs: Counter,
    /// Identity tokens signed (tokens reused from the cache are not counted).
    pub tokens_signed: Counter,
    /// Sessions extended with a refresh token, and refreshes the provider refused.
    pub refreshes: Family<AuthLabels, Counter>,
    /// Requests passed upstream in reverse-proxy mode.
    pub proxied: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("parasol_gate");
        let auth = Family::<AuthLabels, Counter>::default();
        let sign_ins = Family::<SignInLabels, Counter>::default();
        let sign_outs = Counter::default();
        let tokens_signed = Counter::default();
        let refreshes = Family::<AuthLabels, Counter>::default();
        let proxied = Counter::default();
        registry.register("auth_requests", "Answers of /oauth2/auth", auth.clone());
        registry.register("sign_ins", "Sign-in attempts", sign_ins.clone());
        registry.register("sign_outs", "Sign-outs", sign_outs.clone());
        registry.register(
            "tokens_signed",
            "Identity tokens signed",
            tokens_signed.clone(),
        );
        registry.register(
            "refreshes",
            "Session refreshes at the provider",
            refreshes.clone(),
        );
        registry.register(
            "proxied_requests",
            "Requests passed upstream",
            proxied.clone(),
        );
        Self {
            registry,
            auth,
            sign_ins,
            sign_outs,
            tokens_signed,
            refreshes,
            proxied,
        }
    }
}

impl Metrics {
    /// Counts one `/oauth2/auth` answer.
    pub fn auth(&self, result: &'static str) {
        self.auth.get_or_create(&AuthLabels { result }).inc();
    }

    /// Counts one sign-in attempt.
    pub fn sign_in(&self, provider: &str, result: &'static str) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                provider: provider.to_owned(),
                result,
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
