//! The configuration: defaults < TOML file < `PARASOL_<SECTION>__<KEY>` < flags.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything Parasol reads from its configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where keys, users, the database and models live.
    pub data_dir: PathBuf,
    /// Which model answers.
    pub model: ModelSettings,
    /// How the agent behaves.
    pub agent: AgentSettings,
    /// The place the weather tools are for, and their data source.
    pub weather: WeatherSettings,
    /// The tools' own settings.
    pub tools: ToolsSettings,
    /// `[redis]`: sessions and one-time sign-in values shared by several gateways.
    pub redis: RedisSettings,
    /// The gateway: sign-in, sessions, identity tokens, the local users file.
    pub gate: parasol_gate::GateConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            model: ModelSettings::default(),
            agent: AgentSettings::default(),
            weather: WeatherSettings::default(),
            tools: ToolsSettings::default(),
            redis: RedisSettings::default(),
            gate: parasol_gate::GateConfig::default(),
        }
    }
}

/// Which kind of model provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A GGUF model run in process through llama.cpp.
    Local,
    /// Any OpenAI-compatible chat-completions endpoint.
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
}

/// The `[model]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// Which provider.
    pub provider: Provider,
    /// The model's name at a remote provider.
    pub name: Option<String>,
    /// The provider's API root.
    pub base_url: Option<String>,
    /// The API key. Never serialised: printing the settings must not print it.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// A file holding the API key.
    pub api_key_file: Option<PathBuf>,
    /// The GGUF file for the local provider; by default the embedded model in
    /// `<data_dir>/models/`.
    pub path: Option<PathBuf>,
    /// CPU threads for the local model.
    pub threads: u32,
    /// Context size in tokens; by default the provider's usual size.
    pub context_tokens: Option<u32>,
    /// Sampling temperature for the local model.
    pub temperature: f32,
    /// Retries of a refused request to a remote provider.
    pub max_retries: u32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            provider: Provider::Local,
            name: None,
            base_url: None,
            api_key: None,
            api_key_file: None,
            path: None,
            threads: 2,
            context_tokens: None,
            temperature: 0.2,
            max_retries: 3,
        }
    }
}

/// The `[agent]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// The system prompt; by default the weather assistant's, which knows today's date
    /// and the place.
    pub system_prompt: Option<String>,
    /// The tools offered to the model, by name; by default the two weather tools for the
    /// local model (a small model does best with few) and every tool for the others.
    pub tools: Option<Vec<String>>,
    /// Whether the first model call of an answer may (`auto`) or must (`required`) call
    /// a tool; by default `required` for the local model, which otherwise rarely looks
    /// anything up, and `auto` for the others.
    pub first_tool_choice: Option<ToolChoiceSetting>,
    /// The most model calls in one answer.
    pub max_cycles: u32,
    /// Seconds one tool call may take.
    pub tool_timeout: u64,
    /// The most tokens the model may write in one call.
    pub max_tokens: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            system_prompt: None,
            tools: None,
            first_tool_choice: None,
            max_cycles: 6,
            tool_timeout: 30,
            max_tokens: 512,
        }
    }
}

/// `agent.first_tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceSetting {
    /// The model decides.
    Auto,
    /// The model must call a tool.
    Required,
}

/// The `[weather]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeatherSettings {
    /// The place's name.
    pub name: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The place's IANA time zone.
    pub timezone: String,
    /// The Open-Meteo API root.
    pub base_url: String,
    /// Seconds a forecast request may take.
    pub timeout: u64,
    /// Seconds an answer is reused for the same question.
    pub cache_ttl: u64,
}

impl Default for WeatherSettings {
    fn default() -> Self {
        let defaults = parasol_tools::weather::WeatherConfig::default();
        Self {
            name: defaults.name,
            latitude: defaults.latitude,
            longitude: defaults.longitude,
            timezone: defaults.timezone,
            base_url: defaults.base_url,
            timeout: defaults.timeout.as_secs(),
            cache_ttl: defaults.cache_ttl.as_secs(),
        }
    }
}

/// The `[tools]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsSettings {
    /// `[tools.http_request]`.
    pub http_request: HttpRequestSettings,
}

/// The `[tools.http_request]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpRequestSettings {
    /// Hosts reachable although they are not public addresses (`intranet.example`,
    /// `10.0.0.5:8080`).
    pub allow_hosts: Vec<String>,
    /// Seconds a whole request may take, redirects included.
    pub timeout: u64,
    /// The most bytes of a response read.
    pub max_bytes: usize,
    /// The most redirects followed.
    pub max_redirects: usize,
}

impl Default for HttpRequestSettings {
    fn default() -> Self {
        let defaults = parasol_tools::HttpRequestConfig::default();
        Self {
            allow_hosts: defaults.allow_hosts,
            timeout: defaults.timeout.as_secs(),
            max_bytes: defaults.max_bytes,
            max_redirects: defaults.max_redirects,
        }
    }
}

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "parasol.toml";

/// Settings given as flags: dotted keys (`model.provider`) and their values.
#[derive(Debug, Default)]
pub struct Overrides(Vec<(&'static str, serde_json::Value)>);

impl Overrides {
    /// Sets `key` to `value` when the flag was given.
    pub fn set(&mut self, key: &'static str, value: Option<impl Serialize>) -> &mut Self {
        if let Some(value) = value.and_then(|value| serde_json::to_value(value).ok()) {
            self.0.push((key, value));
        }
        self
    }
}

/// A configuration that could not be read: figment's message names the key and where
/// its value came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The named file does not exist.
    #[error("the configuration file {} does not exist; create it or leave --config out", .0.display())]
    MissingFile(PathBuf),
    /// A key or value is wrong.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Reads the configuration. `file` is `--config`; without it `parasol.toml` is read
    /// when it exists. `overrides` are the flags, highest in precedence.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_FILE));
            }
            None => {}
        }
        figment = figment.merge(
            Env::prefixed("PARASOL_")
                .split("__")
                .ignore(&["log", "config"]),
        );
        for (key, value) in &overrides.0 {
            figment = figment.merge(Serialized::default(key, value));
        }
        figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(|error| describe(&error)).collect();
            SettingsError::Invalid(messages.join("; "))
        })
    }

    /// The settings as TOML, with every secret replaced by a mark.
    pub fn redacted_toml(&self) -> String {
        let mut value = match toml::Value::try_from(self) {
            Ok(value) => value,
            Err(error) => return format!("# cannot print the settings: {error}"),
        };
        if self.model.api_key.is_some() {
            mark_redacted(value.get_mut("model"), "api_key");
        }
        if self.gate.cookie_secret.is_some() {
            mark_redacted(value.get_mut("gate"), "cookie_secret");
        }
        for (index, provider) in self.gate.oidc.iter().enumerate() {
            if provider.client_secret.is_some() {
                let table = value
                    .get_mut("gate")
                    .and_then(|gate| gate.get_mut("oidc"))
                    .and_then(|oidc| oidc.get_mut(index));
                mark_redacted(table, "client_secret");
            }
        }
        // A Redis URL may carry a password (`redis://:secret@host`).
        if self
            .redis
            .url
            .as_deref()
            .is_some_and(|url| url.contains('@'))
        {
            mark_redacted(value.get_mut("redis"), "url");
        }
        toml::to_string_pretty(&value).unwrap_or_default()
    }

    /// The users file: `[gate.local_users] users_file`, or `users.toml` in the data
    /// directory.
    pub fn users_file(&self) -> PathBuf {
        self.gate.users_file_path(&self.data_dir)
    }
}

/// Shows that `key` is set without showing its value. Secrets are never serialised, so
/// the key is absent until this puts the mark in.
fn mark_redacted(table: Option<&mut toml::Value>, key: &str) {
    if let Some(table) = table.and_then(toml::Value::as_table_mut) {
        table.insert(key.into(), toml::Value::String("[redacted]".into()));
    }
}

/// One figment error as "what, for which key, from where", without figment's profile
/// name (Parasol has one profile).
fn describe(error: &figment::Error) -> String {
    let mut text = error.kind.to_string();
    if !error.path.is_empty() {
        text.push_str(&format!(" for key `{}`", error.path.join(".")));
    }
    if let Some(metadata) = &error.metadata {
        match &metadata.source {
            Some(source) => text.push_str(&format!(" in {source}")),
            None => text.push_str(&format!(" from {}", metadata.name)),
        }
    }
    text
}

/// The `[redis]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`; needed by `gate.session.store = "redis"`.
    pub url: Option<String>,
}
