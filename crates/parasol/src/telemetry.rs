//! Logging: human-readable lines on standard error, filtered like `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Added to the default filter: llama.cpp reports every step of loading a model at info
/// (a hundred lines), and a damaged file at error besides the error Parasol reports. Its
/// lines are shown when a `--log` filter names it, as in `info,llama-cpp-2=info`.
const QUIET_BY_DEFAULT: &str = "llama-cpp-2=off";

/// Starts logging with `filter` (a tracing filter directive), or `default` with
/// llama.cpp's own lines left out when no filter was given.
pub fn init(filter: Option<&str>, default: &str) -> anyhow::Result<()> {
    let filter = match filter {
        Some(filter) => filter.to_owned(),
        None => format!("{default},{QUIET_BY_DEFAULT}"),
    };
    let filter = EnvFilter::try_new(&filter)
        .map_err(|error| anyhow::anyhow!("invalid --log filter `{filter}`: {error}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
    Ok(())
}
