//! Stage 9, monitor: score the latest day with the production model, then compare its
//! features with the training set (PSI per feature), summarise the scores, and decide
//! whether to retrain.
//!
//! `cargo run --example monitor -- [N_USERS]`

use std::error::Error;

use churn_data::clock::{Clock, FixedClock};
use churn_examples::{n_users_arg, pipeline};
use churn_models::ModelKind;
use churn_monitor::{DriftOptions, decide, drift_report, score_proxy};
use churn_scoring::run_job;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let clock = FixedClock("2025-05-01T06:00:00Z".parse()?);
    let (registry, artifact) = files.production_model(dir.path(), ModelKind::Logistic, &clock)?;
    let job = files.latest_job(dir.path(), 50)?;
    let day = run_job(&registry, &job, &clock)?.days.remove(0);

    let specs: Vec<_> = artifact
        .preprocessing
        .features
        .iter()
        .filter(|s| s.name != "days_since_signup")
        .cloned()
        .collect();
    let drift = drift_report(
        &files.trainset,
        &files.features,
        &specs,
        "churn/1",
        day.summary.as_of_date,
        &DriftOptions::default(),
        clock.now(),
    )?;
    println!(
        "drift on {}: {} ({} baseline rows vs {} scored-day rows)",
        drift.as_of_date, drift.status, drift.baseline_rows, drift.current_rows
    );
    for f in drift.features.iter().take(5) {
        println!("  {:<24} PSI {:.4} {}", f.feature, f.psi, f.status);
    }
    let proxy = score_proxy(
        &day.paths.parquet,
        artifact.report.test_scores.clone(),
        0.7,
        clock.now(),
    )?;
    println!(
        "scores: mean {:.3} (training {:.3}), high-risk share {:.3}",
        proxy.current.mean,
        proxy.training.as_ref().map_or(f64::NAN, |t| t.mean),
        proxy.current.high_risk_share
    );
    let decision = decide(
        Some(&drift),
        None,
        artifact.report.test.pr_auc,
        Some(artifact.training.last_date),
        0.1,
        clock.now(),
    );
    println!(
        "retrain: {} — {}",
        decision.retrain,
        decision.reasons.join("; ")
    );
    Ok(())
}
