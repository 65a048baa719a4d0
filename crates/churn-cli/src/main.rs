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
            eprintln!("error: {}", render(&err));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text is already in the
/// message: the library errors write their source into their own message (so a library
/// user printing one sees everything), which `{:#}` would print twice.
fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let data = churn_data::Error::io(std::path::Path::new("f.parquet"), "open", io);
        let err = anyhow::Error::new(data).context("score failed");
        assert_eq!(
            super::render(&err),
            "score failed: f.parquet: open: No such file"
        );
    }
}
