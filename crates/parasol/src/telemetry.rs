//! Logging: human-readable lines on standard error, filtered like `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Starts logging with `filter` (a tracing filter directive).
pub fn init(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|error| anyhow::anyhow!("invalid --log filter `{filter}`: {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
    Ok(())
}
