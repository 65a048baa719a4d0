//! Stage 8, score: score the latest date with the production model, then score only a few
//! keys (user_id, as_of_date) and show that each user gets the same score both ways; last,
//! score feature rows held in memory, as a service embedding the crate would.
//!
//! `cargo run --example score -- [N_USERS]`

use std::error::Error;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use churn_data::clock::FixedClock;
use churn_examples::{n_users_arg, pipeline};
use churn_models::ModelKind;
use churn_scoring::{FeatureTable, IdColumns, KeySet, ModelIdentity, ScoreParams, Scorer, run_job};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let clock = FixedClock("2025-05-01T06:00:00Z".parse()?);
    let (registry, _) = files.production_model(dir.path(), ModelKind::Gbm, &clock)?;

    // A whole date, to files, as `churn score` does.
    let job = files.latest_job(dir.path(), 5)?;
    let outcome = run_job(&registry, &job, &clock)?;
    let day = &outcome.days[0];
    let s = &day.summary;
    println!(
        "scored {} users on {} ({} ineligible) -> {}",
        s.scored,
        s.as_of_date,
        s.ineligible,
        day.paths.csv.display()
    );
    println!("top 5:\n{}", std::fs::read_to_string(&day.paths.top_csv)?);

    // Keys only, in memory: the same users get the same scores.
    let (info, model) = registry.load(&job.model)?;
    let identity = ModelIdentity {
        name: info.name,
        version: info.version,
    };
    let scorer = Scorer::new(&model, identity, ScoreParams::default())?;
    let table = FeatureTable::open(&files.features, IdColumns::default())?;
    let top = churn_data::io::read_all(&day.paths.top_parquet, None)?.1;
    let ids = top[0]
        .column_by_name("user_id")
        .ok_or("user_id")?
        .as_string::<i32>();
    let wanted: Vec<&str> = (0..ids.len()).map(|i| ids.value(i)).collect();
    let keys = KeySet::from_keys(wanted.iter().map(|u| (*u, s.as_of_date)))?;
    let keyed = scorer.score_date(&table, s.as_of_date, keys.users_on(s.as_of_date), &clock)?;
    let risk = keyed
        .batch
        .column_by_name("churn_risk")
        .ok_or("churn_risk")?;
    let full = top[0].column_by_name("churn_risk").ok_or("churn_risk")?;
    assert_eq!(
        risk.as_primitive::<Float64Type>().values(),
        full.as_primitive::<Float64Type>().values()
    );
    println!(
        "keys-only scoring of those {} users agrees",
        keyed.summary.scored
    );

    // Features a service already holds in memory (here read back from the file), scored
    // without writing them anywhere: the same users, the same ranking.
    let (schema, batches) = churn_data::io::read_all(&files.features, None)?;
    let held =
        FeatureTable::from_batches("features in memory", schema, batches, IdColumns::default())?;
    let in_memory = scorer.score_date(&held, s.as_of_date, None, &clock)?;
    assert_eq!(in_memory.summary.scored, s.scored);
    println!(
        "the same {} users scored from batches in memory",
        in_memory.summary.scored
    );
    Ok(())
}
