//! Stage 4, features: rolling-window and recency features from user-day batches.
//!
//! `cargo run --example features -- [N_USERS]`

use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::prepare::prepare_batches;
use churn_features::{FeatureParams, compute_batches, feature_names};

fn main() -> Result<(), churn_features::Error> {
    let n_users = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let sim = Simulator::new(&GenerateConfig {
        n_users,
        ..GenerateConfig::default()
    })?;
    let (users, events) = sim.chunk(0..n_users, 1)?;
    let (daily, _) = prepare_batches(
        &[users],
        &[events],
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )?;
    let set = FeatureParams::default().check()?;
    let out = compute_batches(&set, daily.into_iter().map(Ok))?;
    let rows: usize = out.iter().map(|b| b.num_rows()).sum();
    println!(
        "{rows} user-days, {} feature columns: {}",
        feature_names(&set).len(),
        feature_names(&set).join(", ")
    );
    let last = out
        .last()
        .map(|b| b.slice(b.num_rows().saturating_sub(3), 3.min(b.num_rows())));
    let cols = [
        "user_id",
        "as_of_date",
        "days_since_last_activity",
        "active_days_7d",
        "logins_30d",
        "quiz_avg_score_30d",
        "payment_fail_rate_30d",
    ];
    if let Some(b) = last {
        let b = b
            .project(
                &cols
                    .iter()
                    .map(|c| b.schema().index_of(c).expect("feature column"))
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| churn_data::Error::arrow("projecting", e))?;
        println!(
            "{}",
            arrow::util::pretty::pretty_format_batches(&[b])
                .map_err(|e| churn_data::Error::arrow("formatting", e))?
        );
    }
    Ok(())
}
