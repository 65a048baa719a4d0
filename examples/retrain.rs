//! Retrain: production is a logistic regression; a retrain fits gradient boosting on the
//! current training set, registers it, and promotes it only if it beats production on the
//! test dates. Each retrain is registered as a new version (its lineage records the fit),
//! and the promotion decision, with both metric values and whether the training data was
//! the same, goes to the registry history. A second retrain on unchanged data finds the
//! version the first registered and fits nothing: it would be the same model.
//!
//! `cargo run --example retrain -- [N_USERS]`

use std::error::Error;

use churn_data::clock::FixedClock;
use churn_examples::{n_users_arg, pipeline};
use churn_models::{ModelKind, TrainParams, Trainer};
use churn_registry::PromotePolicy;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let clock = FixedClock("2025-05-01T06:00:00Z".parse()?);
    let (registry, _) = files.production_model(dir.path(), ModelKind::Logistic, &clock)?;
    println!("production: {:?}", registry.aliases("churn")?);

    for attempt in 1..=2 {
        // What `churn retrain` does after labels and trainset: fit (unless a registered
        // version was fitted on the same data, window and parameters), register, promote.
        let data = files.training_data()?;
        let trainer = Trainer::new(&data, TrainParams::default())?;
        if let Some(v) = registry.trained_alike(
            "churn",
            ModelKind::Gbm,
            trainer.data_fingerprint(),
            trainer.window(),
            &trainer.model_params(ModelKind::Gbm),
        )? {
            println!("retrain {attempt}: churn/{v} was fitted on this data; nothing new to learn");
            continue;
        }
        let candidate = trainer.fit(ModelKind::Gbm, &clock)?;
        let registered = registry.register_artifact("churn", &candidate, &clock)?;
        let decision = registry.promote("churn", &PromotePolicy::default(), None, &clock)?;
        println!(
            "retrain {attempt}: churn/{} (gbm, pr_auc {:.4}); {}",
            registered.info.version, registered.info.metrics["pr_auc"], decision.event.reason
        );
    }
    println!("versions: {}", registry.versions("churn")?.len());
    println!("production: {:?}", registry.aliases("churn")?);
    Ok(())
}
