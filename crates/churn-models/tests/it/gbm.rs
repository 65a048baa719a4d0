//! Gradient boosting: the flattened trees agree with forust-ml, and fits are reproducible.

use churn_models::gbm::{GbmParams, Sampling};
use churn_models::preprocess::PreprocessParams;

use crate::common::table;

fn design() -> (churn_models::preprocess::Design, Vec<f64>) {
    let batches = table(400, 10, 5);
    let pre = PreprocessParams::default().fit(&batches, None).unwrap();
    let x = pre.transform(&batches).unwrap();
    let y = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("churn_label")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>()
                .unwrap()
                .values()
                .iter()
                .map(|&v| f64::from(v))
                .collect::<Vec<_>>()
        })
        .collect();
    (x, y)
}

fn params(sampling: Sampling) -> GbmParams {
    GbmParams {
        iterations: 40,
        sampling,
        ..GbmParams::default()
    }
}

#[test]
fn flattened_trees_agree_with_forust_to_1e_12() {
    let (x, y) = design();
    assert!(
        x.data.iter().any(|v| v.is_nan()),
        "the table has missing values"
    );
    for sampling in [Sampling::None, Sampling::Goss] {
        let m = params(sampling).fit(&x, &y, None, None).unwrap();
        assert_eq!(m.trees(), 40);
        let flat = m.decision_function(&x);
        let forust = m.forust_decision_function(&x);
        for (a, b) in flat.iter().zip(&forust) {
            assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let (x, y) = design();
    let a = params(Sampling::Goss).fit(&x, &y, None, None).unwrap();
    let b = params(Sampling::Goss).fit(&x, &y, None, None).unwrap();
    assert_eq!(a.decision_function(&x), b.decision_function(&x));
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn contributions_add_up_to_the_log_odds() {
    let (x, y) = design();
    let m = params(Sampling::None).fit(&x, &y, None, None).unwrap();
    let c = m.contributions(&x);
    let z = m.decision_function(&x);
    for i in (0..x.rows).step_by(97) {
        let sum: f64 = c[i * (x.cols + 1)..(i + 1) * (x.cols + 1)].iter().sum();
        assert!((sum - z[i]).abs() < 1e-6, "row {i}: {sum} vs {}", z[i]);
    }
}

#[test]
fn flat_contributions_equal_forusts_including_missing_values() {
    let (mut x, y) = design();
    let m = params(Sampling::None).fit(&x, &y, None, None).unwrap();
    // Missing and infinite inputs at scoring time take the missing and >= branches.
    for i in (0..x.rows).step_by(5) {
        x.data[i] = f64::NAN;
    }
    x.data[3] = f64::INFINITY;
    x.data[x.rows + 4] = f64::NEG_INFINITY;
    let fast = m.contributions(&x);
    let reference = m.forust_contributions(&x);
    assert_eq!(fast.len(), reference.len());
    for (i, (a, b)) in fast.iter().zip(&reference).enumerate() {
        assert!((a - b).abs() < 1e-9, "value {i}: {a} vs {b}");
    }
}

#[test]
fn one_walk_gives_the_same_log_odds_bits_and_contributions() {
    let (mut x, y) = design();
    let m = params(Sampling::None).fit(&x, &y, None, None).unwrap();
    for i in (0..x.rows).step_by(7) {
        x.data[i] = f64::NAN;
    }
    let (logit, c) = m.decision_function_with_contributions(&x);
    // Bit for bit: scoring with and without reasons must rank alike.
    assert_eq!(logit, m.decision_function(&x));
    let with_bias = m.contributions(&x);
    assert_eq!(c.len(), x.rows * x.cols);
    for i in 0..x.rows {
        assert_eq!(
            &c[i * x.cols..(i + 1) * x.cols],
            &with_bias[i * (x.cols + 1)..i * (x.cols + 1) + x.cols],
            "row {i}"
        );
    }
}

#[test]
fn each_rows_contributions_equal_the_whole_matrix() {
    let (mut x, y) = design();
    let m = params(Sampling::None).fit(&x, &y, None, None).unwrap();
    for i in (0..x.rows).step_by(11) {
        x.data[i] = f64::NAN;
    }
    let (logit, whole) = m.decision_function_with_contributions(&x);
    let (each_logit, rows) =
        m.decision_function_with_each_contributions(&x, |i, c| (i, c.to_vec()));
    assert_eq!(each_logit, logit);
    assert_eq!(rows.len(), x.rows);
    for (i, (row, c)) in rows.iter().enumerate() {
        assert_eq!(*row, i, "rows come back in order");
        assert_eq!(
            c.as_slice(),
            &whole[i * x.cols..(i + 1) * x.cols],
            "row {i}"
        );
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    for p in [
        GbmParams {
            learning_rate: 0.0,
            ..GbmParams::default()
        },
        GbmParams {
            iterations: 0,
            ..GbmParams::default()
        },
        GbmParams {
            top_rate: 0.8,
            other_rate: 0.5,
            ..GbmParams::default()
        },
    ] {
        assert!(p.check().is_err());
    }
}
