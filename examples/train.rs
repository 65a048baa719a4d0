//! Stage 6, train: fit the baseline and the boosting model on a training set, compare them on
//! later dates, save a self-describing artifact and score rows with reasons from it.
//!
//! `cargo run --example train -- [N_USERS]` (builds a training set from synthetic data in a
//! temporary folder, through the same library calls the `churn` stages make).

use std::error::Error;

use churn_data::clock::FixedClock;
use churn_examples::{n_users_arg, pipeline};
use churn_models::{ModelArtifact, ModelKind, TrainParams, Trainer, TrainingData};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let (_, batches) = churn_data::io::read_all(&files.trainset, None)?;
    let data = TrainingData::from_batches(batches.clone())?;
    let trainer = Trainer::new(&data, TrainParams::default())?;
    let clock = FixedClock("2025-05-01T00:00:00Z".parse()?);
    println!("model  PR-AUC  ROC-AUC  Brier   ECE     fit s");
    let mut best: Option<ModelArtifact> = None;
    for kind in [ModelKind::Logistic, ModelKind::Gbm] {
        let artifact = trainer.fit(kind, &clock)?;
        let r = &artifact.report;
        println!(
            "{:<6} {:.4}  {:.4}   {:.4}  {:.4}  {:.2}",
            kind.as_str(),
            r.test.pr_auc.unwrap_or(f64::NAN),
            r.test.roc_auc.unwrap_or(f64::NAN),
            r.test.brier,
            r.test.ece,
            r.fit_seconds
        );
        if best
            .as_ref()
            .is_none_or(|b| b.report.test.pr_auc < artifact.report.test.pr_auc)
        {
            best = Some(artifact);
        }
    }
    let Some(best) = best else {
        return Ok(());
    };
    let saved = best.save(&dir.path().join("model.json"))?;
    let model = ModelArtifact::load(&saved)?;
    let last = batches.last().map(|b| b.slice(0, 3.min(b.num_rows())));
    let scored = model.predict(&last.into_iter().collect::<Vec<_>>(), true)?;
    println!("{} scores three rows:", model.name);
    for (risk, reasons) in scored.churn_risk.iter().zip(&scored.reasons) {
        let why: Vec<String> = reasons.iter().map(|r| r.label()).collect();
        println!("  churn_risk {risk:.3}  {}", why.join("; "));
    }
    Ok(())
}
