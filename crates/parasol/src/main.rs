//! The `parasol` binary: parse the command line, read the configuration, start logging,
//! and run the chosen role.

mod assistant;
mod cli;
mod commands;
mod first_user;
mod providers;
mod settings;
mod startup;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand};
use settings::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("parasol: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let default_log = match cli.command {
        Command::Ask(_) | Command::Config(_) | Command::Users(_) | Command::Keys(_) => "warn",
        Command::Serve(_) | Command::Chat(_) | Command::Gate(_) => "info",
    };
    telemetry::init(cli.log.as_deref(), default_log)?;
    let settings = Settings::load(cli.config.as_deref(), &cli.overrides())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Ask(args) => runtime.block_on(commands::ask::run(settings, args)),
        Command::Config(ConfigCommand::Check) => {
            commands::config::check(&settings, cli.config.as_deref())
        }
        Command::Users(command) => commands::users::run(&settings, command),
        Command::Keys(command) => commands::keys::run(&settings, command),
        Command::Serve(_) => runtime
            .block_on(commands::serve::run(settings))
            .map(|()| ExitCode::SUCCESS),
        Command::Chat(_) => runtime
            .block_on(commands::chat::run(settings))
            .map(|()| ExitCode::SUCCESS),
        Command::Gate(args) => runtime
            .block_on(commands::gate::run(settings, args))
            .map(|()| ExitCode::SUCCESS),
    }
}
