//! Score proxy, realized outcomes, the retrain decision and the report history.

use std::sync::Arc;

use arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, Utc};
use churn_models::metrics::ScoreStats;
use churn_monitor::psi::Status;
use churn_monitor::{Column, PsiParams, decide, drift_columns, realized, score_proxy};

fn now() -> DateTime<Utc> {
    "2026-05-01T00:00:00Z".parse().unwrap()
}

fn day(d: &str) -> i32 {
    (d.parse::<NaiveDate>().unwrap() - NaiveDate::default()).num_days() as i32
}

/// A predictions file of users u0..u9 on `date` with risks 0.0, 0.1, .., 0.9.
fn predictions(dir: &std::path::Path, date: &str) -> std::path::PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("churn_risk", DataType::Float64, false),
        Field::new("model_name", DataType::Utf8, false),
        Field::new("model_version", DataType::UInt32, false),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(
                (0..10).map(|i| format!("u{i}")).collect::<Vec<_>>(),
            )),
            Arc::new(Date32Array::from(vec![day(date); 10])),
            Arc::new(Float64Array::from(
                (0..10).map(|i| f64::from(i) / 10.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec!["churn"; 10])),
            Arc::new(UInt32Array::from(vec![3; 10])),
        ],
    )
    .unwrap();
    let path = dir.join(format!("churn_predictions_{date}.parquet"));
    churn_data::io::write_batches(&path, schema, &[b]).unwrap();
    path
}

#[test]
fn the_proxy_summarises_risk_and_compares_with_training() {
    let dir = tempfile::tempdir().unwrap();
    let path = predictions(dir.path(), "2025-03-01");
    let training = ScoreStats::of(&[0.1, 0.2, 0.3], 0.7);
    let r = score_proxy(&path, training, 0.7, now()).unwrap();
    assert_eq!(r.current.rows, 10);
    assert!((r.current.mean - 0.45).abs() < 1e-12);
    assert_eq!(
        (r.current.p50, r.current.p90, r.current.p99),
        (0.4, 0.8, 0.9)
    );
    assert!(
        (r.current.high_risk_share - 0.3).abs() < 1e-12,
        "0.7, 0.8, 0.9"
    );
    assert!((r.mean_shift.unwrap() - 0.25).abs() < 1e-12);
    assert_eq!(r.as_of_date, Some("2025-03-01".parse().unwrap()));
}

#[test]
fn a_risk_that_is_not_a_probability_is_an_error_with_examples() {
    // Skipping such rows would summarise a broken predictions file as healthy.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(
        &path,
        "user_id,as_of_date,churn_risk\nu1,2025-03-01,0.5\nu2,2025-03-01,NaN\n\
         u3,2025-03-01,abc\nu4,2025-03-01,1.7\nu5,2025-03-01,\nu6,2025-03-01,0.2\n",
    )
    .unwrap();
    let e = score_proxy(&path, None, 0.7, now())
        .unwrap_err()
        .to_string();
    for part in [
        "p.csv",
        "churn_risk",
        "4 rows",
        "[0, 1]",
        "row 2: NaN",
        "row 3: abc",
        "row 4: 1.7",
    ] {
        assert!(e.contains(part), "{part}: {e}");
    }
}

#[test]
fn mature_dates_are_evaluated_and_young_ones_pending() {
    let dir = tempfile::tempdir().unwrap();
    predictions(dir.path(), "2025-03-01");
    predictions(dir.path(), "2025-03-20");
    // Labels of 2025-03-01: the five highest risks churned, plus u2; u0 has no label.
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("churn_label", DataType::Int32, false),
    ]));
    let users: Vec<String> = (1..10).map(|i| format!("u{i}")).collect();
    let labels: Vec<i32> = (1..10).map(|i| i32::from(i >= 5 || i == 2)).collect();
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(Date32Array::from(vec![day("2025-03-01"); 9])),
            Arc::new(Int32Array::from(labels)),
        ],
    )
    .unwrap();
    let labels_path = dir.path().join("labels.parquet");
    churn_data::io::write_batches(&labels_path, schema, &[b]).unwrap();
    let model_pr_auc = |name: &str, v: u32| (name == "churn" && v == 3).then_some(0.99);
    let evaluate = || {
        realized(
            dir.path(),
            &labels_path,
            10,
            "2025-03-25".parse().unwrap(),
            3,
            &model_pr_auc,
            now(),
        )
    };
    let r = evaluate().unwrap();
    assert_eq!(r.dates.len(), 2);
    let first = &r.dates[0];
    assert_eq!(first.status, "evaluated");
    assert_eq!((first.rows, first.positives), (9, 6));
    assert_eq!(first.precision_at_k, Some(1.0));
    // Ranking u9..u1: positives at ranks 1-5 and 8 → AP = (5 + 6/8) / 6.
    assert!((first.pr_auc.unwrap() - (5.0 + 6.0 / 8.0) / 6.0).abs() < 1e-12);
    assert_eq!(first.model.as_deref(), Some("churn/3"));
    assert!((first.pr_auc_drop.unwrap() - (0.99 - first.pr_auc.unwrap())).abs() < 1e-12);
    assert_eq!(r.dates[1].status, "pending");
    assert_eq!(r.dates[1].matures_on, "2025-03-30".parse().unwrap());
    assert_eq!(
        r.latest_evaluated().unwrap().as_of_date,
        "2025-03-01".parse().unwrap()
    );

    // Realized 0.958 against 0.99: a drop of 0.032.
    let d = decide(None, Some(&r), Some(0.99), None, 0.01, now());
    assert!(d.retrain, "{:?}", d.reasons);
    let d = decide(None, Some(&r), Some(0.99), None, 0.1, now());
    assert!(!d.retrain, "{:?}", d.reasons);
    // Whether the data labels dates the production model was not trained on.
    let newest = r.last_data_date - chrono::Days::new(u64::from(r.window));
    let d = decide(None, Some(&r), Some(0.99), Some(newest), 0.01, now());
    assert_eq!(d.newest_labelled_date, Some(newest));
    assert!(
        d.reasons
            .iter()
            .any(|x| x.contains("no labelled date after") && x.contains(&newest.to_string())),
        "{:?}",
        d.reasons
    );
    let older = newest - chrono::Days::new(5);
    let d = decide(None, Some(&r), Some(0.99), Some(older), 0.01, now());
    assert!(
        d.reasons
            .iter()
            .any(|x| x.starts_with("5 labelled date(s) after")),
        "{:?}",
        d.reasons
    );

    // A NaN risk would make every metric of its date NaN: an error naming the file.
    let bad = predictions(dir.path(), "2025-03-02");
    let (schema, batches) = churn_data::io::read_all(&bad, None).unwrap();
    let mut columns = batches[0].columns().to_vec();
    columns[2] = Arc::new(Float64Array::from(vec![f64::NAN; 10]));
    let nan = RecordBatch::try_new(schema.clone(), columns).unwrap();
    churn_data::io::write_batches(&bad, schema, &[nan]).unwrap();
    let e = evaluate().unwrap_err().to_string();
    assert!(
        e.contains("churn_predictions_2025-03-02.parquet") && e.contains("10 rows: must be"),
        "{e}"
    );
}

#[test]
fn a_failing_feature_means_retrain_and_the_history_is_indexed() {
    let base: Vec<f64> = (1..=100).map(f64::from).collect();
    let shifted: Vec<f64> = base.iter().map(|v| v * 1.5).collect();
    let features = vec![
        (
            "stable".to_string(),
            Column::Numeric(base.clone()),
            Column::Numeric(base.clone()),
        ),
        (
            "moved".to_string(),
            Column::Numeric(base.clone()),
            Column::Numeric(shifted),
        ),
    ];
    let psi = drift_columns(&features, &PsiParams::default());
    assert_eq!(psi[0].feature, "moved", "worst first");
    assert_eq!(psi[0].status, Status::Fail);
    assert_eq!(psi[1].status, Status::Ok);
    let report = churn_monitor::DriftReport {
        created_at: now(),
        as_of_date: "2025-03-01".parse().unwrap(),
        model: "churn/1".into(),
        baseline: "train.parquet".into(),
        current: "features.parquet".into(),
        baseline_rows: 100,
        baseline_rows_total: 100,
        current_rows: 100,
        params: PsiParams::default(),
        status: Status::Fail,
        drifted: vec!["moved".into()],
        excluded: vec![],
        monthly: vec![],
        baseline_day_of_month: None,
        features: psi,
    };
    let d = decide(Some(&report), None, Some(0.8), None, 0.1, now());
    assert!(d.retrain);
    assert_eq!(d.failing_features, ["moved"]);
    assert!(
        d.reasons[0].contains("drift FAIL") && d.reasons[0].contains("moved"),
        "{:?}",
        d.reasons
    );

    let dir = tempfile::tempdir().unwrap();
    let first = churn_monitor::export::record(dir.path(), "drift", "FAIL", &report, now()).unwrap();
    let later = now() + chrono::Duration::seconds(1);
    churn_monitor::export::record(dir.path(), "decide", "retrain", &d, later).unwrap();
    let index = std::fs::read_to_string(dir.path().join("index.jsonl")).unwrap();
    assert_eq!(index.lines().count(), 2);
    assert!(index.lines().next().unwrap().contains("\"drift\""));
    let back: churn_monitor::DriftReport =
        serde_json::from_str(&std::fs::read_to_string(first).unwrap()).unwrap();
    assert_eq!(back.status, Status::Fail);
    let text = churn_monitor::export::drift_gauges(&back).render();
    let samples = churn_monitor::prometheus::parse(&text).unwrap();
    assert!(
        samples
            .iter()
            .any(|s| s.name == "churn_drift_status" && s.value == 2.0)
    );
    assert!(samples.iter().any(|s| s.name == "churn_feature_psi"
        && s.labels["feature"] == "moved"
        && s.value > 0.25));
}

/// A table of users u0..u49 on every date from `from` to `to`: `payment_success_7d` is 1 in
/// the first week of a month (payments at the start of each month) and 0 after;
/// `logins_7d` cycles through 0..7 whatever the date.
fn monthly_table(path: &std::path::Path, from: &str, to: &str) {
    let (from, to): (NaiveDate, NaiveDate) = (from.parse().unwrap(), to.parse().unwrap());
    let (mut users, mut dates, mut paid, mut logins) = (vec![], vec![], vec![], vec![]);
    for date in from.iter_days().take_while(|d| *d <= to) {
        for u in 0..50 {
            users.push(format!("u{u}"));
            dates.push(day(&date.to_string()));
            paid.push(i32::from(chrono::Datelike::day(&date) <= 7));
            logins.push(u % 7);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("payment_success_7d", DataType::Int32, false),
        Field::new("logins_7d", DataType::Int32, false),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(Date32Array::from(dates)),
            Arc::new(Int32Array::from(paid)),
            Arc::new(Int32Array::from(logins)),
        ],
    )
    .unwrap();
    churn_data::io::write_batches(path, schema, &[b]).unwrap();
}

fn numeric_spec(name: &str) -> churn_models::preprocess::FeatureSpec {
    churn_models::preprocess::FeatureSpec {
        name: name.into(),
        arrow_type: "Int32".into(),
        nullable: false,
        kind: churn_models::preprocess::FeatureKind::Numeric,
        source_table: "features".into(),
        lookup_keys: vec!["user_id".into(), "as_of_date".into()],
    }
}

/// The drift report of `date` of the March table against a baseline table of `from..=to`
/// (tables of [`monthly_table`]), every row eligible, `monthly` as the monthly features.
fn monthly_drift(from: &str, to: &str, date: &str, monthly: &[&str]) -> churn_monitor::DriftReport {
    try_monthly_drift(from, to, date, monthly).unwrap()
}

fn try_monthly_drift(
    from: &str,
    to: &str,
    date: &str,
    monthly: &[&str],
) -> churn_monitor::Result<churn_monitor::DriftReport> {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, features) = (
        dir.path().join("train.parquet"),
        dir.path().join("f.parquet"),
    );
    monthly_table(&baseline, from, to);
    monthly_table(&features, "2025-03-01", "2025-03-31");
    let options = churn_monitor::DriftOptions {
        active_within_days: 0,
        monthly_features: monthly.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    churn_monitor::drift_report(
        &baseline,
        &features,
        &[
            numeric_spec("payment_success_7d"),
            numeric_spec("logins_7d"),
        ],
        "churn/1",
        date.parse().unwrap(),
        &options,
        now(),
    )
}

#[test]
fn a_date_the_table_lacks_is_an_error_naming_the_dates_it_has() {
    // Comparing nothing would report OK: a monitor pointed at the wrong day must not be green.
    let e = try_monthly_drift("2025-01-01", "2025-02-28", "2025-04-15", &[]).unwrap_err();
    let message = e.to_string();
    for part in [
        "f.parquet",
        "as_of_date",
        "no rows on 2025-04-15",
        "2025-03-01 .. 2025-03-31",
    ] {
        assert!(message.contains(part), "{message}");
    }
}

#[test]
fn features_that_follow_the_calendar_month_are_compared_on_the_same_day_of_the_month() {
    let report =
        |date: &str, monthly: &[&str]| monthly_drift("2025-01-01", "2025-02-28", date, monthly);
    let psi = |r: &churn_monitor::DriftReport, f: &str| {
        r.features.iter().find(|x| x.feature == f).unwrap().clone()
    };

    // Against every day of January and February, nobody paying in the last week of March
    // looks like drift.
    let pooled = report("2025-03-20", &[]);
    assert_eq!(pooled.status, Status::Fail);
    assert_eq!(pooled.drifted, ["payment_success_7d"]);
    assert_eq!(pooled.baseline_day_of_month, None);

    // Against the 20th of January and February, nothing moved.
    let same_day = report("2025-03-20", &["payment_*"]);
    assert_eq!(same_day.status, Status::Ok, "{:?}", same_day.features);
    assert_eq!(same_day.monthly, ["payment_success_7d"]);
    assert_eq!(same_day.baseline_day_of_month, Some(20));
    let paid = psi(&same_day, "payment_success_7d");
    assert_eq!(paid.psi, 0.0);
    assert_eq!(paid.baseline_rows, 100, "50 users on two dates");
    assert!(paid.note.unwrap().contains("day 20 of the month"));
    // Other features still use every baseline row.
    assert_eq!(psi(&same_day, "logins_7d").baseline_rows, 50 * 59);
    assert_eq!(same_day.baseline_rows, 50 * 59);

    // An exact name works as a pattern too; the 31st is not in February, January has it.
    let last = report("2025-03-31", &["payment_success_7d"]);
    assert_eq!(last.baseline_day_of_month, Some(31));
    assert_eq!(psi(&last, "payment_success_7d").baseline_rows, 50);
    // In the first week of the month everybody has paid, on both sides.
    let first_week = report("2025-03-03", &["payment_*"]);
    assert_eq!(first_week.status, Status::Ok);
    assert_eq!(psi(&first_week, "payment_success_7d").psi, 0.0);
}

#[test]
fn a_day_of_the_month_the_baseline_lacks_uses_the_nearest_it_has() {
    let r = monthly_drift("2025-02-01", "2025-02-28", "2025-03-30", &["payment_*"]);
    assert_eq!(r.baseline_day_of_month, Some(28));
    assert_eq!(r.status, Status::Ok);
}

#[test]
fn a_baseline_without_dates_compares_monthly_features_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (dated, baseline, features) = (
        dir.path().join("dated.parquet"),
        dir.path().join("train.parquet"),
        dir.path().join("f.parquet"),
    );
    monthly_table(&dated, "2025-01-01", "2025-02-28");
    let (schema, batches) = churn_data::io::read_all(&dated, None).unwrap();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != "as_of_date")
        .collect();
    let undated: Vec<RecordBatch> = batches.iter().map(|b| b.project(&keep).unwrap()).collect();
    churn_data::io::write_batches(&baseline, undated[0].schema(), &undated).unwrap();
    monthly_table(&features, "2025-03-01", "2025-03-31");
    let options = churn_monitor::DriftOptions {
        active_within_days: 0,
        ..Default::default()
    };
    let r = churn_monitor::drift_report(
        &baseline,
        &features,
        &[numeric_spec("payment_success_7d")],
        "churn/1",
        "2025-03-20".parse().unwrap(),
        &options,
        now(),
    )
    .unwrap();
    assert_eq!(r.baseline_day_of_month, None);
    assert_eq!(r.status, Status::Fail, "every baseline row, as before");
    assert!(
        r.features[0]
            .note
            .as_ref()
            .unwrap()
            .contains("no dated rows")
    );
}
