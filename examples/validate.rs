//! Stage 2, validate: check users and events files against every rule of the contract.
//!
//! `cargo run --example validate -- [N_USERS]` writes generated data to a temporary folder,
//! validates it (clean), appends one bad event and validates again: the second report names
//! the file, the columns, the rules and the offending row.

use std::io::Write;

use churn_data::clock::SystemClock;
use churn_data::config::{GenerateConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::validate::validate_files;

fn main() -> Result<(), churn_data::Error> {
    let n_users = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().map_err(|e| churn_data::Error::io(".", "create temp dir", e))?;
    let (users, events) = (dir.path().join("users.csv"), dir.path().join("events.csv"));
    let sim = Simulator::new(&GenerateConfig {
        n_users,
        ..GenerateConfig::default()
    })?;
    sim.write(&users, &events, &|_| {})?;
    let clean = validate_files(&users, &events, &ValidateConfig::default(), &SystemClock)?;
    print!("{}", clean.render_text());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .map_err(|e| churn_data::Error::io(&events, "open", e))?;
    writeln!(f, "999999999,no-such-user,2025-02-30 10:00:00,login,,-4,,")
        .map_err(|e| churn_data::Error::io(&events, "append", e))?;
    let report = validate_files(&users, &events, &ValidateConfig::default(), &SystemClock)?;
    print!("{}", report.render_text());
    assert!(
        clean.ok && !report.ok,
        "generated data is clean and the appended row is not"
    );
    Ok(())
}
