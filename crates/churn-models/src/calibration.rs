//! Probability calibration: maps a model's raw log-odds to a probability that means what it
//! says (of users scored 0.7, about 70% churn).
//!
//! Balanced class weights and boosting both distort probabilities, and downstream rules use
//! thresholds, so churn_risk is always a calibrated probability. The calibrator is fitted on
//! rows the model did not train on: the last dates of the training period.
//!
//! - Platt: `p = σ(a·s + b)` on the raw log-odds `s`, fitted by Newton's method on Platt's
//!   smoothed targets (`(N₊ + 1)/(N₊ + 2)` and `1/(N₋ + 2)`), as scikit-learn's
//!   `CalibratedClassifierCV(method="sigmoid")`.
//! - Isotonic: the non-decreasing step function of least squared error (pool adjacent
//!   violators), interpolated linearly between block centres and clipped at the ends.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logistic::{cholesky_solve, sigmoid};

/// How raw scores become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// The model's own probability.
    None,
    /// A logistic curve on the log-odds.
    Platt,
    /// A monotone step function.
    Isotonic,
}

/// A fitted calibration map from log-odds to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    /// `σ(s)`.
    None,
    /// `σ(a·s + b)`.
    Platt {
        /// Slope.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// Piecewise-linear through `(x, y)`, clipped outside.
    Isotonic {
        /// Increasing log-odds knots.
        x: Vec<f64>,
        /// Non-decreasing probabilities at the knots.
        y: Vec<f64>,
    },
}

impl CalibrationMethod {
    /// Fits the calibration map on raw log-odds and 0/1 labels.
    pub fn fit(self, logit: &[f64], y: &[f64]) -> Result<Calibrator> {
        if self != CalibrationMethod::None {
            if logit.len() != y.len() || logit.is_empty() {
                return Err(Error::Input(format!(
                    "calibration needs one label per score and at least one row, got {} scores and {} labels",
                    logit.len(),
                    y.len()
                )));
            }
            let pos = y.iter().filter(|&&v| v == 1.0).count();
            if pos == 0 || pos == y.len() {
                return Err(Error::Input(format!(
                    "the calibration rows (the last training dates) have a single class \
                     ({pos} churners of {} rows); use more data, a larger \
                     train.calibration_size, or train.calibration = \"none\"",
                    y.len()
                )));
            }
        }
        Ok(match self {
            CalibrationMethod::None => Calibrator::None,
            CalibrationMethod::Platt => platt(logit, y),
            CalibrationMethod::Isotonic => isotonic(logit, y),
        })
    }
}

fn platt(s: &[f64], y: &[f64]) -> Calibrator {
    let pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let neg = y.len() as f64 - pos;
    let hi = (pos + 1.0) / (pos + 2.0);
    let lo = 1.0 / (neg + 2.0);
    let t: Vec<f64> = y.iter().map(|&v| if v == 1.0 { hi } else { lo }).collect();
    let loss = |a: f64, b: f64| -> f64 {
        s.iter()
            .zip(&t)
            .map(|(&si, &ti)| {
                let z = a * si + b;
                // t·(−log σ(z)) + (1−t)·(−log(1−σ(z))) = softplus(z) − t·z
                z.max(0.0) + (-z.abs()).exp().ln_1p() - ti * z
            })
            .sum()
    };
    let (mut a, mut b) = (1.0, 0.0);
    let mut f = loss(a, b);
    for _ in 0..100 {
        let mut g = Array1::<f64>::zeros(2);
        let mut h = Array2::<f64>::zeros((2, 2));
        for (&si, &ti) in s.iter().zip(&t) {
            let p = sigmoid(a * si + b);
            let r = p - ti;
            let w = (p * (1.0 - p)).max(1e-12);
            g[0] += r * si;
            g[1] += r;
            h[[0, 0]] += w * si * si;
            h[[0, 1]] += w * si;
            h[[1, 1]] += w;
        }
        h[[1, 0]] = h[[0, 1]];
        h[[0, 0]] += 1e-12;
        h[[1, 1]] += 1e-12;
        let Some(step) = cholesky_solve(&h, &g) else {
            break;
        };
        let mut t_step = 1.0;
        let mut improved = false;
        while t_step > 1e-10 {
            let (na, nb) = (a - t_step * step[0], b - t_step * step[1]);
            let nf = loss(na, nb);
            if nf < f {
                (a, b, f, improved) = (na, nb, nf, true);
                break;
            }
            t_step *= 0.5;
        }
        if !improved || g.iter().all(|v| v.abs() < 1e-10 * y.len() as f64) {
            break;
        }
    }
    Calibrator::Platt { a, b }
}

fn isotonic(s: &[f64], y: &[f64]) -> Calibrator {
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&i, &j| s[i].total_cmp(&s[j]));
    // Blocks of (sum of x, sum of y, weight); equal scores start in one block.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for &i in &order {
        match blocks.last_mut() {
            Some(last) if last.0 / last.2 == s[i] => {
                last.1 += y[i];
                last.2 += 1.0;
                last.0 += s[i];
            }
            _ => blocks.push((s[i], y[i], 1.0)),
        }
        while blocks.len() > 1 {
            let n = blocks.len();
            let (prev, last) = (blocks[n - 2], blocks[n - 1]);
            if prev.1 / prev.2 <= last.1 / last.2 {
                break;
            }
            blocks[n - 2] = (prev.0 + last.0, prev.1 + last.1, prev.2 + last.2);
            blocks.pop();
        }
    }
    let x = blocks.iter().map(|b| b.0 / b.2).collect();
    let y = blocks.iter().map(|b| b.1 / b.2).collect();
    Calibrator::Isotonic { x, y }
}

impl Calibrator {
    /// The calibrated probability of a raw log-odds score.
    pub fn apply(&self, logit: f64) -> f64 {
        match self {
            Calibrator::None => sigmoid(logit),
            Calibrator::Platt { a, b } => sigmoid(a * logit + b),
            Calibrator::Isotonic { x, y } => {
                let k = x.partition_point(|&v| v < logit);
                if k == 0 {
                    y[0]
                } else if k == x.len() {
                    y[x.len() - 1]
                } else {
                    let (x0, x1, y0, y1) = (x[k - 1], x[k], y[k - 1], y[k]);
                    y0 + (y1 - y0) * (logit - x0) / (x1 - x0)
                }
            }
        }
    }

    /// Calibrated probabilities of many scores.
    pub fn apply_all(&self, logit: &[f64]) -> Vec<f64> {
        logit.iter().map(|&s| self.apply(s)).collect()
    }
}
