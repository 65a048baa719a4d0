//! Running the `churn` binary from the integration tests.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `churn --root ROOT ARGS...` with no configuration, database or log settings from
/// the environment.
pub fn churn<S: AsRef<OsStr>>(root: &Path, args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_churn"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("CHURN_CONFIG")
        .env_remove("CHURN_DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("churn runs")
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
