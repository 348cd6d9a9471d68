//! `parasol config check`.

use std::path::Path;
use std::process::ExitCode;

use crate::settings::{DEFAULT_FILE, Settings};

/// Prints the effective configuration. Reaching here means it was valid: loading it
/// already reported any wrong key or value.
pub fn check(settings: &Settings, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let source = match file {
        Some(path) => path.display().to_string(),
        None if Path::new(DEFAULT_FILE).exists() => DEFAULT_FILE.to_owned(),
        None => "defaults and environment (no file)".to_owned(),
    };
    eprintln!("configuration is valid (from {source})");
    print!("{}", settings.redacted_toml());
    Ok(ExitCode::SUCCESS)
}
