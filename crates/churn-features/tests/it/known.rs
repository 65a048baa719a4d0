use arrow::array::{Array, Float64Array, Int32Array, RecordBatch};
use churn_features::{FeatureParams, compute_batches};

use crate::user_daily;

fn ints(b: &RecordBatch, name: &str) -> Vec<i32> {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap()
        .values()
        .to_vec()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn row(
    u: &str,
    d: i32,
    active: i32,
    logins: i32,
    watch: f64,
    quiz: Option<f64>,
    ok: i32,
    fail: i32,
) -> crate::Row {
    (u.to_string(), d, active, logins, watch, quiz, ok, fail)
}

/// One user with a gap (days 3..=5 missing) and a 3-day window, computed by hand:
/// day  act logins watch quiz  | active_3d logins_3d watch_3d quiz_avg_3d dsla
///  0    1    2     10   80    |    1         2       10        80       0
///  1    0    0      0   -     |    1         2       10        80       1
///  2    1    1      5   60    |    2         3       15        70       0
///  6    0    0      0   -     |    0         0        0        -        4   (window 4..6: only day 6)
///  7    1    1      1   -     |    1         1        1        -        0   (5..7: days 6, 7)
#[test]
fn windows_are_calendar_days_not_rows() {
    let input = user_daily(&[
        row("a", 0, 1, 2, 10.0, Some(80.0), 0, 0),
        row("a", 1, 0, 0, 0.0, None, 0, 0),
        row("a", 2, 1, 1, 5.0, Some(60.0), 1, 0),
        row("a", 6, 0, 0, 0.0, None, 0, 1),
        row("a", 7, 1, 1, 1.0, None, 0, 0),
    ]);
    let set = FeatureParams { windows: vec![3] }.check().unwrap();
    let out = compute_batches(&set, std::iter::once(Ok(input))).unwrap();
    let b = &out[0];
    assert_eq!(ints(b, "active_days_3d"), vec![1, 1, 2, 0, 1]);
    assert_eq!(ints(b, "logins_3d"), vec![2, 2, 3, 0, 1]);
    assert_eq!(
        floats(b, "watch_minutes_3d"),
        vec![Some(10.0), Some(10.0), Some(15.0), Some(0.0), Some(1.0)]
    );
    assert_eq!(
        floats(b, "quiz_avg_score_3d"),
        vec![Some(80.0), Some(80.0), Some(70.0), None, None]
    );
    assert_eq!(ints(b, "days_since_last_activity"), vec![0, 1, 0, 4, 0]);
    // 3 is the largest window when 30 is not configured: day 2 has 1 ok, day 6..7 1 failed.
    assert_eq!(
        floats(b, "payment_fail_rate_3d"),
        vec![Some(0.0), Some(0.0), Some(0.0), Some(1.0), Some(1.0)]
    );
}

/// Before any activity, days_since_last_activity is days since signup (10 days before day 0).
#[test]
fn recency_before_any_activity_counts_from_signup_and_users_do_not_mix() {
    let input = user_daily(&[
        row("a", 0, 1, 1, 0.0, None, 0, 0),
        row("a", 1, 1, 1, 0.0, None, 0, 0),
        row("b", 0, 0, 0, 0.0, None, 0, 0),
        row("b", 1, 1, 1, 0.0, None, 0, 0),
    ]);
    let set = FeatureParams {
        windows: vec![7, 30],
    }
    .check()
    .unwrap();
    let out = compute_batches(&set, std::iter::once(Ok(input))).unwrap();
    let b = &out[0];
    assert_eq!(ints(b, "days_since_last_activity"), vec![0, 0, 10, 0]);
    assert_eq!(
        ints(b, "logins_7d"),
        vec![1, 2, 0, 1],
        "b's window must not include a's days"
    );
    assert!(b.column_by_name("payment_fail_rate_30d").is_some());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let set = FeatureParams::default().check().unwrap();
    let dup = user_daily(&[
        row("a", 0, 1, 1, 0.0, None, 0, 0),
        row("a", 0, 1, 1, 0.0, None, 0, 0),
    ]);
    let e = compute_batches(&set, std::iter::once(Ok(dup)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unique") && e.contains("row 2"), "{e}");

    let unsorted = user_daily(&[
        row("a", 1, 1, 1, 0.0, None, 0, 0),
        row("a", 0, 1, 1, 0.0, None, 0, 0),
    ]);
    let e = compute_batches(&set, std::iter::once(Ok(unsorted)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sorted"), "{e}");

    let split = user_daily(&[
        row("a", 0, 1, 1, 0.0, None, 0, 0),
        row("b", 0, 1, 1, 0.0, None, 0, 0),
        row("a", 1, 1, 1, 0.0, None, 0, 0),
    ]);
    let e = compute_batches(&set, std::iter::once(Ok(split)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("grouped by user") && e.contains("a appears again"),
        "{e}"
    );

    let negative = user_daily(&[row("a", 0, 1, -2, 0.0, None, 0, 0)]);
    let e = compute_batches(&set, std::iter::once(Ok(negative)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-negative") && e.contains("row 1: -2"), "{e}");

    // The fixture's users signed up 10 days before day 0: day -12 is before signup.
    let early = user_daily(&[
        row("a", -12, 0, 0, 0.0, None, 0, 0),
        row("a", 0, 1, 1, 0.0, None, 0, 0),
    ]);
    let e = compute_batches(&set, std::iter::once(Ok(early)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("days_since_signup") && e.contains("signup_date") && e.contains("row 1: -2"),
        "{e}"
    );

    assert!(FeatureParams { windows: vec![] }.check().is_err());
    assert!(
        FeatureParams {
            windows: vec![7, 0]
        }
        .check()
        .is_err()
    );
}

#[test]
fn missing_column_in_a_file_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("daily.csv");
    std::fs::write(&p, "user_id,as_of_date\n1,2025-01-01\n").unwrap();
    let set = FeatureParams::default().check().unwrap();
    let e = churn_features::compute_file(&set, &p, &dir.path().join("out.parquet"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("daily.csv") && e.contains("required column is missing"),
        "{e}"
    );
    assert!(!dir.path().join("out.parquet").exists());
}

#[test]
fn an_empty_input_is_an_error_and_keeps_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("daily.parquet");
    let empty = user_daily(&[]);
    churn_data::io::write_batches(&p, empty.schema(), &[empty]).unwrap();
    let out = dir.path().join("out.parquet");
    std::fs::write(&out, b"old").unwrap();
    let set = FeatureParams::default().check().unwrap();
    let e = churn_features::compute_file(&set, &p, &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("daily.parquet") && e.contains("no rows"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
}

#[test]
fn a_parquet_run_writes_the_last_date_snapshot_beside_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("daily.parquet");
    let rows: Vec<crate::Row> = ["a", "b"]
        .iter()
        .flat_map(|u| (0..5).map(move |d| row(u, d, d % 2, 1, 1.0, None, 0, 0)))
        .collect();
    let input = user_daily(&rows);
    churn_data::io::write_batches(&p, input.schema(), &[input]).unwrap();
    let out = dir.path().join("features.parquet");
    let set = FeatureParams::default().check().unwrap();
    churn_features::compute_file(&set, &p, &out).unwrap();
    let snap = churn_data::io::latest_snapshot_path(&out);
    let last = crate::BASE + 4;
    assert_eq!(
        churn_data::io::parquet_date_range(&snap, "as_of_date"),
        Some((last, last))
    );
    let (_, all) = churn_data::io::read_all(&out, None).unwrap();
    let (_, latest) = churn_data::io::read_all(&snap, None).unwrap();
    let all = arrow::compute::concat_batches(&all[0].schema(), &all).unwrap();
    let on_last: Vec<usize> = (0..all.num_rows())
        .filter(|&i| {
            all.column_by_name("as_of_date")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Date32Array>()
                .unwrap()
                .value(i)
                == last
        })
        .collect();
    assert_eq!(latest.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    let idx = arrow::array::UInt32Array::from_iter_values(on_last.iter().map(|&i| i as u32));
    let expected = arrow::compute::take_record_batch(&all, &idx).unwrap();
    assert_eq!(
        latest[0], expected,
        "the snapshot is the table's last date, row for row"
    );
    assert_eq!(
        churn_data::io::fresh_snapshot(&out, "as_of_date", last),
        Some(snap.clone())
    );
    assert_eq!(
        churn_data::io::fresh_snapshot(&out, "as_of_date", last - 1),
        None
    );

    // A CSV output has no snapshot, and an old one is removed rather than left stale.
    let csv = dir.path().join("features.csv");
    std::fs::write(churn_data::io::latest_snapshot_path(&csv), b"stale").unwrap();
    churn_features::compute_file(&set, &p, &csv).unwrap();
    assert!(!churn_data::io::latest_snapshot_path(&csv).exists());
}
