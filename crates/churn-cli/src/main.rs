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
    if let Some(hint) = missing_input_hint(err, &out) {
        out.push_str(&format!(" ({hint})"));
    }
    out
}

/// For an input file that does not exist, the command that writes it: a new user running a
/// stage before the one that feeds it learns what to run. The libraries word a failed open
/// as `PATH: open: CAUSE`; the path is taken from the rendered message, since the stage
/// crates wrap churn-data's error transparently.
fn missing_input_hint(err: &anyhow::Error, rendered: &str) -> Option<&'static str> {
    let not_found = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    });
    if !not_found {
        return None;
    }
    let before = &rendered[..rendered.find(": open: ")?];
    let path = std::path::Path::new(before.rsplit(": ").next()?);
    let name = path.file_name()?.to_str()?;
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    Some(match stem {
        "user_daily" => "`churn prepare` writes it",
        "user_features_daily" => "`churn features` writes it",
        "labels" => "`churn labels` writes it",
        "training_dataset" => "`churn trainset` writes it",
        _ if path.parent().is_some_and(|p| p.ends_with("raw")) => {
            "put the users and events files in that folder, pass --users/--events, or run \
             `churn generate` for synthetic data"
        }
        _ => return None,
    })
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

    #[test]
    fn a_missing_input_names_the_command_that_writes_it() {
        let missing = |path: &str| {
            let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
            let data = churn_data::Error::io(std::path::Path::new(path), "open", io);
            super::render(&anyhow::Error::new(data).context("features failed"))
        };
        let text = missing("root/data/processed/user_daily.parquet");
        assert!(text.ends_with("(`churn prepare` writes it)"), "{text}");
        let text = missing("root/data/raw/users.csv");
        assert!(text.contains("`churn generate`"), "{text}");
        // Other files get no guess.
        assert!(!missing("elsewhere/mine.parquet").contains('('));
    }
}
