//! Stage 7, promote: register trained models in a registry, promote the better one to
//! `production`, try a worse candidate (kept out), roll back, and print the history.
//!
//! `cargo run --example promote -- [N_USERS]`

use std::error::Error;

use churn_data::clock::FixedClock;
use churn_examples::{n_users_arg, pipeline};
use churn_models::{ModelKind, TrainParams, Trainer};
use churn_registry::{PromotePolicy, Registry};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let files = pipeline(dir.path(), n_users_arg(500))?;
    let data = files.training_data()?;
    let trainer = Trainer::new(&data, TrainParams::default())?;
    let clock = FixedClock("2025-05-01T00:00:00Z".parse()?);
    let registry = Registry::open(&dir.path().join("registry"));
    for kind in [ModelKind::Logistic, ModelKind::Gbm] {
        let artifact = trainer.fit(kind, &clock)?;
        let r = registry.register_artifact("churn", &artifact, &clock)?;
        println!(
            "registered churn/{} ({kind}), pr_auc {:.4}",
            r.info.version, r.info.metrics["pr_auc"]
        );
    }
    let policy = PromotePolicy::default();
    let first = registry.promote("churn", &policy, None, &clock)?;
    println!("promote: {}", first.event.reason);
    // The other version as an explicit candidate: promoted only if it is better.
    let other = if first.alias_version == 1 { 2 } else { 1 };
    let second = registry.promote("churn", &policy, Some(other), &clock)?;
    println!("promote: {}", second.event.reason);
    if second.promoted {
        let back = registry.rollback("churn", "production", None, &clock)?;
        println!("rollback: {}", back.reason);
    }
    println!("history:");
    for e in registry.history("churn")? {
        println!("  {:?} {:?} -> {:?}: {}", e.action, e.from, e.to, e.reason);
    }
    println!("aliases: {:?}", registry.aliases("churn")?);
    Ok(())
}
