use arrow::array::{BooleanArray, Int32Array};
use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::io::{read_all, write_batches};
use churn_data::prepare::prepare_batches;
use churn_features::{FeatureParams, compute_file};
use churn_labels::{
    LabelParams, TrainsetParams, build_trainset, eligible, future_active_days, last_date,
};

#[test]
fn the_issue_known_answer() {
    let active = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0].map(|a| a == 1);
    let dates: Vec<i32> = (0..10).collect();
    let future = future_active_days(&dates, &active, 3);
    let labelled: Vec<i32> = future
        .iter()
        .zip(&dates)
        .filter(|(_, d)| *d + 3 <= 9)
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(labelled, vec![1, 1, 1, 0, 0, 0, 0]);
    let labels: Vec<i32> = labelled.iter().map(|&f| i32::from(f == 0)).collect();
    assert_eq!(labels, vec![0, 0, 0, 1, 1, 1, 1]);
}

#[test]
fn labels_and_eligibility_count_calendar_days_across_gaps() {
    // Days 0, 1, 5, 6 (gap 2..4); active on 0 and 6.
    let dates = [0, 1, 5, 6];
    let active = [true, false, false, true];
    assert_eq!(future_active_days(&dates, &active, 5), vec![0, 1, 1, 0]);
    assert_eq!(eligible(&dates, &active, 3), vec![true, true, false, true]);
    assert_eq!(
        eligible(&dates, &active, 0),
        vec![true; 4],
        "0 turns the filter off"
    );
    assert_eq!(
        eligible(&dates, &active, 1),
        vec![true, false, false, true],
        "today only"
    );
}

/// The whole chain on generated data: user_daily → features and labels → training set.
#[test]
fn trainset_joins_features_and_labels_on_eligible_labelled_rows() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(&GenerateConfig {
        n_users: 80,
        days: 60,
        ..GenerateConfig::default()
    })
    .unwrap();
    let (u, e) = sim.chunk(0..80, 1).unwrap();
    let (daily, _) = prepare_batches(
        &[u],
        &[e],
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap();
    let daily_path = dir.path().join("user_daily.parquet");
    write_batches(&daily_path, daily[0].schema(), &daily).unwrap();
    let features = dir.path().join("features.parquet");
    compute_file(
        &FeatureParams::default().check().unwrap(),
        &daily_path,
        &features,
    )
    .unwrap();
    let labels = dir.path().join("labels.parquet");
    let params = LabelParams {
        window: 10,
        active_within_days: 7,
    };
    let ls = params
        .check()
        .unwrap()
        .label_file(&daily_path, &labels)
        .unwrap();
    assert_eq!(ls.rows_in, 80 * 60);
    assert_eq!(ls.rows_labelled, 80 * 50, "the last 10 days are unlabelled");
    assert_eq!(last_date(&daily_path).unwrap(), Some(20_089 + 59));

    let out = dir.path().join("train.parquet");
    let s = build_trainset(&features, &labels, &out, &no_history_rule()).unwrap();
    assert_eq!(s.rows, ls.rows_eligible);
    assert_eq!(s.labelled_rows, ls.rows_labelled);
    assert_eq!(s.unlabelled_rows, 80 * 10);
    let (_, train) = read_all(&out, None).unwrap();
    let train = arrow::compute::concat_batches(&train[0].schema(), &train).unwrap();
    assert_eq!(train.num_rows() as u64, s.rows);
    // Every kept row was active within the previous 7 days: its active_days_7d > 0.
    let a7 = train
        .column_by_name("active_days_7d")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert!(a7.values().iter().all(|&v| v > 0));
    // churn_label agrees with future_active_days, and with the labels file row by row.
    let fut = train
        .column_by_name("future_active_days")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    let lab = train
        .column_by_name("churn_label")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert!((0..train.num_rows()).all(|i| lab.value(i) == i32::from(fut.value(i) == 0)));
    let churn: i64 = lab.values().iter().map(|&v| i64::from(v)).sum();
    assert!((s.churn_rate - churn as f64 / s.rows as f64).abs() < 1e-12);
    let (_, lfile) = read_all(&labels, None).unwrap();
    let lfile = arrow::compute::concat_batches(&lfile[0].schema(), &lfile).unwrap();
    let el = lfile
        .column_by_name("eligible")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    assert_eq!(el.true_count() as u64, s.rows);
}

#[test]
fn labels_from_another_run_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |seed: u64, n: u64, name: &str| {
        let sim = Simulator::new(&GenerateConfig {
            n_users: n,
            days: 20,
            seed,
            ..GenerateConfig::default()
        })
        .unwrap();
        let (u, e) = sim.chunk(0..n, 1).unwrap();
        let (daily, _) = prepare_batches(
            &[u],
            &[e],
            &ValidateConfig::default(),
            &PrepareConfig::default(),
        )
        .unwrap();
        let p = dir.path().join(name);
        write_batches(&p, daily[0].schema(), &daily).unwrap();
        p
    };
    let small = mk(1, 5, "small.parquet");
    let big = mk(1, 9, "big.parquet");
    let features = dir.path().join("f.parquet");
    compute_file(
        &FeatureParams::default().check().unwrap(),
        &small,
        &features,
    )
    .unwrap();
    let labels = dir.path().join("l.parquet");
    LabelParams {
        window: 5,
        active_within_days: 0,
    }
    .check()
    .unwrap()
    .label_file(&big, &labels)
    .unwrap();
    let out = dir.path().join("t.parquet");
    let e = build_trainset(&features, &labels, &out, &no_history_rule())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l.parquet") && e.contains("same user_daily"),
        "{e}"
    );
    assert!(!out.exists(), "no partial training set");
}

#[test]
fn bad_parameters_and_inputs_are_clear_errors() {
    assert!(
        LabelParams {
            window: 0,
            active_within_days: 30
        }
        .check()
        .is_err()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("daily.csv");
    std::fs::write(
        &p,
        "user_id,as_of_date,is_active_day\n1,2025-01-01,1\n1,2025-01-01,0\n",
    )
    .unwrap();
    let e = LabelParams::default()
        .check()
        .unwrap()
        .label_file(&p, &dir.path().join("l.parquet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("daily.csv") && e.contains("unique"), "{e}");
    std::fs::write(&p, "user_id,as_of_date,is_active_day\n1,2025-01-01,3\n").unwrap();
    let e = LabelParams::default()
        .check()
        .unwrap()
        .label_file(&p, &dir.path().join("l.parquet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is_active_day") && e.contains("0 or 1"), "{e}");
    std::fs::write(&p, "user_id,is_active_day\n1,1\n").unwrap();
    let e = LabelParams::default()
        .check()
        .unwrap()
        .label_file(&p, &dir.path().join("l.parquet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("as_of_date") && e.contains("missing"), "{e}");
}

/// The training set without the history rule (every eligible labelled row).
fn no_history_rule() -> TrainsetParams {
    TrainsetParams {
        min_history_days: 0,
    }
}

/// One user of a hand-made features + labels pair: id, signup date, dates as day offsets
/// from `D0`, and the one ineligible offset.
type HandUser = (&'static str, Option<i32>, Vec<i32>, Option<i32>);

/// 2025-01-01, the first day of the hand-made data.
const D0: i32 = 20_089;

/// Writes features (user_id, as_of_date, signup_date, x = the day offset) and labels
/// (future_active_days = offset % 2, eligible) for `users` under `dir`.
fn hand_tables(
    dir: &std::path::Path,
    users: &[HandUser],
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::sync::Arc;

    use arrow::array::{Date32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    let (mut ids, mut dates, mut signups, mut xs, mut futures, mut elig) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (id, signup, offsets, ineligible) in users {
        for &o in offsets {
            ids.push(*id);
            dates.push(D0 + o);
            signups.push(*signup);
            xs.push(o);
            futures.push(o % 2);
            elig.push(Some(o) != *ineligible);
        }
    }
    let features = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("as_of_date", DataType::Date32, false),
            Field::new("signup_date", DataType::Date32, true),
            Field::new("x", DataType::Int32, false),
        ])),
        vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(Date32Array::from(dates.clone())),
            Arc::new(Date32Array::from(signups)),
            Arc::new(Int32Array::from(xs)),
        ],
    )
    .unwrap();
    let labels = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("as_of_date", DataType::Date32, false),
            Field::new("future_active_days", DataType::Int32, false),
            Field::new("eligible", DataType::Boolean, false),
        ])),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Date32Array::from(dates)),
            Arc::new(Int32Array::from(futures)),
            Arc::new(BooleanArray::from(elig)),
        ],
    )
    .unwrap();
    let (fpath, lpath) = (dir.join("f.parquet"), dir.join("l.parquet"));
    write_batches(&fpath, features.schema(), &[features]).unwrap();
    write_batches(&lpath, labels.schema(), &[labels]).unwrap();
    (fpath, lpath)
}

/// (user_id, x) of every row of a training set file.
fn kept_rows(path: &std::path::Path) -> Vec<(String, i32)> {
    use arrow::array::StringArray;
    let (_, train) = read_all(path, None).unwrap();
    let train = arrow::compute::concat_batches(&train[0].schema(), &train).unwrap();
    let ids = train.column_by_name("user_id").unwrap();
    let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
    let xs = train.column_by_name("x").unwrap();
    let xs = xs.as_any().downcast_ref::<Int32Array>().unwrap();
    (0..train.num_rows())
        .map(|i| (ids.value(i).to_string(), xs.value(i)))
        .collect()
}

#[test]
fn rows_without_a_full_look_back_are_left_out_of_the_training_set() {
    let dir = tempfile::tempdir().unwrap();
    let (fpath, lpath) = hand_tables(
        dir.path(),
        &[
            // Signed up before the data: look-back complete from offset 3 (4 days) on.
            ("a", Some(D0 - 10), (0..10).collect(), Some(5)),
            // Signed up inside the data: complete from the first row.
            ("b", Some(D0 + 2), (2..10).collect(), None),
            // Signup unknown: treated as signed up before the data.
            ("c", None, (0..10).collect(), None),
            // Gaps: the rule goes by date, not by row.
            ("d", Some(D0 - 3), vec![0, 1, 6, 7], None),
        ],
    );
    let out = dir.path().join("t.parquet");
    let s = build_trainset(
        &fpath,
        &lpath,
        &out,
        &TrainsetParams {
            min_history_days: 4,
        },
    )
    .unwrap();
    let expect: Vec<(String, i32)> = [
        ("a", vec![3, 4, 6, 7, 8, 9]),
        ("b", (2..10).collect()),
        ("c", (3..10).collect()),
        ("d", vec![6, 7]),
    ]
    .into_iter()
    .flat_map(|(id, xs)| xs.into_iter().map(move |x| (id.to_string(), x)))
    .collect();
    assert_eq!(kept_rows(&out), expect);
    assert_eq!(s.rows, 23);
    assert_eq!(s.partial_history_rows, 3 + 3 + 2);
    assert_eq!(s.min_history_days, 4);
    assert_eq!(s.labelled_rows, 32);
    assert!((s.eligible_share - 31.0 / 32.0).abs() < 1e-12);
    assert_eq!(s.users, 4);
    assert_eq!(s.first_date, chrono::NaiveDate::from_ymd_opt(2025, 1, 3));

    // Without the rule every eligible row is kept.
    let s = build_trainset(&fpath, &lpath, &out, &no_history_rule()).unwrap();
    assert_eq!((s.rows, s.partial_history_rows), (31, 0));
    assert_eq!(kept_rows(&out).len(), 31);
}

#[test]
fn a_history_rule_no_row_meets_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (fpath, lpath) = hand_tables(dir.path(), &[("a", Some(D0 - 1), (0..10).collect(), None)]);
    let out = dir.path().join("t.parquet");
    let e = build_trainset(
        &fpath,
        &lpath,
        &out,
        &TrainsetParams {
            min_history_days: 20,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("f.parquet") && e.contains("20 days of history") && e.contains("10 eligible"),
        "{e}"
    );
    assert!(!out.exists(), "no partial training set");
}

#[test]
fn csv_features_are_typed_numbers_and_a_word_among_them_is_an_error() {
    use arrow::array::Float64Array;
    use arrow::datatypes::DataType;

    let dir = tempfile::tempdir().unwrap();
    let users: [HandUser; 2] = [
        ("a", Some(D0 - 10), (0..10).collect(), Some(5)),
        ("b", Some(D0 + 2), (2..10).collect(), None),
    ];
    let (fpath, lpath) = hand_tables(dir.path(), &users);
    // The same features as CSV: every column is text when read back.
    let (_, batches) = read_all(&fpath, None).unwrap();
    let csv = dir.path().join("f.csv");
    write_batches(&csv, batches[0].schema(), &batches).unwrap();
    let params = TrainsetParams {
        min_history_days: 4,
    };
    let from_parquet = dir.path().join("p.parquet");
    let from_csv = dir.path().join("c.parquet");
    let (_, lbatches) = read_all(&lpath, None).unwrap();
    let lcsv = dir.path().join("l.csv");
    write_batches(&lcsv, lbatches[0].schema(), &lbatches).unwrap();
    let a = build_trainset(&fpath, &lpath, &from_parquet, &params).unwrap();
    let b = build_trainset(&csv, &lcsv, &from_csv, &params).unwrap();
    assert_eq!(a, b);
    // A training set written as CSV reads back with the same types as the Parquet one.
    let tcsv = dir.path().join("t.csv");
    build_trainset(&csv, &lcsv, &tcsv, &params).unwrap();
    let (_, t) = read_all(&tcsv, None).unwrap();
    let typed = churn_labels::conform_table(&t[0], true, "t.csv").unwrap();
    let (_, p) = read_all(&from_csv, None).unwrap();
    assert_eq!(typed.schema().fields().len(), p[0].schema().fields().len());
    for (a, b) in typed.schema().fields().iter().zip(p[0].schema().fields()) {
        assert_eq!((a.name(), a.data_type()), (b.name(), b.data_type()));
    }
    let (schema, train) = read_all(&from_csv, None).unwrap();
    assert_eq!(
        schema.field_with_name("x").unwrap().data_type(),
        &DataType::Float64,
        "a feature column of a CSV table is a number, not a category"
    );
    assert_eq!(
        schema.field_with_name("signup_date").unwrap().data_type(),
        &DataType::Date32
    );
    let train = arrow::compute::concat_batches(&schema, &train).unwrap();
    let x = train.column_by_name("x").unwrap();
    let x = x.as_any().downcast_ref::<Float64Array>().unwrap();
    let expect: Vec<f64> = [3, 4, 6, 7, 8, 9, 2, 3, 4, 5, 6, 7, 8, 9]
        .map(f64::from)
        .to_vec();
    assert_eq!(x.values().to_vec(), expect);

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let xi = header.iter().position(|h| *h == "x").unwrap();
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    cells[xi] = "many".into();
    lines[3] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let e = build_trainset(&csv, &lpath, &dir.path().join("bad.parquet"), &params)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("f.csv")
            && e.contains("`x`")
            && e.contains("must hold numbers")
            && e.contains("many"),
        "{e}"
    );
    assert!(!dir.path().join("bad.parquet").exists());

    // A missing label in a CSV labels file is an error, not a churner.
    let text = std::fs::read_to_string(&lcsv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let fi = header
        .iter()
        .position(|h| *h == "future_active_days")
        .unwrap();
    let mut cells: Vec<String> = lines[2].split(',').map(String::from).collect();
    cells[fi] = String::new();
    lines[2] = cells.join(",");
    std::fs::write(&lcsv, lines.join("\n") + "\n").unwrap();
    let e = build_trainset(&fpath, &lcsv, &dir.path().join("bad.parquet"), &params)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l.csv") && e.contains("future_active_days") && e.contains("missing"),
        "{e}"
    );
}
