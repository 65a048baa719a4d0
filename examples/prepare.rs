//! Stage 3, prepare: clean raw users and events and aggregate them to one row per user and
//! calendar day, entirely in memory (record batches in, record batches out).
//!
//! `cargo run --example prepare -- [N_USERS]`

use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::prepare::prepare_batches;

fn main() -> Result<(), churn_data::Error> {
    let n_users = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let sim = Simulator::new(&GenerateConfig {
        n_users,
        ..GenerateConfig::default()
    })?;
    let (users, events) = sim.chunk(0..n_users, 1)?;
    let (daily, summary) = prepare_batches(
        &[users],
        &[events],
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )?;
    println!(
        "{} user-days from {} events ({} .. {}), {} pass(es)",
        summary.user_days,
        summary.events_kept,
        summary
            .first_date
            .map(|d| d.to_string())
            .unwrap_or_default(),
        summary.last_date.map(|d| d.to_string()).unwrap_or_default(),
        summary.passes
    );
    let first = daily
        .first()
        .map(|b| b.slice(0, 3.min(b.num_rows())))
        .into_iter()
        .collect::<Vec<_>>();
    let head = arrow::util::pretty::pretty_format_batches(&first)
        .map_err(|e| churn_data::Error::arrow("formatting", e))?;
    println!("{head}");
    Ok(())
}
