//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::settings::{Overrides, Provider};

/// Parasol: a self-hosted, secure chat frontend for tool-using AI agents.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The configuration file [default: parasol.toml, when it exists].
    #[arg(
        long,
        short,
        global = true,
        env = "PARASOL_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Where keys, users, the database and models live [default: data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to log, as a tracing filter such as `info` or `parasol=debug,warn`; llama.cpp's
    /// own lines appear only when named (`info,llama-cpp-2=info`) [default: warn for
    /// `ask`, info for the servers].
    #[arg(long, global = true, env = "PARASOL_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: the sign-in gateway in front of the chat server and
    /// its agent, on 127.0.0.1:8000 by default.
    ///
    /// The data directory holds the signing key, the cookie secret, the users file and
    /// the SQLite database, all created on the first start. When there are no users yet,
    /// a user `admin` is created and its password printed once.
    Serve(ServeArgs),
    /// Run the chat server alone, behind `parasol gate` or nginx: the web UI and the chat
    /// API, trusting only the gateway's signed `X-User-JWT` header.
    ///
    /// It needs the gateway's keys: `[chat.identity] jwks_url` (or `key_file`) and
    /// `issuer`.
    Chat(ChatArgs),
    /// Run the gateway: sign-in, sessions and nginx's `auth_request` endpoint, or the
    /// reverse proxy itself with `--upstream`.
    Gate(GateArgs),
    /// Ask the agent one question and stream its answer to the terminal.
    ///
    /// The answer goes to standard output and each tool step to standard error, so the
    /// answer can be piped on its own.
    Ask(AskArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the local users, who sign in to the gateway with a name and a password.
    ///
    /// They live in `users.toml` in the data directory (or `[gate.local_users]
    /// users_file`); a running gateway rereads it within a second of a change.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the gateway's signing keys, which sign the identity tokens the chat server
    /// trusts.
    ///
    /// They live in `keys/` in the data directory (or `[gate.token] keys_dir`). A running
    /// gateway reads them again on SIGHUP.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `parasol keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys by kid: the one that signs new tokens, then those that still only
    /// verify.
    List,
    /// Make a new signing key; the old one keeps verifying the tokens it signed. Prints
    /// the new kid. Send SIGHUP to the running gateways afterwards.
    Rotate,
    /// Stop trusting a previous key, once no token it signed can still be alive.
    Drop {
        /// The key's kid, as `parasol keys list` shows it.
        kid: String,
    },
}

/// `parasol config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration file and environment, and print the effective
    /// configuration with secrets redacted.
    Check,
}

/// `parasol users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; asks for their password twice on the terminal.
    Add(UsersAddArgs),
    /// Remove a user, so that they can no longer sign in. A session they already have is
    /// not ended.
    Remove {
        /// The user's name, in any case.
        name: String,
    },
    /// List the users: name, display name, email and groups (never password hashes).
    List,
    /// Change a user's password; asks for the new one twice on the terminal.
    Passwd(UsersPasswdArgs),
}

/// `parasol users add`
#[derive(Debug, Args)]
pub struct UsersAddArgs {
    /// The sign-in name: 1 to 64 letters, digits, `.`, `_`, `@` or `-`, unique regardless
    /// of case.
    pub name: String,

    /// The name shown for the user, such as "Alice Liddell" [default: the sign-in name].
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,

    /// The user's email address, passed on to the chat server.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,

    /// A group the user is in, for `[gate.allow] groups`; repeat for several
    /// (`--group staff --group admins`).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,

    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `parasol users passwd`
#[derive(Debug, Args)]
pub struct UsersPasswdArgs {
    /// The user's name, in any case.
    pub name: String,

    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Where a new password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of standard input instead of asking on the
    /// terminal, for scripts; it must be 8 to 1024 characters.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `parasol ask`
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question; read from standard input when left out.
    pub question: Option<String>,

    /// Ask one of the weather assistant's starters instead: 1 "Is going to rain today?",
    /// 2 "What will the weather be like tomorrow?", 3 "Make a weather forecast for the
    /// next 7 days."
    #[arg(long, value_name = "N")]
    pub starter: Option<usize>,

    /// Print every agent event as a JSON line on standard output instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// Flags that choose and tune the model; each overrides its `[model]` key.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The model provider (`model.provider`).
    #[arg(long, value_enum)]
    pub provider: Option<Provider>,

    /// The model's name at a remote provider (`model.name`).
    #[arg(long = "model", value_name = "NAME")]
    pub name: Option<String>,

    /// The provider's API root, such as http://127.0.0.1:11434/v1 (`model.base_url`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// A file holding the provider's API key (`model.api_key_file`).
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,

    /// The GGUF file for the local provider (`model.path`).
    #[arg(long, value_name = "FILE")]
    pub model_path: Option<PathBuf>,

    /// CPU threads for the local model (`model.threads`).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,

    /// The most model calls in one answer (`agent.max_cycles`).
    #[arg(long, value_name = "N")]
    pub max_cycles: Option<u32>,

    /// The system prompt (`agent.system_prompt`).
    #[arg(long, value_name = "TEXT")]
    pub system_prompt: Option<String>,
}

impl Cli {
    /// The flags that override configuration keys.
    pub fn overrides(&self) -> Overrides {
        let mut overrides = Overrides::default();
        overrides.set("data_dir", self.data_dir.as_ref());
        let model = match &self.command {
            Command::Ask(ask) => Some(&ask.model),
            Command::Serve(serve) => {
                overrides.set("serve.listen", serve.listen);
                Some(&serve.model)
            }
            Command::Chat(chat) => {
                overrides.set("chat.listen", chat.listen);
                Some(&chat.model)
            }
            Command::Config(_) | Command::Users(_) | Command::Keys(_) | Command::Gate(_) => None,
        };
        if let Some(model) = model {
            overrides
                .set("model.provider", model.provider)
                .set("model.name", model.name.as_ref())
                .set("model.base_url", model.base_url.as_ref())
                .set("model.api_key_file", model.api_key_file.as_ref())
                .set("model.path", model.model_path.as_ref())
                .set("model.threads", model.threads)
                .set("agent.max_cycles", model.max_cycles)
                .set("agent.system_prompt", model.system_prompt.as_ref());
        }
        overrides
    }
}

/// `parasol serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; the site is then http://ADDR unless `[gate] public_url`
    /// says otherwise. Port 0 picks a free port [default: [serve] listen, 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// `parasol chat`
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The address to listen on [default: [chat] listen, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// `parasol gate`
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The address to listen on [default: [gate] listen, 127.0.0.1:4180].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Be the reverse proxy: pass every signed-in request to this chat server
    /// (`http://127.0.0.1:8080`), with the identity headers added and any a client sent
    /// removed; others are sent to sign in.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
}
