//! End-to-end tests of the `churn` binary: exit codes, messages, outputs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{churn, text};

/// A fresh folder after `churn all` with these generator arguments.
fn lifecycle(n_users: &str, days: &str, seed: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = churn(
        dir.path(),
        &["all", "--n-users", n_users, "--days", days, "--seed", seed],
    );
    assert!(o.status.success(), "{}", text(&o));
    dir
}

/// The text of the logistic-regression artifact `churn train` wrote under `root`.
fn lr_artifact_text(root: &Path) -> String {
    let model = std::fs::read_dir(root.join("artifacts/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("churn_lr_"))
        .unwrap();
    std::fs::read_to_string(&model).unwrap()
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn all_runs_the_lifecycle_twice_in_one_folder() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let o = churn(
            dir.path(),
            &["all", "--n-users", "60", "--days", "90", "--seed", "3"],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    for f in [
        "data/raw/users.parquet",
        "data/raw/events.parquet",
        "data/processed/user_daily.parquet",
        "artifacts/metrics/validation_report.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("artifacts/metrics/validation_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["users"]["rows"], 60);
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/features/training_dataset.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["rows"].as_u64().unwrap() > 0);
    assert_eq!(
        summary["last_date"], "2025-03-01",
        "90 days from 2025-01-01 end on 2025-03-31; the last 30 are unlabelled"
    );
    // Rows whose 30-day look-back reaches before the data are left out (every simulated
    // user signed up before it), unless the configuration turns the rule off.
    assert_eq!(summary["min_history_days"], 30);
    let partial = summary["partial_history_rows"].as_u64().unwrap();
    assert!(partial > 0, "{summary}");
    let config = dir.path().join("all_rows.toml");
    std::fs::write(&config, "[labels]\nrequire_full_history = false\n").unwrap();
    let o = churn(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--json", "trainset"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let all_rows: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/features/training_dataset.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(all_rows["min_history_days"], 0);
    assert_eq!(
        all_rows["rows"].as_u64().unwrap(),
        summary["rows"].as_u64().unwrap() + partial
    );
    let models: Vec<String> = std::fs::read_dir(dir.path().join("artifacts/models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for kind in ["churn_lr_", "churn_gbm_"] {
        assert!(
            models.iter().any(|m| m.starts_with(kind)),
            "{kind} in {models:?}"
        );
    }
}

#[test]
fn all_from_and_to_run_only_that_part() {
    let dir = tempfile::tempdir().unwrap();
    let o = churn(
        dir.path(),
        &[
            "all",
            "--n-users",
            "60",
            "--days",
            "40",
            "--seed",
            "3",
            "--to",
            "prepare",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        dir.path()
            .join("data/processed/user_daily.parquet")
            .is_file()
    );
    assert!(
        !dir.path().join("data/features").exists(),
        "--to prepare stops there"
    );
    let raw = std::fs::read(dir.path().join("data/raw/events.parquet")).unwrap();

    let o = churn(
        dir.path(),
        &["--json", "all", "--from", "features", "--to", "trainset"],
    );
    // The three run as one pass over the user-day table.
    assert_eq!(stages_run(&o), ["features+labels+trainset"]);
    for table in [
        "user_features_daily.parquet",
        "labels.parquet",
        "training_dataset.parquet",
        "training_dataset.json",
    ] {
        assert!(dir.path().join("data/features").join(table).is_file());
    }
    assert!(
        !dir.path().join("artifacts/models").exists(),
        "--to trainset trains nothing"
    );
    assert_eq!(
        std::fs::read(dir.path().join("data/raw/events.parquet")).unwrap(),
        raw,
        "--from features leaves the raw data alone"
    );

    // A part of them runs stage by stage.
    let o = churn(
        dir.path(),
        &["--json", "all", "--from", "labels", "--to", "trainset"],
    );
    assert_eq!(stages_run(&o), ["labels", "trainset"]);

    for (args, rule) in [
        (
            vec!["all", "--from", "score", "--to", "features"],
            "comes after",
        ),
        (vec!["all", "--from", "train", "--n-users", "10"], "skips"),
        (vec!["all", "--from", "nowhere"], "invalid value"),
    ] {
        let o = churn(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(rule), "{args:?}: {}", text(&o));
    }
}

#[test]
fn decide_writes_one_decision_per_user_and_date_and_reruns_decide_nobody() {
    let dir = lifecycle("200", "90", "4");
    let decisions = dir.path().join("data/decisions/decisions.parquet");
    assert!(decisions.is_file(), "churn all decides by default");
    let summary = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json", "decide"];
        all.extend_from_slice(args);
        let o = churn(dir.path(), &all);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()[0]["detail"].clone()
    };
    let again = summary(&[]);
    let n = again["candidates"].as_u64().unwrap();
    assert!(n > 0);
    assert_eq!(again["written"], 0, "all decided them already: {again}");
    assert_eq!(again["already_decided"].as_u64(), Some(n));
    let redo = summary(&["--redecide"]);
    assert_eq!(redo["written"].as_u64(), Some(n));
    let rows = std::fs::read_to_string(decisions.with_extension("csv")).unwrap();
    let keys: std::collections::HashSet<(String, String)> = rows
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(keys.len() as u64, n, "one decision per (user, date)");
    assert_eq!(rows.lines().count() as u64, n + 1);

    let o = churn(dir.path(), &["decide", "--source-table", "x"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--database-url"), "{}", text(&o));
}

#[test]
fn train_writes_artifacts_metrics_and_a_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let o = churn(
        dir.path(),
        &["all", "--n-users", "150", "--days", "90", "--seed", "5"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = churn(
        dir.path(),
        &[
            "train",
            "--model",
            "rf,lr",
            "--stride-days",
            "2",
            "--gap-days",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("PR-AUC") && out.contains("\nrf ") && out.contains("\nlr "),
        "{out}"
    );
    assert!(out.contains("gap of 3 days"), "{out}");
    // The default exclusion (the simulator's latent variable) is absent from the training
    // set without a word; a misspelt one is named.
    assert!(!out.contains("exclude_features"), "{out}");
    let cfg = dir.path().join("typo.toml");
    std::fs::write(&cfg, "[train]\nexclude_features = [\"logins_7dd\"]\n").unwrap();
    let o = churn(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "train", "--model", "lr"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("train.exclude_features names `logins_7dd`"),
        "{}",
        text(&o)
    );
    let metrics: Vec<_> = std::fs::read_dir(dir.path().join("artifacts/metrics"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("train_rf_")
        })
        .collect();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metrics[0]).unwrap()).unwrap();
    assert_eq!(report["kind"], "rf");
    assert_eq!(report["train_stride_days"], 2);
    assert!(report["test"]["rows"].as_u64().unwrap() > 0);
    let artifact = metrics[0]
        .to_string_lossy()
        .replace("artifacts/metrics/train_", "artifacts/models/churn_");
    let artifact: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&artifact).unwrap()).unwrap();
    let window = &artifact["training"];
    assert_eq!(window["gap_days"], 3);
    let day = |v: &serde_json::Value| v.as_str().unwrap().parse::<chrono::NaiveDate>().unwrap();
    assert!(
        day(&window["cutoff"]) - day(&window["fit_last_date"]) > chrono::Duration::days(3),
        "{window}"
    );

    // A training set as CSV (text) trains the same model as the Parquet one: numbers are
    // read as numbers, not as categories.
    let lr_pr_auc = |input: &Path| {
        let o = churn(
            dir.path(),
            &[
                "--json",
                "train",
                "--model",
                "lr",
                "--input",
                input.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let path = v[0]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .find(|p| p.contains("train_lr_"))
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        report["test"]["pr_auc"].as_f64().unwrap()
    };
    let csv = dir.path().join("t.csv");
    let o = churn(dir.path(), &["trainset", "--out", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        lr_pr_auc(&csv),
        lr_pr_auc(&dir.path().join("data/features/training_dataset.parquet"))
    );

    let o = churn(dir.path(), &["train", "--model", "svm"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = churn(dir.path(), &["train", "--input", "nowhere.parquet"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nowhere.parquet"), "{}", text(&o));
}

#[test]
fn bad_windows_in_config_exit_1_before_touching_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("churn.toml");
    std::fs::write(&cfg, "[features]\nwindows = []\n").unwrap();
    let o = churn(dir.path(), &["--config", cfg.to_str().unwrap(), "features"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("features.windows"), "{}", text(&o));
}

#[test]
fn json_summaries_are_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let o = churn(
        dir.path(),
        &[
            "--json",
            "generate",
            "--n-users",
            "20",
            "--days",
            "10",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["stage"], "generate");
    assert_eq!(v[0]["detail"]["users"], 20);
    assert!(dir.path().join("data/raw/events.csv").is_file());
    // prepare finds the CSV files although the configured default is Parquet.
    let o = churn(dir.path(), &["--json", "prepare"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["detail"]["users_kept"], 20);
}

#[test]
fn invalid_input_exits_1_naming_file_column_rule_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("bad_events.csv");
    std::fs::write(
        &events,
        "event_id,user_id,event_time,event_type,quiz_score\n1,B2,2025-01-03 10:00:00,login,250\n",
    )
    .unwrap();
    let o = churn(
        dir.path(),
        &[
            "validate",
            "--users",
            &fixture("tiny/users.csv"),
            "--events",
            events.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("bad_events.csv")
            && t.contains("quiz_score")
            && t.contains("[0, 100]")
            && t.contains("250"),
        "{t}"
    );
}

#[test]
fn a_failing_prepare_exits_1_and_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("daily.parquet");
    std::fs::write(&out, b"previous").unwrap();
    let events = dir.path().join("events.parquet");
    std::fs::write(&events, b"PAR1 truncated").unwrap();
    let o = churn(
        dir.path(),
        &[
            "prepare",
            "--users",
            &fixture("tiny/users.csv"),
            "--events",
            events.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("events.parquet"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
}

#[test]
fn config_errors_and_usage_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("churn.toml");
    std::fs::write(&cfg, "[generate]\nn_userz = 10\n").unwrap();
    let o = churn(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "config", "show"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("n_userz") && text(&o).contains("churn.toml"),
        "{}",
        text(&o)
    );

    let o = churn(dir.path(), &["generate", "--n-users", "many"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // A list naming an entry twice works, with a warning.
    std::fs::write(
        &cfg,
        "[features]\nwindows = [7, 7]\n[train]\nmodels = [\"lr\", \"lr\"]\n",
    )
    .unwrap();
    let o = churn(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "config", "show"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("features.windows lists a window twice")
            && text(&o).contains("train.models lists a model twice"),
        "{}",
        text(&o)
    );

    // A simulated period reaching past today would only fail validation: refused up front.
    let o = churn(dir.path(), &["generate", "--start-date", "2999-01-01"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("after today"), "{}", text(&o));
    assert!(!dir.path().join("data").exists());

    // The history of a model nobody registered is an error, as `show` is, not silence.
    let o = churn(dir.path(), &["registry", "history", "--model", "nope"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("model `nope` not found"), "{}", text(&o));

    // A missing input is named once, with the reason once.
    let o = churn(dir.path(), &["features", "--input", "nowhere.parquet"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("nowhere.parquet"), "{t}");
    assert_eq!(t.matches("os error 2").count(), 1, "{t}");

    let o = churn(dir.path(), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("generate"));
}

#[test]
fn config_show_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("churn.toml");
    std::fs::write(&cfg, "[generate]\nn_users = 10\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["config", "show"])
        .env("CHURN_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("n_users = 10")
            && t.contains("windows = [")
            && t.contains("active_within_days = 30"),
        "{t}"
    );
}

#[test]
fn registry_promote_rollback_and_score_from_the_command_line() {
    let dir = lifecycle("80", "90", "5");
    let root = dir.path();
    // all registered lr and gbm, promoted one, and scored the latest date.
    let o = churn(root, &["registry", "list"]);
    assert!(
        text(&o).contains("churn") && text(&o).contains("production="),
        "{}",
        text(&o)
    );
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("data/predictions/latest.json")).unwrap())
            .unwrap();
    assert_eq!(latest["as_of_date"], "2025-03-31");
    assert!(
        root.join("data/predictions/churn_top_50_2025-03-31.csv")
            .is_file()
    );

    // Promoting again with no new candidate keeps production and says why.
    let o = churn(root, &["promote"]);
    assert!(o.status.success(), "{}", text(&o));
    // Nothing to roll back to yet: exit 1 with advice.
    let o = churn(root, &["rollback"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--to VERSION"), "{}", text(&o));
    let o = churn(root, &["registry", "set-alias", "staging", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = churn(root, &["rollback", "--alias", "staging", "--to", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = churn(root, &["--json", "registry", "history"]);
    let history: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "register",
            "register",
            "promote",
            "keep",
            "set_alias",
            "rollback"
        ]
    );
    // In text, the kept alias reads as staying, not as a move to the candidate.
    let o = churn(root, &["registry", "history"]);
    let keep = text(&o)
        .lines()
        .find(|l| l.contains("  keep  "))
        .unwrap_or_default()
        .to_string();
    assert!(keep.contains(" (not "), "{}", text(&o));
    // Bad names never reach the file system.
    let o = churn(root, &["registry", "set-alias", "../../x", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("invalid alias"), "{}", text(&o));

    // Keys-only scoring of one user and one unknown user.
    let keys = root.join("keys.csv");
    let users =
        std::fs::read_to_string(root.join("data/predictions/churn_top_50_2025-03-31.csv")).unwrap();
    let first_user = users
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        &keys,
        format!("user_id,as_of_date\n{first_user},2025-03-31\nnobody,2025-03-31\n"),
    )
    .unwrap();
    let out = root.join("keyed");
    let o = churn(
        root,
        &[
            "score",
            "--keys",
            keys.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 requested, 1 found, 1 missing (e.g. nobody)"),
        "{}",
        text(&o)
    );
    // The first user of the list, explained: the risk the list shows, every feature.
    let risk: f64 = users
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(8)
        .unwrap()
        .parse()
        .unwrap();
    let o = churn(root, &["--json", "explain", "--user", &first_user]);
    assert!(o.status.success(), "{}", text(&o));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        (e["churn_risk"].as_f64().unwrap() - risk).abs() < 1e-12,
        "{e}"
    );
    assert!(e["features"].as_array().unwrap().len() > 10, "{e}");
    let o = churn(root, &["explain", "--user", &first_user, "--top", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("top 3 shown") && text(&o).contains("contribution"));
    let o = churn(root, &["explain", "--user", &first_user, "--top", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let o = churn(root, &["explain", "--user", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no row for user \"nobody\""),
        "{}",
        text(&o)
    );
    // A date whose 30-day look-back reaches before the data is scored with a warning on
    // stderr and a count in the manifest; the latest date has none.
    let o = churn(root, &["score", "--as-of-date", "2025-01-20"]);
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: score 2025-01-20:") && stderr.contains("signed up before"),
        "{stderr}"
    );
    let manifest = |date: &str| -> serde_json::Value {
        let path = root.join(format!("data/predictions/churn_predictions_{date}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    assert!(
        manifest("2025-01-20")["summary"]["partial_history"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(manifest("2025-03-31")["summary"]["partial_history"], 0);
    // An unknown date is exit 1 with the available range.
    let o = churn(root, &["score", "--as-of-date", "2030-01-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("2025-01-01 .. 2025-03-31"),
        "{}",
        text(&o)
    );
    // A backfill scores each date of the range to its own files; latest.json stays on the
    // newest date; the date scored before is up to date.
    let o = churn(
        root,
        &[
            "score",
            "--as-of-date",
            "2025-03-18",
            "--to-date",
            "2025-03-20",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let days: Vec<(String, String)> = serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()[0]["detail"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["summary"]["as_of_date"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2025-03-18", "scored"),
            ("2025-03-19", "scored"),
            ("2025-03-20", "scored")
        ]
        .map(|(d, s)| (d.to_string(), s.to_string()))
    );
    assert_eq!(manifest("2025-03-19")["summary"]["partial_history"], 0);
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("data/predictions/latest.json")).unwrap())
            .unwrap();
    assert_eq!(latest["as_of_date"], "2025-03-31");
    for bad in [
        vec![
            "score",
            "--as-of-date",
            "2025-03-20",
            "--to-date",
            "2025-03-18",
        ],
        vec![
            "score",
            "--as-of-date",
            "2025-03-20",
            "--to-date",
            "2030-01-01",
        ],
        vec!["score", "--to-date", "2025-03-20"],
    ] {
        let o = churn(root, &bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {}", text(&o));
    }
}

#[test]
fn concurrent_registrations_and_promotions_from_separate_processes_lose_nothing() {
    let dir = lifecycle("60", "90", "3");
    let root = dir.path();
    let original = lr_artifact_text(root);
    // Six different artifacts (the name differs), registered by six processes at once.
    let files: Vec<std::path::PathBuf> = (0..6)
        .map(|i| {
            let p = root.join(format!("copy{i}.json"));
            std::fs::write(
                &p,
                original.replacen("\"churn_lr\"", &format!("\"churn_lr_{i}\""), 1),
            )
            .unwrap();
            p
        })
        .collect();
    // Six registrations and three promotions, all at once.
    let mut jobs: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            vec![
                "registry".into(),
                "register".into(),
                f.display().to_string(),
            ]
        })
        .collect();
    jobs.extend((0..3).map(|_| vec!["promote".to_string()]));
    let children: Vec<_> = jobs
        .iter()
        .map(|args| {
            Command::new(env!("CARGO_BIN_EXE_churn"))
                .arg("--root")
                .arg(root)
                .arg("--quiet")
                .args(args)
                .env_remove("CHURN_CONFIG")
                .env_remove("CHURN_DATABASE_URL")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let o = churn(root, &["--json", "registry", "show"]);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let versions: Vec<u64> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    // One version, by the references `score --model` takes.
    let production = shown["aliases"]["production"].as_u64().unwrap();
    for (reference, want) in [("churn@production", production), ("churn/3", 3)] {
        let o = churn(root, &["--json", "registry", "show", "--model", reference]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let one: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let got: Vec<u64> = one["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        assert_eq!(got, [want], "{reference}");
    }
    let o = churn(
        root,
        &[
            "registry",
            "show",
            "--model",
            "churn/3",
            "--model-version",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let o = churn(root, &["registry", "show", "--model", "churn@nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    let history =
        std::fs::read_to_string(root.join("artifacts/registry/churn/history.jsonl")).unwrap();
    assert_eq!(
        history
            .lines()
            .filter(|l| l.contains("\"register\""))
            .count(),
        8
    );
    // One promotion by `all`, three now: every decision is recorded.
    let decisions = history
        .lines()
        .filter(|l| l.contains("\"promote\"") || l.contains("\"keep\""))
        .count();
    assert_eq!(decisions, 4);
    // The history of one alias, and of one version.
    let events = |reference: &str| -> Vec<serde_json::Value> {
        let o = churn(
            root,
            &["--json", "registry", "history", "--model", reference],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let production_events = events("churn@production");
    assert_eq!(production_events.len(), 4);
    assert!(production_events.iter().all(|e| e["alias"] == "production"));
    let third = events("churn/3");
    assert_eq!(third[0]["action"], "register");
    assert!(third.iter().all(|e| e["from"] == 3 || e["to"] == 3));
    let o = churn(root, &["registry", "history", "--model", "churn/99"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_plan_with_a_missing_and_a_broken_model_exits_3() {
    let dir = lifecycle("60", "90", "3");
    let root = dir.path();
    std::fs::write(root.join("broken.parquet"), b"PAR1 truncated").unwrap();
    let plan = root.join("models.toml");
    std::fs::write(
        &plan,
        "[[model]]\nname = \"churn\"\n\n[[model]]\nname = \"winback\"\n\n\
         [[model]]\nname = \"churn\"\nversion = 2\nfeature_table = \"broken.parquet\"\noutput = \"data/predictions/broken\"\n",
    )
    .unwrap();
    let o = churn(root, &["score", "--plan", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("NOT_FOUND") && t.contains("FAILED") && t.contains("run PARTIAL"),
        "{t}"
    );
    let runs: Vec<_> = std::fs::read_dir(root.join("data/predictions/runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);

    // Every model disabled: nothing to fail, but the run says it scored nothing.
    std::fs::write(&plan, "[[model]]\nname = \"churn\"\nenabled = false\n").unwrap();
    let o = churn(root, &["score", "--plan", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("every model of") && text(&o).contains("nothing was scored"),
        "{}",
        text(&o)
    );
}

/// The stages a successful `churn --json all` reported, in order.
fn stages_run(o: &std::process::Output) -> Vec<String> {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stage"].as_str().unwrap().to_string())
        .collect()
}

fn lr_only(root: &Path) -> String {
    let config = root.join("churn.toml");
    std::fs::write(&config, "[train]\nmodels = [\"lr\"]\n").unwrap();
    config.display().to_string()
}

fn drift_report(root: &Path, config: &str) -> (Option<i32>, serde_json::Value) {
    let o = churn(root, &["--config", config, "--json", "monitor", "drift"]);
    (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
}

fn psi_of(report: &serde_json::Value, feature: &str) -> (f64, String) {
    let f = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == feature)
        .unwrap();
    (
        f["psi"].as_f64().unwrap(),
        f["status"].as_str().unwrap().to_string(),
    )
}

#[test]
fn drifted_data_fails_the_monitor_and_asks_for_a_retrain() {
    let (calm, drifted) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let generate = ["all", "--n-users", "500", "--days", "90", "--seed", "11"];
    let config = lr_only(calm.path());
    let o = churn(
        calm.path(),
        &[&["--config", config.as_str()], &generate[..]].concat(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let config_d = lr_only(drifted.path());
    let o = churn(
        drifted.path(),
        &[
            &["--config", config_d.as_str()],
            &generate[..],
            &["--drift-from", "2025-03-05"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));

    let (calm_code, calm_report) = drift_report(calm.path(), &config);
    let (code, report) = drift_report(drifted.path(), &config_d);
    assert_eq!(code, Some(2), "drift FAIL exits 2");
    assert_eq!(report["status"], "FAIL");
    // Engagement fell after the drift date: the activity features FAIL with drift and not
    // without it.
    for feature in ["active_days_14d", "events_14d", "watch_minutes_14d"] {
        let (before, before_status) = psi_of(&calm_report, feature);
        let (after, status) = psi_of(&report, feature);
        assert_eq!(status, "FAIL", "{feature}: {after}");
        assert_ne!(before_status, "FAIL", "{feature} without drift: {before}");
        assert!(after > before + 0.2, "{feature}: {before} -> {after}");
    }
    // Without drift nothing FAILs: the payment windows, which follow the calendar month
    // (payments at its start), are compared with the training rows on the same day of the
    // month (the data ends on March 31st; January has a 31st).
    assert_eq!(calm_code, Some(0), "{calm_report}");
    assert_ne!(calm_report["status"], "FAIL");
    assert_eq!(calm_report["baseline_day_of_month"], 31);
    let (paid, status) = psi_of(&calm_report, "payment_success_7d");
    assert_eq!(status, "OK", "payment_success_7d: {paid}");
    assert!(
        calm_report["monthly"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "payment_success_7d")
    );
    assert_eq!(report["excluded"][0], "days_since_signup");
    // The default exclusion is a feature: no warning. A misspelt one is named.
    let o = churn(calm.path(), &["--config", &config, "monitor", "drift"]);
    assert!(!text(&o).contains("drift_exclude_features"), "{}", text(&o));
    let typo = calm.path().join("typo.toml");
    std::fs::write(
        &typo,
        "[train]\nmodels = [\"lr\"]\n[monitor]\ndrift_exclude_features = [\"logins_7dd\"]\n",
    )
    .unwrap();
    let o = churn(
        calm.path(),
        &["--config", typo.to_str().unwrap(), "monitor", "drift"],
    );
    assert!(
        text(&o).contains("drift_exclude_features names `logins_7dd`"),
        "{}",
        text(&o)
    );

    // The decision, its history and the Prometheus textfile.
    let o = churn(
        drifted.path(),
        &["--config", &config_d, "--json", "monitor", "decide"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let decision: serde_json::Value =
        serde_json::from_str(&out[out.rfind("{\n  \"created_at\"").unwrap()..]).unwrap();
    assert_eq!(decision["retrain"], true);
    assert!(
        decision["reasons"][0]
            .as_str()
            .unwrap()
            .contains("drift FAIL")
    );
    let prom = std::fs::read_to_string(
        drifted
            .path()
            .join("artifacts/metrics/prometheus/churn_drift.prom"),
    )
    .unwrap();
    let samples = churn_monitor::prometheus::parse(&prom).unwrap();
    assert!(
        samples
            .iter()
            .any(|s| s.name == "churn_drift_status" && s.value == 2.0)
    );
    let index =
        std::fs::read_to_string(drifted.path().join("artifacts/metrics/monitor/index.jsonl"))
            .unwrap();
    assert_eq!(
        index.lines().count(),
        5,
        "drift by `all`, then drift, then drift + realized + decide"
    );

    // Retrain on the data the model was trained on: nothing is fitted, registered or
    // promoted (it would be the same model), and the run says so.
    let history_path = drifted
        .path()
        .join("artifacts/registry/churn/history.jsonl");
    let before = std::fs::read_to_string(&history_path).unwrap();
    let o = churn(drifted.path(), &["--config", &config_d, "retrain"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("lr not fitted again") && text(&o).contains("nothing new to learn"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&history_path).unwrap(), before);
    // Other parameters (every second day fitted) are a different model: it is fitted.
    let o = churn(
        drifted.path(),
        &["--config", &config_d, "retrain", "--stride-days", "2"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("not fitted again"), "{}", text(&o));
    let before = std::fs::read_to_string(&history_path).unwrap();
    // Forced: a new version is registered and promotion decides, with its reason kept.
    let o = churn(
        drifted.path(),
        &["--config", &config_d, "retrain", "--force"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let history = std::fs::read_to_string(&history_path).unwrap();
    assert!(history.lines().count() > before.lines().count());
    let last = history.lines().last().unwrap();
    assert!(
        last.contains("\"promote\"") || last.contains("\"keep\""),
        "{last}"
    );
    let o = churn(
        drifted.path(),
        &["--config", &config_d, "monitor", "realized"],
    );
    assert!(
        o.status.success() && text(&o).contains("pending"),
        "{}",
        text(&o)
    );
    let o = churn(drifted.path(), &["--config", &config_d, "monitor", "proxy"]);
    assert!(
        o.status.success() && text(&o).contains("high-risk share"),
        "{}",
        text(&o)
    );
}

/// Starts `churn` and kills it (SIGKILL) after `delay_ms`; returns whether it had finished.
fn kill_after(root: &Path, args: &[&str], delay_ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_churn"))
        .arg("--root")
        .arg(root)
        .arg("--quiet")
        .args(args)
        .env_remove("CHURN_CONFIG")
        .env_remove("CHURN_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    finished
}

#[test]
fn killing_score_and_registry_writers_leaves_old_or_new_complete_files() {
    let dir = lifecycle("120", "90", "9");
    let root = dir.path();
    let predictions = root.join("data/predictions/churn_predictions_2025-03-31.parquet");
    let csv = root.join("data/predictions/churn_predictions_2025-03-31.csv");
    let rows = |p: &Path| {
        churn_data::io::read_all(p, None)
            .map(|(_, b)| b.iter().map(|b| b.num_rows()).sum::<usize>())
            .unwrap_or_else(|e| panic!("{} is not a complete table: {e}", p.display()))
    };
    let expected = rows(&predictions);
    let original = lr_artifact_text(root);
    // How long each command takes when left alone; kills land uniformly inside that.
    let took = |args: &[&str]| {
        let started = std::time::Instant::now();
        let o = churn(root, args);
        assert!(o.status.success(), "{}", text(&o));
        (started.elapsed().as_millis() as u64).max(2)
    };
    let score_ms = took(&["score", "--force"]);
    let promote_ms = took(&["promote"]);
    // Deterministic "random" kill points.
    let mut x: u64 = 12345;
    let mut next = |span: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % span
    };
    // Scoring checks write outside the registry and predictions under test.
    let checked = root.join("checked").display().to_string();
    let checked_prod = root.join("checked_prod").display().to_string();
    let mut interrupted = 0;
    for i in 0..12 {
        interrupted += usize::from(!kill_after(root, &["score", "--force"], next(score_ms)));
        assert_eq!(rows(&predictions), expected, "kill {i}: parquet");
        assert_eq!(rows(&csv), expected, "kill {i}: csv");
        let latest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("data/predictions/latest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(latest["as_of_date"], "2025-03-31");

        let copy = root.join(format!("copy{i}.json"));
        std::fs::write(
            &copy,
            original.replacen("\"churn_lr\"", &format!("\"churn_lr_{i}\""), 1),
        )
        .unwrap();
        interrupted += usize::from(!kill_after(
            root,
            &["registry", "register", copy.to_str().unwrap()],
            next(promote_ms),
        ));
        interrupted += usize::from(!kill_after(root, &["promote"], next(promote_ms)));
        // Every version the registry lists loads whole, and the aliases resolve.
        let o = churn(root, &["--json", "registry", "show"]);
        assert!(o.status.success(), "kill {i}: {}", text(&o));
        let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for v in shown["versions"].as_array().unwrap() {
            let r = format!("churn/{}", v["version"]);
            let o = churn(
                root,
                &[
                    "score",
                    "--model",
                    &r,
                    "--out",
                    checked.as_str(),
                    "--top-k",
                    "1",
                ],
            );
            assert!(o.status.success(), "kill {i}, {r}: {}", text(&o));
        }
        let o = churn(
            root,
            &["score", "--out", checked_prod.as_str(), "--top-k", "1"],
        );
        assert!(o.status.success(), "kill {i}, production: {}", text(&o));
    }
    // The kills must land while the processes run, or this test checks nothing.
    assert!(
        interrupted >= 6,
        "only {interrupted} of 36 runs were killed while running"
    );
    // The temporary files of killed writers go with the next run that writes there.
    let o = churn(root, &["score", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    let left: Vec<String> = std::fs::read_dir(root.join("data/predictions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// Every row of a table (a file or a folder of parts), sorted by user and date, as text.
fn sorted_rows(path: &Path) -> Vec<String> {
    let (_, batches) = churn_data::io::read_all(path, None).unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, i).unwrap())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

#[test]
fn partitioned_runs_add_up_to_the_whole_tables_and_train_reads_every_part() {
    let whole = tempfile::tempdir().unwrap();
    let o = churn(
        whole.path(),
        &[
            "all",
            "--n-users",
            "120",
            "--days",
            "90",
            "--to",
            "trainset",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let parts = tempfile::tempdir().unwrap();
    let raw = parts.path().join("data/raw");
    std::fs::create_dir_all(&raw).unwrap();
    for f in ["users.parquet", "events.parquet"] {
        std::fs::copy(whole.path().join("data/raw").join(f), raw.join(f)).unwrap();
    }
    // Two partitions of three, as two pods of an indexed job would run them.
    for i in [0, 2] {
        let o = churn(parts.path(), &["all", "--partition", &format!("{i}/3")]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("partition {i}/3: skipped")),
            "{}",
            text(&o)
        );
    }
    // The whole table is not there yet: reading it is an error naming the missing part.
    let o = churn(parts.path(), &["train", "--model", "lr"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("1 of 3 partition parts are missing (1/3)"),
        "{}",
        text(&o)
    );
    // The last partition, by stage, as separate commands.
    for stage in ["prepare", "features", "labels", "trainset"] {
        let o = churn(parts.path(), &[stage, "--partition", "1/3"]);
        assert!(o.status.success(), "{stage}: {}", text(&o));
    }
    for table in [
        "data/processed/user_daily.parquet",
        "data/features/user_features_daily.parquet",
        "data/features/user_features_daily.latest.parquet",
        "data/features/labels.parquet",
        "data/features/training_dataset.parquet",
    ] {
        let (a, b) = (whole.path().join(table), parts.path().join(table));
        assert!(b.is_dir(), "{table} is a folder of parts");
        assert_eq!(sorted_rows(&a), sorted_rows(&b), "{table}");
    }
    let summary = parts
        .path()
        .join("data/features/training_dataset.json/part-00001-of-00003.json");
    assert!(summary.is_file());
    // Downstream stages take the folders as the whole tables, and train the models the
    // whole table trains: the same data fingerprint, the same metrics to the last bit.
    for root in [parts.path(), whole.path()] {
        let o = churn(root, &["all", "--from", "train", "--to", "score"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let versions = |root: &Path| {
        let dir = root.join("artifacts/registry/churn/versions");
        let mut out: Vec<(String, serde_json::Value, serde_json::Value)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(e.unwrap().path().join("version.json")).unwrap(),
                )
                .unwrap();
                (
                    v["kind"].to_string(),
                    v["lineage"]["data_fingerprint"].clone(),
                    v["metrics"].clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let (from_parts, from_whole) = (versions(parts.path()), versions(whole.path()));
    assert_eq!(from_parts.len(), 2, "{from_parts:?}");
    assert_eq!(from_parts, from_whole);
    // A partitioned run stays within the per-user stages; a whole-table write does not
    // replace a folder of parts.
    let o = churn(
        parts.path(),
        &["all", "--partition", "0/3", "--to", "train"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("prepare..trainset only"), "{}", text(&o));
    let o = churn(parts.path(), &["features"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is a folder (the parts of a run with --partition)"),
        "{}",
        text(&o)
    );
    let o = churn(parts.path(), &["prepare", "--partition", "3/3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("below N (3)"), "{}", text(&o));
}
