//! Small trained artifacts whose test metrics the tests set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Duration, Utc};
use churn_data::clock::FixedClock;
use churn_models::{ModelArtifact, ModelKind, TrainParams, Trainer, TrainingData};
use churn_registry::Registry;

/// A deterministic training table: 40 users x 12 dates, churn when activity is low.
fn table() -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("activity", DataType::Float64, true),
        Field::new("churn_label", DataType::Int32, false),
    ]));
    (0..12)
        .map(|d| {
            let ids: Vec<String> = (0..40).map(|u| format!("u{u:03}")).collect();
            let activity: Vec<f64> = (0..40).map(|u| f64::from((u * 7 + d * 3) % 10)).collect();
            let label: Vec<i32> = (0..40)
                .map(|u| i32::from((u * 7 + d * 3) % 10 < 3 || (u + d) % 11 == 0))
                .collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Date32Array::from(vec![20_000 + d; 40])),
                    Arc::new(Float64Array::from(activity)),
                    Arc::new(Int32Array::from(label)),
                ],
            )
            .expect("valid batch")
        })
        .collect()
}

fn base_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let data = TrainingData::from_batches(table()).unwrap();
        let trainer = Trainer::new(&data, TrainParams::default()).unwrap();
        let artifact = trainer.fit(ModelKind::Logistic, &clock(0)).unwrap();
        serde_json::to_string_pretty(&artifact).unwrap()
    })
}

/// A clock `minutes` after a fixed instant.
pub fn clock(minutes: i64) -> FixedClock {
    let t: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
    FixedClock(t + Duration::minutes(minutes))
}

/// An artifact whose test PR-AUC (and Brier score) are set to the given values.
pub fn artifact(pr_auc: f64, brier: f64) -> ModelArtifact {
    let mut a = ModelArtifact::from_json(base_json()).unwrap();
    a.report.test.pr_auc = Some(pr_auc);
    a.report.test.brier = brier;
    a
}

/// The artifact saved under `dir`, named after its metrics.
pub fn saved(dir: &Path, pr_auc: f64, brier: f64) -> PathBuf {
    let path = dir.join(format!("model_{pr_auc}_{brier}.json"));
    artifact(pr_auc, brier).save(&path).unwrap();
    path
}

/// A registry in a fresh folder, and the folder.
pub fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(&dir.path().join("registry"));
    (dir, reg)
}
