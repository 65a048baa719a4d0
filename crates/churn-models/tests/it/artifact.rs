//! Artifacts round-trip, check their version and their input, and explain predictions.

use churn_data::clock::FixedClock;
use churn_models::{FORMAT_VERSION, ModelArtifact, ModelKind, TrainParams, Trainer, TrainingData};

use crate::common::table;

fn trained(kind: ModelKind) -> (ModelArtifact, Vec<arrow::array::RecordBatch>) {
    let batches = table(300, 20, 11);
    let data = TrainingData::from_batches(batches.clone()).unwrap();
    let mut params = TrainParams::default();
    params.gbm.iterations = 30;
    params.forest.trees = 10;
    params.forest.sample_rows = 500;
    let trainer = Trainer::new(&data, params).unwrap();
    let clock = FixedClock("2026-01-02T03:04:05Z".parse().unwrap());
    (trainer.fit(kind, &clock).unwrap(), batches)
}

#[test]
fn round_trip_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::ALL {
        let (artifact, batches) = trained(kind);
        let path = dir.path().join(format!("{kind}.json"));
        artifact.save(&path).unwrap();
        let loaded = ModelArtifact::load(&path).unwrap();
        assert_eq!(loaded.kind, kind);
        assert_eq!(loaded.format_version, FORMAT_VERSION);
        assert_eq!(loaded.created_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        let a = artifact.predict(&batches, true).unwrap();
        let b = loaded.predict(&batches, true).unwrap();
        assert_eq!(a, b, "{kind}");
        assert!(a.churn_risk.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}

#[test]
fn the_artifact_describes_itself() {
    let (artifact, _) = trained(ModelKind::Gbm);
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&artifact).unwrap()).unwrap();
    for key in [
        "format_version",
        "name",
        "kind",
        "params",
        "preprocessing",
        "model",
        "calibrator",
        "training",
        "data_fingerprint",
        "report",
        "created_at",
        "crate_version",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let spec = &json["preprocessing"]["features"][0];
    for key in [
        "name",
        "arrow_type",
        "nullable",
        "source_table",
        "lookup_keys",
    ] {
        assert!(spec.get(key).is_some(), "feature spec lacks {key}");
    }
    assert_eq!(json["params"]["model"]["learning_rate"], 0.08);
    assert!(
        json["data_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("rows64:")
    );
    assert!(json["training"]["cutoff"].is_string());
}

#[test]
fn a_different_format_version_is_refused_with_advice() {
    let (artifact, _) = trained(ModelKind::Logistic);
    let mut json: serde_json::Value = serde_json::to_value(&artifact).unwrap();
    json["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
    let err = ModelArtifact::from_json(&json.to_string())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("format version") && err.contains("retrain"),
        "{err}"
    );
    let err = ModelArtifact::from_json("{\"a\": 1}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a churn model artifact"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = ModelArtifact::load(&dir.path().join("none.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.json"), "{err}");
}

#[test]
fn predicting_checks_the_input_schema() {
    let (artifact, batches) = trained(ModelKind::Logistic);
    let schema = batches[0].schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != "tickets")
        .collect();
    let without: Vec<_> = batches.iter().map(|b| b.project(&keep).unwrap()).collect();
    let err = artifact.predict(&without, false).unwrap_err().to_string();
    assert!(
        err.contains("`tickets`") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn reasons_are_the_largest_positive_contributions() {
    for kind in [ModelKind::Logistic, ModelKind::Gbm] {
        let (artifact, batches) = trained(kind);
        let p = artifact.predict(&batches, true).unwrap();
        assert_eq!(p.reasons.len(), p.churn_risk.len());
        let top = (0..p.churn_risk.len())
            .max_by(|&a, &b| p.churn_risk[a].total_cmp(&p.churn_risk[b]))
            .unwrap();
        let reasons = &p.reasons[top];
        assert!(
            !reasons.is_empty() && reasons.len() <= 3,
            "{kind}: {reasons:?}"
        );
        assert!(
            reasons
                .windows(2)
                .all(|w| w[0].contribution >= w[1].contribution)
        );
        assert!(reasons.iter().all(|r| r.contribution > 0.0));
        // The strongest signals of the table: few activity, many tickets, free plan.
        assert!(
            reasons
                .iter()
                .any(|r| ["activity", "tickets", "plan"].contains(&r.feature.as_str())),
            "{kind}: {reasons:?}"
        );
        if kind == ModelKind::Logistic {
            let r = reasons.iter().find(|r| r.feature == "plan");
            assert!(r.is_none_or(|r| ["free", "paid", "missing"].contains(&r.value.as_str())));
        }
    }
    let (forest, batches) = trained(ModelKind::Forest);
    assert!(forest.predict(&batches, true).unwrap().reasons.is_empty());
}

#[test]
fn design_columns_out_of_feature_order_are_a_corrupt_artifact() {
    let (artifact, _) = trained(ModelKind::Logistic);
    let json: serde_json::Value = serde_json::to_value(&artifact).unwrap();
    let columns = json["preprocessing"]["columns"].as_array().unwrap();
    // The last column swapped with the first: values would land in the wrong columns.
    let mut swapped = json.clone();
    let cols = swapped["preprocessing"]["columns"].as_array_mut().unwrap();
    let n = cols.len();
    cols.swap(0, n - 1);
    let err = ModelArtifact::from_json(&swapped.to_string())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("corrupt") && err.contains("feature order"),
        "{err}"
    );
    // A column of a feature the spec does not have.
    let mut stray = json.clone();
    stray["preprocessing"]["columns"][n - 1]["feature"] = serde_json::json!(columns.len() + 5);
    let err = ModelArtifact::from_json(&stray.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupt") && err.contains("features"), "{err}");
    // The artifact as written loads, and each feature's columns are one run.
    let loaded = ModelArtifact::from_json(&json.to_string()).unwrap();
    let pre = &loaded.preprocessing;
    let mut covered = 0;
    for f in 0..pre.features.len() {
        let run = pre.columns_of(f);
        assert!(!run.is_empty());
        assert!(pre.columns[run.clone()].iter().all(|c| c.feature == f));
        covered += run.len();
    }
    assert_eq!(covered, pre.columns.len());
}
