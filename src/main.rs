//! The `taskhook` binary: parse the command line, install logging, run, report errors.

use std::process::ExitCode;

use clap::Parser;
use taskhook::cli::{Cli, Command};
use taskhook::{commands, telemetry};

/// Runs an async command on a multi-threaded runtime.
fn run(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(command)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result = match cli.command {
        Command::Requests(args) => commands::requests(args),
        Command::Serve(args) => run(commands::serve(*args)),
        Command::Accept(args) => run(commands::reservation(args, commands::Decision::Accept)),
        Command::Reject(args) => run(commands::reservation(args, commands::Decision::Reject)),
        Command::Replay(args) => run(commands::replay(args)),
        Command::Export(args) => commands::export(args),
        Command::Sim(args) => run(commands::sim(args)),
        Command::Demo(args) => run(commands::demo(args)),
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
