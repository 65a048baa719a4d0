//! Stage 1, generate: simulate users and events in memory as Arrow record batches.
//!
//! `cargo run --example generate -- [N_USERS]`

use churn_data::config::GenerateConfig;
use churn_data::generate::Simulator;

fn main() -> Result<(), churn_data::Error> {
    let n_users = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let config = GenerateConfig {
        n_users,
        ..GenerateConfig::default()
    };
    let sim = Simulator::new(&config)?;
    // A service would stream chunks; one chunk is enough here.
    let (users, events) = sim.chunk(0..n_users, 1)?;
    println!(
        "{} users, {} events over {} days from {}",
        users.num_rows(),
        events.num_rows(),
        config.days,
        config.start_date
    );
    let head =
        arrow::util::pretty::pretty_format_batches(&[events.slice(0, 5.min(events.num_rows()))])
            .map_err(|e| churn_data::Error::arrow("formatting", e))?;
    println!("{head}");
    Ok(())
}
