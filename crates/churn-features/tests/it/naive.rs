//! Property test: the fast features equal an O(days · window) loop per user, on random users
//! with random gaps, null quiz averages and random windows, cut into random batches.

use arrow::array::{Array, Float64Array, Int32Array, RecordBatch};
use churn_features::{FeatureParams, compute_batches};
use proptest::prelude::*;

use crate::user_daily;

use crate::Row;

fn users() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            proptest::collection::btree_set(0i32..60, 1..25),
            proptest::collection::vec(
                (
                    0i32..2,
                    0i32..4,
                    0.0f64..50.0,
                    proptest::option::of(0.0f64..100.0),
                    0i32..2,
                    0i32..2,
                ),
                25,
            ),
        ),
        1..5,
    )
    .prop_map(|us| {
        let mut rows = Vec::new();
        for (u, (days, vals)) in us.into_iter().enumerate() {
            for (d, v) in days.into_iter().zip(vals) {
                rows.push((format!("user{u}"), d, v.0, v.1, v.2, v.3, v.4, v.5));
            }
        }
        rows
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn features_equal_the_naive_loop(rows in users(), windows in proptest::collection::vec(1u32..40, 1..4), cut in 1usize..30) {
        let input = user_daily(&rows);
        // Batches of `cut` rows: users straddle batch boundaries.
        let batches: Vec<RecordBatch> = (0..input.num_rows()).step_by(cut).map(|s| input.slice(s, cut.min(input.num_rows() - s))).collect();
        let set = FeatureParams { windows: windows.clone() }.check().unwrap();
        let out = compute_batches(&set, batches.into_iter().map(Ok)).unwrap();
        let out = arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        prop_assert_eq!(out.num_rows(), rows.len());
        let int = |n: &str| out.column_by_name(n).unwrap().as_any().downcast_ref::<Int32Array>().unwrap().clone();
        let flt = |n: &str| out.column_by_name(n).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().clone();
        for (i, r) in rows.iter().enumerate() {
            let mine: Vec<&Row> = rows.iter().filter(|x| x.0 == r.0).collect();
            for &w in set.windows() {
                let inw: Vec<&&Row> = mine.iter().filter(|x| x.1 > r.1 - w as i32 && x.1 <= r.1).collect();
                let active: i32 = inw.iter().map(|x| x.2).sum();
                let logins: i32 = inw.iter().map(|x| x.3).sum();
                let watch: f64 = inw.iter().map(|x| x.4).sum();
                let qs: Vec<f64> = inw.iter().filter_map(|x| x.5).collect();
                prop_assert_eq!(int(&format!("active_days_{w}d")).value(i), active);
                prop_assert_eq!(int(&format!("logins_{w}d")).value(i), logins);
                let watched = flt(&format!("watch_minutes_{w}d")).value(i);
                prop_assert!((watched - watch).abs() < 1e-6);
                let q = flt(&format!("quiz_avg_score_{w}d"));
                if qs.is_empty() {
                    prop_assert!(q.is_null(i));
                } else {
                    prop_assert!((q.value(i) - qs.iter().sum::<f64>() / qs.len() as f64).abs() < 1e-6);
                }
            }
            let last = mine.iter().filter(|x| x.1 <= r.1 && x.2 == 1).map(|x| x.1).max();
            let dsla = last.map_or(r.1 + 10, |d| r.1 - d);
            prop_assert_eq!(int("days_since_last_activity").value(i), dsla);
            let rw = set.rate_window() as i32;
            let inr: Vec<&&Row> = mine.iter().filter(|x| x.1 > r.1 - rw && x.1 <= r.1).collect();
            let (ok, fail): (i32, i32) = (inr.iter().map(|x| x.6).sum(), inr.iter().map(|x| x.7).sum());
            let rate = if ok + fail > 0 { f64::from(fail) / f64::from(ok + fail) } else { 0.0 };
            let got_rate = flt(&format!("payment_fail_rate_{rw}d")).value(i);
            prop_assert!((got_rate - rate).abs() < 1e-9);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A user's features are a function of that user's rows alone, to the last bit: the
    /// users before it in the input (another partition's, another batch size) change
    /// nothing. Float window sums taken from one running total over many users did.
    #[test]
    fn a_users_features_do_not_depend_on_the_other_users(rows in users(), cut in 1usize..30) {
        let set = FeatureParams { windows: vec![3, 7, 30] }.check().unwrap();
        let features = |rows: &[Row], cut: usize| {
            let input = user_daily(rows);
            let batches: Vec<RecordBatch> = (0..input.num_rows()).step_by(cut).map(|s| input.slice(s, cut.min(input.num_rows() - s))).collect();
            let out = compute_batches(&set, batches.into_iter().map(Ok)).unwrap();
            arrow::compute::concat_batches(&out[0].schema(), &out).unwrap()
        };
        let all = features(&rows, cut);
        let mut at = 0;
        let mut users: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        users.dedup();
        for user in users {
            let own: Vec<Row> = rows.iter().filter(|r| r.0 == user).cloned().collect();
            let alone = features(&own, 1000);
            prop_assert_eq!(&all.slice(at, own.len()), &alone, "user {}", user);
            at += own.len();
        }
    }
}
