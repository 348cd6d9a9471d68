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
    /// `[chat]`: the chat server alone (`parasol chat`): where it listens, how it checks
    /// identity tokens, what each user may ask.
    pub chat: parasol_chat::ChatConfig,
    /// `[database]`: where the chat server keeps threads and messages.
    pub database: DatabaseSettings,
    /// `[serve]`: everything in one process (`parasol serve`).
    pub serve: ServeSettings,
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
            chat: parasol_chat::ChatConfig::default(),
            database: DatabaseSettings::default(),
            serve: ServeSettings::default(),
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
    #[error("invalid configuration: {0}; fix it, then check with `parasol config check`")]
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
        if self.chat.identity.legacy_hs256_secret.is_some() {
            let identity = value
                .get_mut("chat")
                .and_then(|chat| chat.get_mut("identity"));
            mark_redacted(identity, "legacy_hs256_secret");
        }
        // Unlike Redis's, the database URL stays readable: only its password is hidden.
        if let Some(url) = &self.database.url
            && let Some(table) = value
                .get_mut("database")
                .and_then(toml::Value::as_table_mut)
        {
            table.insert("url".into(), toml::Value::String(redact_url_password(url)));
        }
        toml::to_string_pretty(&value).unwrap_or_default()
    }

    /// The users file: `[gate.local_users] users_file`, or `users.toml` in the data
    /// directory.
    pub fn users_file(&self) -> PathBuf {
        self.gate.users_file_path(&self.data_dir)
    }

    /// The gateway's signing key directory.
    pub fn keys_dir(&self) -> PathBuf {
        self.gate.keys_dir_path(&self.data_dir)
    }
}

/// `url` with the password in its user part, and any `password=` parameter, replaced by
/// a mark: `postgres://parasol:[redacted]@db/parasol`.
///
/// The user part ends at the last `@`, so a password holding `@`, `/` or `?` unescaped is
/// hidden whole; at worst more than the password is hidden, never less.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_password_parameter(url);
    };
    let mut redacted = format!("{scheme}://");
    let location = match rest.rsplit_once('@') {
        Some((user, location)) => {
            match user.split_once(':') {
                Some((name, _password)) => redacted.push_str(&format!("{name}:{REDACTED}@")),
                None => redacted.push_str(&format!("{user}@")),
            }
            location
        }
        None => rest,
    };
    redacted.push_str(&redact_password_parameter(location));
    redacted
}

/// `text` with the value of any `password=` query parameter replaced by a mark.
fn redact_password_parameter(text: &str) -> String {
    let Some((main, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                format!("{key}={REDACTED}")
            }
            _ => parameter.to_owned(),
        })
        .collect();
    format!("{main}?{}", parameters.join("&"))
}

/// What a secret's value is replaced with when the settings are printed.
const REDACTED: &str = "[redacted]";

/// Shows that `key` is set without showing its value. Secrets are never serialised, so
/// the key is absent until this puts the mark in.
fn mark_redacted(table: Option<&mut toml::Value>, key: &str) {
    if let Some(table) = table.and_then(toml::Value::as_table_mut) {
        table.insert(key.into(), toml::Value::String(REDACTED.into()));
    }
}

/// One figment error as "what, for which key, from where", without figment's profile
/// name (Parasol has one profile).
fn describe(error: &figment::Error) -> String {
    let mut text = one_line(&error.kind.to_string());
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

/// A TOML parser's message, which quotes the line at fault over several lines, as one:
/// "TOML parse error at line 1, column 7: invalid table header, expected `.`, `]`".
fn one_line(message: &str) -> String {
    let mut lines = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_quoted_source(line));
    let Some(first) = lines.next() else {
        return String::new();
    };
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}: {}", rest.join(", "))
    }
}

/// `|`, `1 | [serve` or `|     ^`: the parser's quote of the file, not its words.
fn is_quoted_source(line: &str) -> bool {
    let after_number = line
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    after_number.starts_with('|')
}

/// The `[redis]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`; needed by `gate.session.store = "redis"`.
    pub url: Option<String>,
}

/// The `[database]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://chat.db` (relative to the data directory) or
    /// `postgres://user:password@host/name`; by default SQLite in `<data_dir>/chat.db`.
    pub url: Option<String>,
}

/// The `[serve]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// The address the whole site (gateway and chat) listens on.
    pub listen: std::net::SocketAddr,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8000)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_is_redacted_and_the_rest_of_the_url_kept() {
        assert_eq!(
            redact_url_password("postgres://parasol:s3cret@db.internal:5432/chat"),
            "postgres://parasol:[redacted]@db.internal:5432/chat"
        );
        assert_eq!(
            redact_url_password("postgresql://db/chat?user=p&password=s3cret&sslmode=require"),
            "postgresql://db/chat?user=p&password=[redacted]&sslmode=require"
        );
        assert_eq!(
            redact_url_password("postgres://parasol@db/chat"),
            "postgres://parasol@db/chat"
        );
        assert_eq!(redact_url_password("sqlite://chat.db"), "sqlite://chat.db");
    }

    #[test]
    fn a_toml_parse_error_is_told_on_one_line() {
        let message = "TOML parse error at line 1, column 7\n  |\n1 | [serve\n  |       ^\n\
                       invalid table header\nexpected `.`, `]`\n";
        assert_eq!(
            one_line(message),
            "TOML parse error at line 1, column 7: invalid table header, expected `.`, `]`"
        );
        assert_eq!(
            one_line("unknown field `provder`"),
            "unknown field `provder`"
        );
    }

    #[test]
    fn a_password_holding_url_delimiters_is_redacted_whole() {
        assert_eq!(
            redact_url_password("postgres://parasol:p@s/s?x@db/chat"),
            "postgres://parasol:[redacted]@db/chat"
        );
    }
}
