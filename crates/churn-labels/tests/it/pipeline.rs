//! The one-pass pipeline writes what the three stages write one after the other.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::io::{latest_snapshot_path, read_all, write_batches};
use churn_data::prepare::prepare_batches;
use churn_features::{FeatureParams, compute_file};
use churn_labels::{LabelParams, TrainsetParams, build_trainset, features_labels_trainset};

/// Prepared user-day rows of `n` simulated users over 90 days: several chunks of users,
/// users who signed up before the data starts (partial history), ineligible and
/// unlabelled rows.
fn user_daily(n: u64) -> Vec<RecordBatch> {
    let sim = Simulator::new(&GenerateConfig {
        n_users: n,
        days: 90,
        ..GenerateConfig::default()
    })
    .unwrap();
    let (u, e) = sim.chunk(0..n, 1).unwrap();
    prepare_batches(
        &[u],
        &[e],
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap()
    .0
}

fn table(path: &Path) -> RecordBatch {
    let (schema, batches) = read_all(path, None).unwrap();
    concat_batches(&schema, &batches).unwrap()
}

fn outputs(dir: &Path) -> [PathBuf; 3] {
    std::fs::create_dir_all(dir).unwrap();
    ["features.parquet", "labels.parquet", "training.parquet"].map(|f| dir.join(f))
}

#[test]
fn one_pass_writes_the_tables_of_features_labels_and_trainset() {
    let dir = tempfile::tempdir().unwrap();
    let daily = user_daily(1_500);
    let input = dir.path().join("user_daily.parquet");
    write_batches(&input, daily[0].schema(), &daily).unwrap();
    let features = FeatureParams::default().check().unwrap();
    let labeler = LabelParams {
        window: 14,
        active_within_days: 30,
    }
    .check()
    .unwrap();
    let params = TrainsetParams::default();

    let [f, l, t] = outputs(&dir.path().join("stages"));
    let fs = compute_file(&features, &input, &f).unwrap();
    let ls = labeler.label_file(&input, &l).unwrap();
    let ts = build_trainset(&f, &l, &t, &params).unwrap();

    let fused = outputs(&dir.path().join("fused"));
    let s = features_labels_trainset(
        &features, &labeler, &params, &input, &fused[0], &fused[1], &fused[2],
    )
    .unwrap();
    assert_eq!(
        (s.features, s.labels, s.trainset.clone()),
        (fs.clone(), ls, ts)
    );
    // The data exercise every branch of the selection.
    assert!(
        fs.rows > 100_000,
        "several chunks of users: {} rows",
        fs.rows
    );
    assert!(s.trainset.partial_history_rows > 0 && s.trainset.unlabelled_rows > 0);
    assert!(s.trainset.eligible_share < 1.0 && s.trainset.rows > 0);
    for (a, b) in [&f, &l, &t].into_iter().zip(&fused) {
        assert_eq!(table(a), table(b), "{} differs", b.display());
    }
    assert_eq!(
        table(&latest_snapshot_path(&f)),
        table(&latest_snapshot_path(&fused[0]))
    );
}

#[test]
fn a_failed_one_pass_run_leaves_every_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut daily = user_daily(60);
    let input = dir.path().join("user_daily.parquet");
    write_batches(&input, daily[0].schema(), &daily).unwrap();
    let features = FeatureParams::default().check().unwrap();
    let labeler = LabelParams::default().check().unwrap();
    let params = TrainsetParams::default();
    let out = outputs(dir.path());
    let run = || {
        features_labels_trainset(
            &features, &labeler, &params, &input, &out[0], &out[1], &out[2],
        )
    };
    run().unwrap();
    let before: Vec<Vec<u8>> = out.iter().map(|p| std::fs::read(p).unwrap()).collect();

    // The first row again at the end: its user's rows are no longer contiguous.
    let first = daily[0].slice(0, 1);
    daily.push(first);
    write_batches(&input, daily[0].schema(), &daily).unwrap();
    let err = run().unwrap_err().to_string();
    assert!(err.contains("user_id") && err.contains("grouped"), "{err}");
    for (p, b) in out.iter().zip(&before) {
        assert!(std::fs::read(p).unwrap() == *b, "{} changed", p.display());
    }
}
