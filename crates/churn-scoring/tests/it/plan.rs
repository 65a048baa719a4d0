//! Multi-model plans: per-model status, PARTIAL with exit 3, kinds, disabled models.

use arrow::array::AsArray;
use churn_scoring::{ModelStatus, Plan, PlanDefaults, RunStatus, ScoreParams, run_plan};

use crate::common::{clock, project};

fn defaults(p: &crate::common::Project) -> PlanDefaults {
    PlanDefaults {
        root: p.dir.path().to_path_buf(),
        features: p.features.clone(),
        predictions: p.dir.path().join("predictions"),
        alias: "production".into(),
        top_k: 10,
        params: ScoreParams::default(),
        force: false,
    }
}

/// Runs the plan `text` in project `p`: the manifest and each model's status.
fn run_text(
    p: &crate::common::Project,
    text: &str,
) -> (churn_scoring::RunManifest, Vec<ModelStatus>) {
    let path = p.dir.path().join("models.toml");
    let plan = Plan::from_toml_str(text, &path).unwrap();
    let run = run_plan(&p.registry, &plan, &path, &defaults(p), &clock());
    let statuses = run.models.iter().map(|m| m.status).collect();
    (run, statuses)
}

#[test]
fn one_good_one_missing_one_broken_model_is_partial_with_exit_3() {
    let p = project();
    std::fs::write(p.dir.path().join("broken.parquet"), b"not parquet").unwrap();
    let text = r#"
        [[model]]
        name = "churn"
        alias = "production"
        output = "out/good"

        [[model]]
        name = "upsell"
        output = "out/missing"

        [[model]]
        name = "churn"
        version = 2
        feature_table = "broken.parquet"
        output = "out/broken"

        [[model]]
        name = "churn"
        enabled = false
    "#;
    let (run, statuses) = run_text(&p, text);
    assert_eq!(
        statuses,
        [
            ModelStatus::Success,
            ModelStatus::NotFound,
            ModelStatus::Failed,
            ModelStatus::Skipped
        ]
    );
    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!(run.status.exit_code(), 3);
    assert!(run.models[0].rows_scored > 0);
    assert_eq!(run.models[0].model_version, Some(1));
    assert!(run.models[1].error.as_deref().unwrap().contains("upsell"));
    assert!(
        run.models[2]
            .error
            .as_deref()
            .unwrap()
            .contains("broken.parquet")
    );
    assert!(p.dir.path().join("out/good/latest.json").exists());
    assert!(!p.dir.path().join("out/broken").exists());
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(json["status"], "PARTIAL");
    assert_eq!(json["models"][1]["status"], "NOT_FOUND");
}

#[test]
fn all_failing_is_failed_with_exit_1_and_all_good_is_success() {
    let p = project();
    let path = p.dir.path().join("models.toml");
    let bad = Plan::from_toml_str("[[model]]\nname = \"nope\"\n", &path).unwrap();
    let run = run_plan(&p.registry, &bad, &path, &defaults(&p), &clock());
    assert_eq!((run.status, run.status.exit_code()), (RunStatus::Failed, 1));
    let good = Plan::from_toml_str(
        "parallel = false\n[[model]]\nname = \"churn\"\nkind = \"anomaly\"\nthreshold = 0.9\n",
        &path,
    )
    .unwrap();
    let run = run_plan(&p.registry, &good, &path, &defaults(&p), &clock());
    assert_eq!(
        (run.status, run.status.exit_code()),
        (RunStatus::Success, 0)
    );
    let out = &run.models[0].days[0].paths.parquet;
    let (_, batches) = churn_data::io::read_all(out, None).unwrap();
    let flags = batches[0]
        .column_by_name("anomaly_flag")
        .unwrap()
        .as_boolean();
    let risk = batches[0]
        .column_by_name("churn_risk")
        .unwrap()
        .as_primitive::<arrow::datatypes::Float64Type>();
    for i in 0..flags.len() {
        assert_eq!(flags.value(i), risk.value(i) >= 0.9);
    }
}

#[test]
fn plans_with_unknown_keys_or_both_alias_and_version_are_refused() {
    let path = std::path::Path::new("models.toml");
    let err = Plan::from_toml_str("[[model]]\nname = \"churn\"\nmodle = 1\n", path).unwrap_err();
    assert!(err.to_string().contains("modle"), "{err}");
    let err = Plan::from_toml_str(
        "[[model]]\nname = \"churn\"\nalias = \"production\"\nversion = 2\n",
        path,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    assert!(Plan::from_toml_str("", path).is_err());
}

#[test]
fn more_models_than_threads_run_in_parallel_to_the_end() {
    // Each model waits for its output writers, which use the thread pool: models running on
    // the pool's workers once took every worker and hung.
    let p = project();
    let n = rayon::current_num_threads() + 1;
    let text: String = (0..n)
        .map(|i| format!("[[model]]\nname = \"churn\"\noutput = \"out/{i}\"\n"))
        .collect();
    let path = p.dir.path().join("models.toml");
    let plan = Plan::from_toml_str(&text, &path).unwrap();
    assert!(plan.parallel);
    let (tx, rx) = std::sync::mpsc::channel();
    let (registry, defaults) = (p.registry.clone(), defaults(&p));
    std::thread::spawn(move || {
        let _ = tx.send(run_plan(&registry, &plan, &path, &defaults, &clock()));
    });
    let run = rx
        .recv_timeout(std::time::Duration::from_secs(300))
        .expect("the plan finishes");
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.models);
    assert_eq!(run.models.len(), n);
    for (i, m) in run.models.iter().enumerate() {
        assert!(m.rows_scored > 0, "model {i}");
        assert!(
            m.days[0]
                .paths
                .parquet
                .starts_with(p.dir.path().join(format!("out/{i}")))
        );
    }
}

#[test]
fn models_writing_to_the_same_folder_fail_without_writing() {
    // Both default to <predictions>/churn: one date's files would overwrite each other.
    let p = project();
    let text = "[[model]]\nname = \"churn\"\n\n[[model]]\nname = \"churn\"\nversion = 2\n\n\
                [[model]]\nname = \"churn\"\nversion = 2\noutput = \"out/v2\"\n\n\
                [[model]]\nname = \"churn\"\nenabled = false\n";
    let (run, statuses) = run_text(&p, text);
    assert_eq!(
        statuses,
        [
            ModelStatus::Failed,
            ModelStatus::Failed,
            ModelStatus::Success,
            ModelStatus::Skipped
        ]
    );
    assert_eq!(run.status, RunStatus::Partial);
    let error = run.models[0].error.as_deref().unwrap();
    assert!(
        error.contains("as model 2") && error.contains("own `output`"),
        "{error}"
    );
    assert_eq!(run.models[1].reference, "churn/2");
    assert!(!p.dir.path().join("predictions/churn").exists());
}
