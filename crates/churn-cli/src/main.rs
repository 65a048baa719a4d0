//! `churn`: the command-line front of the churn library crates. It parses arguments, loads
//! the configuration, wires the stages together and prints; all work lives in the libraries.

mod cli;
mod decide;
mod deploy;
mod monitor;
mod output;
mod stages;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are successes; every usage error exits 1 as DESIGN.md says.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::init_tracing(cli.global.verbose, cli.global.quiet);
    match stages::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
