//! Builds the configured model provider.

#[cfg(feature = "local")]
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use parasol_agent::Model;
use parasol_agent::model::{
    AnthropicConfig, AnthropicModel, OpenAiConfig, OpenAiModel, RetryPolicy,
};
use secrecy::SecretString;

use crate::settings::{ModelSettings, Provider, Settings};

/// The embedded default model's file, in `<data_dir>/models/`.
#[cfg(feature = "local")]
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the local model is read from.
#[cfg(feature = "local")]
pub fn local_model_path(settings: &Settings) -> PathBuf {
    settings
        .model
        .path
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("models").join(DEFAULT_MODEL_FILE))
}

/// Loads or connects the model the settings name. Loading a local model reads the
/// whole file, so it runs on a blocking thread.
pub async fn build(settings: &Settings) -> anyhow::Result<Arc<dyn Model>> {
    let model = &settings.model;
    let retry = RetryPolicy {
        max_retries: model.max_retries,
        ..RetryPolicy::default()
    };
    match model.provider {
        Provider::Openai => {
            let mut config =
                OpenAiConfig::new(model.name.clone().unwrap_or_else(|| "gpt-4o-mini".into()));
            if let Some(url) = &model.base_url {
                config.base_url.clone_from(url);
            }
            config.api_key = api_key(model, "OPENAI_API_KEY")?;
            config.retry = retry;
            if let Some(tokens) = model.context_tokens {
                config.context_tokens = tokens as usize;
            }
            Ok(Arc::new(OpenAiModel::new(config)?))
        }
        Provider::Anthropic => {
            let name = model
                .name
                .clone()
                .unwrap_or_else(|| "claude-sonnet-4-5".into());
            let mut config = AnthropicConfig::new(name);
            if let Some(url) = &model.base_url {
                config.base_url.clone_from(url);
            }
            config.api_key = api_key(model, "ANTHROPIC_API_KEY")?;
            config.retry = retry;
            if let Some(tokens) = model.context_tokens {
                config.context_tokens = tokens as usize;
            }
            Ok(Arc::new(AnthropicModel::new(config)?))
        }
        Provider::Local => local(settings).await,
    }
}

#[cfg(feature = "local")]
async fn local(settings: &Settings) -> anyhow::Result<Arc<dyn Model>> {
    use parasol_agent::model::local::{LocalConfig, LocalModel};

    let mut config = LocalConfig::new(local_model_path(settings));
    config.threads = settings.model.threads;
    config.temperature = settings.model.temperature;
    if let Some(tokens) = settings.model.context_tokens {
        config.context_tokens = tokens;
    }
    let model = tokio::task::spawn_blocking(move || LocalModel::load(config))
        .await
        .context("the model loader stopped")??;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "local"))]
async fn local(_: &Settings) -> anyhow::Result<Arc<dyn Model>> {
    anyhow::bail!(
        "this parasol was built without the local model (feature `local`); \
         set model.provider to openai or anthropic, or rebuild with default features"
    )
}

/// The API key from `api_key`, `api_key_file` or the provider's usual variable.
fn api_key(model: &ModelSettings, variable: &str) -> anyhow::Result<Option<SecretString>> {
    if let Some(key) = &model.api_key {
        return Ok(Some(key.clone()));
    }
    if let Some(path) = &model.api_key_file {
        let key = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model.api_key_file {}", path.display()))?;
        return Ok(Some(SecretString::from(key.trim().to_owned())));
    }
    Ok(std::env::var(variable)
        .ok()
        .filter(|key| !key.is_empty())
        .map(SecretString::from))
}
