//! The `heliograph` binary: parses the command line and wires the crates together.

mod cli;
mod commands;
mod process;
mod settings;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::settings::Settings;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("heliograph: invalid configuration: {e:#}");
            return ExitCode::from(78); // EX_CONFIG
        }
    };
    telemetry::init(&settings.log);
    let outcome = match cli.command {
        Command::Serve(args) => commands::serve::serve(settings, args).await,
        Command::Ingest => commands::serve::ingest(settings).await,
        Command::Web => commands::serve::web(settings).await,
        Command::Mailer(args) => commands::mail::mailer(settings, args).await,
        Command::Monitor => commands::monitor::monitor(settings).await,
        Command::Provider(command) => commands::admin::provider(settings, command).await,
        Command::Customer(command) => commands::admin::customer(settings, command).await,
        Command::Gateway(command) => commands::admin::gateway(settings, command).await,
        Command::User(command) => commands::admin::user(settings, command).await,
        Command::Operator(command) => commands::admin::operator(settings, command).await,
        Command::Readings(args) => commands::admin::readings(settings, args).await,
        Command::Spool(command) => commands::spool::spool(settings, command).await,
        Command::Simulate(args) => heliograph_simulator::simulate::run(&settings.store, args).await,
        Command::Load(args) => heliograph_simulator::load::run(&settings.store, args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("heliograph: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: messages that already quote their
/// cause (a store error quotes the driver's) are not followed by it a second time.
fn explain(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use heliograph_shared::store::{Failure, StoreError};

    use super::explain;

    #[test]
    fn a_cause_quoted_by_its_error_is_printed_once() {
        let io = std::io::Error::other("connection refused");
        let store = StoreError::Unavailable(Failure::caused_by("cassandra", io));
        let error = anyhow::Error::new(store).context("cannot list providers");
        assert_eq!(
            explain(&error),
            "cannot list providers: store unavailable: cassandra: connection refused"
        );
        assert!(std::error::Error::source(error.chain().nth(1).unwrap()).is_some(), "the cause is kept");
    }

    #[test]
    fn a_cause_whose_words_appear_earlier_but_not_as_the_quote_is_still_printed() {
        let error =
            anyhow::Error::new(std::io::Error::other("timed out")).context("timed out waiting for the lock");
        assert_eq!(explain(&error), "timed out waiting for the lock: timed out");
    }
}
