//! The `taskhook` binary: parse the command line, install logging, run, report errors.

use std::process::ExitCode;

use clap::Parser;
use taskhook::cli::{Cli, Command};
use taskhook::{cmd, telemetry};

/// Runs an async command on a multi-threaded runtime.
fn run(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(command)
}

fn main() -> ExitCode {
    // Before any thread starts.
    taskhook::memory::limit_arenas();
    let cli = Cli::parse();
    telemetry::init();
    let result = match cli.command {
        Command::Requests(args) => cmd::requests(args),
        Command::Serve(args) => run(cmd::serve(*args)),
        Command::Accept(args) => run(cmd::reservation(args, cmd::Decision::Accept)),
        Command::Reject(args) => run(cmd::reservation(args, cmd::Decision::Reject)),
        Command::Replay(args) => run(cmd::replay(args)),
        Command::Export(args) => cmd::export(args),
        Command::Sim(args) => run(cmd::sim(args)),
        Command::Demo(args) => run(cmd::demo(args)),
        Command::Restore(args) => run(cmd::restore(args)),
        Command::Mcp(args) => run(taskhook::mcp::run(args)),
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
