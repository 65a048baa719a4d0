//! Platt and isotonic calibration.

use churn_models::{CalibrationMethod, Calibrator};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn isotonic_pools_adjacent_violators() {
    // 0, 1, 0, 1: the middle pair pools to 0.5 at x = 2.5.
    let cal = CalibrationMethod::Isotonic
        .fit(&[1.0, 2.0, 3.0, 4.0], &[0.0, 1.0, 0.0, 1.0])
        .unwrap();
    assert_eq!(
        cal,
        Calibrator::Isotonic {
            x: vec![1.0, 2.5, 4.0],
            y: vec![0.0, 0.5, 1.0]
        }
    );
    assert_eq!(cal.apply(2.5), 0.5);
    assert_eq!(cal.apply(1.75), 0.25);
    assert_eq!(cal.apply(-5.0), 0.0);
    assert_eq!(cal.apply(9.0), 1.0);
}

#[test]
fn platt_recovers_a_known_curve() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let s: Vec<f64> = (0..20_000).map(|_| rng.random_range(-4.0..4.0)).collect();
    let y: Vec<f64> = s
        .iter()
        .map(|&v| f64::from(rng.random_range(0.0..1.0) < 1.0 / (1.0 + (-(0.5 * v - 1.0f64)).exp())))
        .collect();
    let Calibrator::Platt { a, b } = CalibrationMethod::Platt.fit(&s, &y).unwrap() else {
        panic!("not platt");
    };
    assert!(
        (a - 0.5).abs() < 0.05 && (b + 1.0).abs() < 0.08,
        "a {a} b {b}"
    );
}

#[test]
fn a_single_class_cannot_be_calibrated() {
    let err = CalibrationMethod::Platt
        .fit(&[0.1, 0.2], &[0.0, 0.0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("single class") && err.contains("calibration"),
        "{err}"
    );
    assert_eq!(
        CalibrationMethod::None.fit(&[0.1], &[0.0]).unwrap(),
        Calibrator::None
    );
}
