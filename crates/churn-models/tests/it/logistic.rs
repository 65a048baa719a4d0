//! The weighted logistic regression: optimality, class weights, agreement with smartcore.

use churn_models::logistic::LogisticParams;
use churn_models::preprocess::Design;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// `n` rows of `p` standardized columns (mean 0, population sd 1) and labels from a known
/// logistic model; rare positives when `imbalanced`.
fn data(n: usize, p: usize, imbalanced: bool, seed: u64) -> (Design, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(n * p);
    for _ in 0..p {
        let col: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        data.extend(col.iter().map(|v| (v - mean) / sd));
    }
    let x = Design {
        rows: n,
        cols: p,
        data,
    };
    let offset = if imbalanced { -3.0 } else { 0.2 };
    let y = (0..n)
        .map(|i| {
            let z: f64 = offset
                + (0..p)
                    .map(|j| (j as f64 - 1.0) * 0.8 * x.get(i, j))
                    .sum::<f64>();
            f64::from(rng.random_range(0.0..1.0) < 1.0 / (1.0 + (-z).exp()))
        })
        .collect();
    (x, y)
}

#[test]
fn agrees_with_smartcore_when_all_weights_are_equal() {
    let (x, y) = data(600, 3, false, 1);
    let params = LogisticParams {
        balanced: false,
        c: 0.5,
        ..LogisticParams::default()
    };
    let ours = params.fit(&x, &y, None).unwrap();
    // smartcore minimizes Σ logloss + ½·α‖β‖², i.e. ours divided by C with α = 1 / C.
    let dense = DenseMatrix::new(x.rows, x.cols, x.data.clone(), true).unwrap();
    let labels: Vec<i32> = y.iter().map(|&v| v as i32).collect();
    let theirs = LogisticRegression::fit(
        &dense,
        &labels,
        LogisticRegressionParameters::default().with_alpha(1.0 / params.c),
    )
    .unwrap();
    for j in 0..x.cols {
        let b = *theirs.coefficients().get((0, j));
        assert!(
            (ours.coef[j] - b).abs() < 2e-3,
            "coef {j}: {} vs {b}",
            ours.coef[j]
        );
    }
    let b0 = *theirs.intercept().get((0, 0));
    assert!(
        (ours.intercept - b0).abs() < 2e-3,
        "{} vs {b0}",
        ours.intercept
    );
}

#[test]
fn the_weighted_solution_has_zero_gradient() {
    let (x, y) = data(2_000, 4, true, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let w: Vec<f64> = (0..x.rows).map(|_| rng.random_range(0.5..2.0)).collect();
    let params = LogisticParams::default();
    let m = params.fit(&x, &y, Some(&w)).unwrap();
    assert!(m.iterations < 30, "{} Newton iterations", m.iterations);
    // Gradient of C·Σ ωᵢ·logloss + ½‖β‖² computed here, independently of the solver.
    let omega = params.row_weights(&y, Some(&w));
    let z = m.decision_function(&x).unwrap();
    let mut g = m.coef.clone();
    let mut g0 = 0.0;
    for i in 0..x.rows {
        let r = params.c * omega[i] * (1.0 / (1.0 + (-z[i]).exp()) - y[i]);
        g0 += r;
        for (j, gj) in g.iter_mut().enumerate() {
            *gj += r * (x.get(i, j) - m.mean[j]) / m.scale[j];
        }
    }
    let total: f64 = omega.iter().sum();
    for v in g.iter().chain([&g0]) {
        assert!(v.abs() / total < 1e-9, "gradient {v}");
    }
}

#[test]
fn balanced_weights_give_each_class_half_the_total() {
    let y = [1.0, 0.0, 0.0, 0.0];
    let w = LogisticParams::default().row_weights(&y, None);
    assert_eq!(w, vec![2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
    // Balanced weights raise the predicted churn rate of a rare class towards one half.
    let (x, y) = data(3_000, 3, true, 4);
    let mean = |b: bool| {
        let p = LogisticParams {
            balanced: b,
            ..LogisticParams::default()
        }
        .fit(&x, &y, None)
        .unwrap()
        .predict_proba(&x)
        .unwrap();
        p.iter().sum::<f64>() / p.len() as f64
    };
    let rate = y.iter().sum::<f64>() / y.len() as f64;
    assert!(
        (mean(false) - rate).abs() < 0.01,
        "unweighted mean {} vs rate {rate}",
        mean(false)
    );
    assert!(mean(true) > 0.3);
}

#[test]
fn missing_values_take_the_fill_and_bad_input_is_an_error() {
    let x = Design {
        rows: 4,
        cols: 1,
        data: vec![f64::NAN, 1.0, 2.0, 3.0],
    };
    let y = [0.0, 0.0, 1.0, 1.0];
    let m = LogisticParams::default().fit(&x, &y, None).unwrap();
    assert!(
        (m.mean[0] - 1.5).abs() < 1e-12,
        "NaN counted as 0 in the mean"
    );
    let err = LogisticParams::default()
        .fit(&x, &[0.0; 4], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("single class"), "{err}");
    assert!(
        LogisticParams {
            c: 0.0,
            ..LogisticParams::default()
        }
        .check()
        .is_err()
    );
    assert!(
        LogisticParams::default()
            .fit(&x, &[0.0, 1.0], None)
            .is_err()
    );
}

#[test]
fn a_subsampled_hessian_reaches_the_same_solution() {
    let (x, y) = data(40_000, 3, true, 6);
    let full = LogisticParams::default().fit(&x, &y, None).unwrap();
    // Blocks are 8192 rows: the Hessian comes from every 5th block only.
    let sub = LogisticParams {
        hessian_rows: 8192,
        ..LogisticParams::default()
    }
    .fit(&x, &y, None)
    .unwrap();
    for (a, b) in full
        .coef
        .iter()
        .chain([&full.intercept])
        .zip(sub.coef.iter().chain([&sub.intercept]))
    {
        assert!((a - b).abs() < 1e-7, "{a} vs {b}");
    }
    assert!(sub.gradient_norm <= 1e-10);
}
