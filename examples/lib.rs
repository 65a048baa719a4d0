//! Runnable examples of each churn stage live beside this file; see `cargo run --example`.
//! This library holds the pipeline the later-stage examples start from.

use std::error::Error;
use std::path::{Path, PathBuf};

use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_labels::LabelParams;

/// The files of a synthetic pipeline run up to the training set.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// user_features_daily (every user, every date).
    pub features: PathBuf,
    /// The training set (eligible, labelled rows).
    pub trainset: PathBuf,
}

/// Generates `n_users` synthetic users into `dir` and runs prepare, features, labels and the
/// training set, through the same library calls the `churn` stages make.
pub fn pipeline(dir: &Path, n_users: u64) -> Result<Pipeline, Box<dyn Error>> {
    let path = |name: &str| dir.join(name);
    Simulator::new(&GenerateConfig {
        n_users,
        ..GenerateConfig::default()
    })?
    .write(&path("users.parquet"), &path("events.parquet"), &|_| {})?;
    churn_data::prepare::prepare_files(
        &path("users.parquet"),
        &path("events.parquet"),
        &path("daily.parquet"),
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )?;
    let set = churn_features::FeatureParams::default().check()?;
    churn_features::compute_file(&set, &path("daily.parquet"), &path("features.parquet"))?;
    LabelParams::default()
        .check()?
        .label_file(&path("daily.parquet"), &path("labels.parquet"))?;
    churn_labels::build_trainset(
        &path("features.parquet"),
        &path("labels.parquet"),
        &path("train.parquet"),
        &churn_labels::TrainsetParams::default(),
    )?;
    Ok(Pipeline {
        features: path("features.parquet"),
        trainset: path("train.parquet"),
    })
}

impl Pipeline {
    /// Trains `kind` on the training set, registers it as `churn` in a registry under
    /// `dir` and promotes it to `production`.
    pub fn production_model(
        &self,
        dir: &Path,
        kind: churn_models::ModelKind,
        clock: &dyn churn_data::clock::Clock,
    ) -> Result<(churn_registry::Registry, churn_models::ModelArtifact), Box<dyn Error>> {
        let data = self.training_data()?;
        let trainer = churn_models::Trainer::new(&data, churn_models::TrainParams::default())?;
        let registry = churn_registry::Registry::open(&dir.join("registry"));
        let artifact = trainer.fit(kind, clock)?;
        registry.register_artifact("churn", &artifact, clock)?;
        registry.promote(
            "churn",
            &churn_registry::PromotePolicy::default(),
            None,
            clock,
        )?;
        Ok((registry, artifact))
    }

    /// The job `churn score` runs by default: the latest date of the features with
    /// `churn@production`, writing under `dir/predictions` with a top-`top_k` list.
    pub fn latest_job(
        &self,
        dir: &Path,
        top_k: usize,
    ) -> Result<churn_scoring::ScoreJob, Box<dyn Error>> {
        Ok(churn_scoring::ScoreJob {
            model: churn_registry::ModelRef::alias("churn", "production")?,
            features: self.features.clone(),
            keys: None,
            ids: churn_scoring::IdColumns::default(),
            date: None,
            to_date: None,
            output_dir: dir.join("predictions"),
            top_k,
            force: false,
            params: churn_scoring::ScoreParams::default(),
        })
    }

    /// The training set, read for [`churn_models::Trainer`].
    pub fn training_data(&self) -> Result<churn_models::TrainingData, Box<dyn Error>> {
        let (_, batches) = churn_data::io::read_all(&self.trainset, None)?;
        Ok(churn_models::TrainingData::from_batches(batches)?)
    }
}

/// The first command-line argument as a user count, else `default`.
pub fn n_users_arg(default: u64) -> u64 {
    std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
