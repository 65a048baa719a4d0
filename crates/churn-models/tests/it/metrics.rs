//! Known answers of every metric, computed by hand.

use churn_models::metrics::{
    average_precision, brier, confusion, evaluate, expected_calibration_error, log_loss, pr_curve,
    precision_at_k, roc_auc,
};

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn average_precision_and_auc_of_the_textbook_example() {
    // Sorted: 0.8 (1), 0.4 (0), 0.35 (1), 0.1 (0): AP = 0.5·1 + 0.5·2/3.
    let y = [0.0, 0.0, 1.0, 1.0];
    let s = [0.1, 0.4, 0.35, 0.8];
    close(average_precision(&y, &s).unwrap(), 0.5 + 0.5 * 2.0 / 3.0);
    close(roc_auc(&y, &s).unwrap(), 0.75);
}

#[test]
fn ties_are_one_threshold() {
    // 0.5 holds a churner and a stayer: P = 1/2 at R = 1/2, then P = 2/3 at R = 1.
    let y = [1.0, 0.0, 1.0, 0.0];
    let s = [0.5, 0.5, 0.2, 0.1];
    close(average_precision(&y, &s).unwrap(), 0.25 + 0.5 * 2.0 / 3.0);
    // Pairs: (0.5, 0.5) half, (0.5, 0.1) 1, (0.2, 0.5) 0, (0.2, 0.1) 1 → 2.5 / 4.
    close(roc_auc(&y, &s).unwrap(), 0.625);
    // Everything tied: one threshold.
    close(roc_auc(&[1.0, 0.0], &[0.3, 0.3]).unwrap(), 0.5);
    close(average_precision(&[1.0, 0.0], &[0.3, 0.3]).unwrap(), 0.5);
}

#[test]
fn single_class_is_an_error_or_null_never_nan() {
    let y = [0.0, 0.0, 0.0];
    let s = [0.1, 0.2, 0.3];
    let err = roc_auc(&y, &s).unwrap_err().to_string();
    assert!(
        err.contains("ROC AUC") && err.contains("both classes"),
        "{err}"
    );
    assert!(average_precision(&y, &s).is_err());
    assert!(roc_auc(&[1.0, 1.0], &[0.1, 0.2]).is_err());
    let e = evaluate(&y, &s, 2).unwrap();
    assert_eq!((e.pr_auc, e.roc_auc), (None, None));
    assert!(e.log_loss.is_finite() && e.brier.is_finite() && e.ece.is_finite());
    assert_eq!(e.top_k[0].lift, 0.0);
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains("\"pr_auc\":null") && !json.contains("NaN"));
}

#[test]
fn empty_or_invalid_input_is_an_error() {
    assert!(roc_auc(&[], &[]).is_err());
    assert!(log_loss(&[1.0], &[0.5, 0.5]).is_err());
    assert!(brier(&[2.0], &[0.5]).is_err());
    assert!(average_precision(&[1.0, 0.0], &[f64::NAN, 0.1]).is_err());
    assert!(precision_at_k(&[1.0], &[0.5], 0).is_err());
}

#[test]
fn probability_metrics() {
    close(
        log_loss(&[1.0, 0.0], &[0.8, 0.3]).unwrap(),
        -(0.8f64.ln() + 0.7f64.ln()) / 2.0,
    );
    // Clipping keeps a confident mistake finite.
    assert!(log_loss(&[1.0], &[0.0]).unwrap().is_finite());
    close(
        brier(&[1.0, 0.0], &[0.8, 0.3]).unwrap(),
        (0.04 + 0.09) / 2.0,
    );
    // Bin 9: p 0.95, 0.9, y 1, 1 → |1.85 − 2| / 4; bin 1: p 0.15, 0.12, y 0, 1 → |0.27 − 1| / 4.
    close(
        expected_calibration_error(&[1.0, 0.0, 1.0, 1.0], &[0.95, 0.15, 0.12, 0.9], 10).unwrap(),
        0.15 / 4.0 + 0.73 / 4.0,
    );
    // p = 1 falls in the last bin.
    close(expected_calibration_error(&[1.0], &[1.0], 10).unwrap(), 0.0);
}

#[test]
fn top_k_precision_and_lift() {
    let y = [0.0, 1.0, 1.0, 0.0, 1.0];
    let s = [0.9, 0.8, 0.7, 0.6, 0.1];
    close(precision_at_k(&y, &s, 2).unwrap(), 0.5);
    close(precision_at_k(&y, &s, 3).unwrap(), 2.0 / 3.0);
    close(precision_at_k(&y, &s, 10).unwrap(), 0.6);
    let e = evaluate(&y, &s, 2).unwrap();
    assert_eq!(e.top_k[0].k, 2);
    close(e.top_k[0].lift, 0.5 / 0.6);
    // 5% of 5 rows rounds up to one row: the 0.9 stayer.
    assert_eq!((e.top_k[1].label.as_str(), e.top_k[1].k), ("5%", 1));
    close(e.top_k[1].precision, 0.0);
}

#[test]
fn confusion_and_class_reports_at_one_half() {
    let y = [0.0, 1.0, 1.0, 0.0];
    let p = [0.6, 0.7, 0.2, 0.1];
    let c = confusion(&y, &p, 0.5);
    assert_eq!((c.tn, c.fp, c.fn_, c.tp), (1, 1, 1, 1));
    let e = evaluate(&y, &p, 1).unwrap();
    close(e.class_1.precision, 0.5);
    close(e.class_1.recall, 0.5);
    close(e.class_1.f1, 0.5);
    assert_eq!((e.class_0.support, e.class_1.support), (2, 2));
    // Nobody predicted to churn: precision 0, not NaN.
    let e = evaluate(&y, &[0.1; 4], 1).unwrap();
    assert_eq!((e.class_1.precision, e.class_1.f1), (0.0, 0.0));
}

#[test]
fn pr_curve_is_thinned_and_ends_at_full_recall() {
    let y: Vec<f64> = (0..1000).map(|i| f64::from(i % 3 == 0)).collect();
    let s: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
    let curve = pr_curve(&y, &s, 101).unwrap();
    assert_eq!(curve.len(), 101);
    assert_eq!(curve.last().unwrap().recall, 1.0);
    assert!(curve.windows(2).all(|w| w[0].threshold >= w[1].threshold));
}
