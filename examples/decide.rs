//! Decide: score the latest date with the production model, turn the ranked users into
//! retention decisions with the built-in rules (budgets go to the riskiest users first) and
//! append them to a Parquet sink; a second run decides nobody twice.
//!
//! `cargo run --example decide -- [N_USERS]`

use std::error::Error;

use churn_data::clock::FixedClock;
use churn_decisions::{ParquetStore, RuleSet, RunOptions, run, table::read_predictions};
use churn_examples::{n_users_arg, pipeline};
use churn_models::ModelKind;
use churn_scoring::run_job;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let clock = FixedClock("2025-05-01T06:00:00Z".parse()?);
    let (registry, _) = files.production_model(dir.path(), ModelKind::Gbm, &clock)?;
    let job = files.latest_job(dir.path(), 5)?;
    let scored = run_job(&registry, &job, &clock)?;
    let predictions = &scored.days[0].paths.parquet;

    let rules = RuleSet::default_rules()?;
    let sink = dir.path().join("decisions/decisions.parquet");
    for attempt in 1..=2 {
        let candidates = read_predictions(predictions)?;
        let mut store = ParquetStore::open(&sink)?;
        let s = run(
            &mut store,
            &rules,
            candidates,
            &RunOptions::default(),
            &clock,
        )?;
        println!(
            "run {attempt}: {} candidates, {} decided {:?}, {} decided already",
            s.candidates, s.written, s.by_action, s.already_decided
        );
        for d in s.examples.iter().take(3) {
            println!(
                "  {} risk {:.3} score {:.0}: {} {:?} — {}",
                d.user_id, d.churn_risk, d.score, d.action, d.params, d.reason
            );
        }
    }
    Ok(())
}
