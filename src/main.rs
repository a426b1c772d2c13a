//! The `taskhook` binary: parse the command line, install logging, run, report errors.

use std::process::ExitCode;

use clap::Parser;
use taskhook::cli::{Cli, Command};
use taskhook::{commands, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result = match cli.command {
        Command::Requests(args) => commands::requests(args),
        Command::Serve(args) => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(commands::serve(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes.
            eprintln!("taskhook: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
