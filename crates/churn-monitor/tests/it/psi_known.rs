//! PSI known answers from the issue, worked by hand.

use churn_monitor::psi::{PsiParams, Status, numeric_edges, psi_categorical, psi_numeric};

fn one_to(n: u32) -> Vec<f64> {
    (1..=n).map(f64::from).collect()
}

#[test]
fn edges_are_the_baseline_deciles() {
    let mut v = one_to(100);
    assert_eq!(
        numeric_edges(&mut v, 10),
        [11.0, 21.0, 31.0, 41.0, 51.0, 61.0, 71.0, 81.0, 91.0]
    );
    // Duplicate edges are merged; the minimum is never an edge.
    let mut zeros = vec![0.0; 80];
    zeros.extend(one_to(20));
    assert_eq!(numeric_edges(&mut zeros, 10), [1.0, 11.0]);
    // Fewer values than buckets.
    assert_eq!(numeric_edges(&mut [3.0, 1.0, 2.0], 10), [2.0, 3.0]);
    assert!(numeric_edges(&mut [], 10).is_empty());
}

#[test]
fn identical_samples_have_zero_psi() {
    let r = psi_numeric("x", &one_to(100), &one_to(100), &PsiParams::default());
    assert_eq!(r.psi, 0.0);
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.buckets.len(), 10);
    assert!(r.buckets.iter().all(|b| (b.expected - 0.1).abs() < 1e-12));
}

#[test]
fn half_the_range_is_a_large_psi() {
    // 1..50 against deciles of 1..100: buckets 1-5 get 0.2 each, buckets 6-10 get 0
    // (floored at 1e-6). PSI = 5·0.1·ln 2 + 5·(1e-6 − 0.1)·ln(1e-5).
    let r = psi_numeric("x", &one_to(100), &one_to(50), &PsiParams::default());
    let expected = 5.0 * 0.1 * 2f64.ln() + 5.0 * (1e-6 - 0.1) * (1e-6f64 / 0.1).ln();
    assert!((r.psi - expected).abs() < 1e-9, "{} vs {expected}", r.psi);
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn values_beyond_the_baseline_range_land_in_the_outer_buckets() {
    let base = one_to(100);
    let scaled: Vec<f64> = base.iter().map(|v| v * 1.5).collect();
    let r = psi_numeric("x", &base, &scaled, &PsiParams::default());
    // 1.5..150: every value >= 91 is in the top bucket: 1.5·61 = 91.5 onwards, 40 values.
    let top = r.buckets.iter().find(|b| b.upper.is_none()).unwrap();
    assert_eq!(top.actual_count, 40);
    assert_eq!(
        r.buckets.iter().map(|b| b.actual_count).sum::<u64>(),
        100,
        "no value dropped"
    );
    assert!(r.psi > 0.1, "{}", r.psi);
    // Below the range too.
    let low: Vec<f64> = base.iter().map(|v| v - 1000.0).collect();
    let r = psi_numeric("x", &base, &low, &PsiParams::default());
    assert_eq!(r.buckets[0].actual_count, 100);
}

#[test]
fn missing_values_have_their_own_bucket() {
    let base = one_to(100);
    let mut cur = one_to(100);
    for v in cur.iter_mut().take(30) {
        *v = f64::NAN;
    }
    let r = psi_numeric("x", &base, &cur, &PsiParams::default());
    let missing = r.buckets.iter().find(|b| b.label == "missing").unwrap();
    assert_eq!((missing.expected_count, missing.actual_count), (0, 30));
    assert!(r.psi.is_finite() && r.psi > 0.25);
}

#[test]
fn constant_all_missing_and_empty_columns_have_stated_results() {
    let p = PsiParams::default();
    let constant = psi_numeric("c", &[5.0; 50], &[5.0; 20], &p);
    assert_eq!(constant.psi, 0.0);
    assert!(constant.note.unwrap().contains("constant"));
    let moved = psi_numeric("c", &[5.0; 50], &[7.0; 20], &p);
    assert_eq!(moved.status, Status::Fail, "a move off a constant shows");
    assert_eq!(moved.buckets.len(), 3);
    let nan = psi_numeric("n", &[f64::NAN; 10], &[1.0, 2.0], &p);
    assert!(nan.psi.is_finite() && nan.psi > 0.25);
    assert!(nan.note.unwrap().contains("missing"));
    let empty = psi_numeric("e", &[], &[1.0], &p);
    assert_eq!(
        (empty.psi, empty.status),
        (0.0, Status::Warn),
        "not compared"
    );
    assert!(empty.note.unwrap().contains("baseline is empty"));
    let empty_cur = psi_categorical("e", [Some("a")], std::iter::empty(), &p);
    assert_eq!((empty_cur.psi, empty_cur.status), (0.0, Status::Warn));
}

#[test]
fn categories_compare_shares_and_unseen_ones_get_a_bucket() {
    let p = PsiParams::default();
    let base = ["free", "free", "paid", "paid"].map(Some);
    let same = psi_categorical("plan", base, base, &p);
    assert_eq!(same.psi, 0.0);
    let cur = [Some("free"), Some("trial"), None, Some("paid")];
    let r = psi_categorical("plan", base, cur, &p);
    let labels: Vec<&str> = r.buckets.iter().map(|b| b.label.as_str()).collect();
    assert!(labels.contains(&"(categories not in the baseline)") && labels.contains(&"missing"));
    // free 0.5→0.25, paid 0.5→0.25, unseen 0→0.25, missing 0→0.25.
    let f = 1e-6f64;
    let expected = 2.0 * (-0.25 * 0.5f64.ln()) + 2.0 * (0.25 - f) * (0.25 / f).ln();
    assert!((r.psi - expected).abs() < 1e-9, "{} vs {expected}", r.psi);
}

#[test]
fn a_mostly_zero_feature_still_has_a_bucket_for_its_non_zero_values() {
    // 95% zeros: every decile is 0. The split is at 0: zeros, and values above.
    let mut base = vec![0.0; 95];
    base.extend([1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = psi_numeric("x", &base, &base, &PsiParams::default());
    assert_eq!(r.buckets.len(), 2);
    assert_eq!(r.buckets[1].expected_count, 5);
    assert!(r.note.is_none(), "not constant");
    let mut more = vec![0.0; 50];
    more.extend(vec![2.0; 50]);
    assert_eq!(
        psi_numeric("x", &base, &more, &PsiParams::default()).status,
        Status::Fail
    );
}
