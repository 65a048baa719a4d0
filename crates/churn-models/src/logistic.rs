//! L2-regularized logistic regression with sample and class weights, solved by Newton's
//! method (IRLS) with a backtracking line search.
//!
//! The objective is scikit-learn's `LogisticRegression(penalty="l2", C=c)`:
//! `C · Σ wᵢ · logloss(yᵢ, xᵢ·β + b) + ½‖β‖²`, the intercept unpenalized, with
//! `class_weight="balanced"` giving class `k` the weight `n / (2 · n_k)`. Inputs are filled
//! (missing → `fill`) and standardized with the training mean and standard deviation; the
//! coefficients live in that standardized space, which is also what reason codes use
//! (coefficient × standardized value).
//!
//! Each iteration is one pass over the rows in blocks (gradient and Hessian together, the
//! blocks in parallel and summed in a fixed order, so results do not depend on the number
//! of threads), then a Cholesky solve of the small `(p+1)×(p+1)` system.

use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::preprocess::Design;

/// Rows per block of a pass: large enough for efficient matrix products, small enough to
/// stay in cache and to spread over cores.
const BLOCK_ROWS: usize = 8192;

/// Parameters of the logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticParams {
    /// Inverse regularization strength (scikit-learn's `C`).
    pub c: f64,
    /// Balanced class weights (`n / (2 · n_k)`), multiplied into any sample weights.
    pub balanced: bool,
    /// Stop when the largest gradient component is below `tol` times the total weight.
    pub tol: f64,
    /// Most Newton iterations.
    pub max_iter: usize,
    /// The value of a missing input before standardization.
    pub fill: f64,
    /// Rows the Hessian is computed on, at most. Beyond this the Hessian of an evenly
    /// spaced subset of row blocks (scaled up) steers Newton's method about as well as the
    /// full one, while the gradient, which decides convergence, is always exact: the
    /// solution is the same and the Hessian's cost (rows × columns²) stops growing.
    pub hessian_rows: usize,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            balanced: true,
            tol: 1e-10,
            max_iter: 100,
            fill: 0.0,
            hessian_rows: 1 << 20,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    /// Coefficients on the standardized inputs.
    pub coef: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// Training mean of each input (after filling).
    pub mean: Vec<f64>,
    /// Training standard deviation of each input (1 where it is 0).
    pub scale: Vec<f64>,
    /// The value of a missing input.
    pub fill: f64,
    /// Newton iterations used.
    pub iterations: usize,
    /// Largest gradient component at the solution, relative to the total weight.
    pub gradient_norm: f64,
}

impl LogisticParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if !(self.c > 0.0 && self.c.is_finite()) {
            return Err(Error::Params(format!(
                "logistic c must be > 0, got {}",
                self.c
            )));
        }
        if self.tol.is_nan() || self.tol <= 0.0 || self.max_iter == 0 || !self.fill.is_finite() {
            return Err(Error::Params(
                "logistic tol must be > 0, max_iter >= 1 and fill finite".into(),
            ));
        }
        Ok(())
    }

    /// The weight of every row: sample weights (1 when none) times balanced class weights.
    pub fn row_weights(&self, y: &[f64], sample_weight: Option<&[f64]>) -> Vec<f64> {
        row_weights(y, sample_weight, self.balanced)
    }

    /// Fits on a design matrix, labels in {0, 1} and optional sample weights.
    pub fn fit(
        &self,
        x: &Design,
        y: &[f64],
        sample_weight: Option<&[f64]>,
    ) -> Result<LogisticRegression> {
        self.check()?;
        check_labels("logistic regression", x.rows, y)?;
        if let Some(w) = sample_weight
            && (w.len() != y.len() || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)))
        {
            return Err(Error::Input(
                "sample weights must be one finite value >= 0 per row".into(),
            ));
        }
        let (mean, scale) = standardization(x, self.fill);
        let w = self.row_weights(y, sample_weight);
        let total_weight: f64 = w.iter().sum::<f64>() * self.c;
        let q = x.cols + 1;
        let blocks = x.rows.div_ceil(BLOCK_ROWS).max(1);
        let hess_every = x
            .rows
            .div_ceil(self.hessian_rows.max(BLOCK_ROWS))
            .clamp(1, blocks);
        let problem = Problem::new(x, (&mean, &scale, self.fill), (y, &w, self.c), hess_every);
        let pass = |beta: &Array1<f64>| problem.pass(beta);
        let mut beta = Array1::<f64>::zeros(q);
        let mut state = pass(&beta);
        let mut iterations = 0;
        let mut gradient_norm = max_abs(&state.grad) / total_weight;
        while gradient_norm > self.tol && iterations < self.max_iter {
            iterations += 1;
            let step = cholesky_solve(&state.hess, &state.grad).ok_or_else(|| Error::Fit {
                model: "logistic regression",
                message: "the Hessian is not positive definite".into(),
            })?;
            let slope = state.grad.dot(&step);
            // Close to the optimum the predicted decrease is below the rounding of the loss,
            // so a line search would judge noise: take the full Newton step, which is safe
            // there (quadratic convergence).
            if slope <= 1e-11 * state.loss.abs().max(1.0) {
                beta = &beta - &step;
                state = pass(&beta);
                gradient_norm = max_abs(&state.grad) / total_weight;
                continue;
            }
            let mut t: f64 = 1.0;
            let accepted = loop {
                let trial = &beta - &(&step * t);
                let next = pass(&trial);
                if next.loss <= state.loss - 1e-4 * t * slope {
                    beta = trial;
                    break Some(next);
                }
                t *= 0.5;
                if t < 1e-10 {
                    break None;
                }
            };
            match accepted {
                Some(next) => state = next,
                // No decrease is representable any more: the solution is as tight as
                // floating point allows.
                None => break,
            }
            gradient_norm = max_abs(&state.grad) / total_weight;
        }
        tracing::debug!(iterations, gradient_norm, "logistic regression converged");
        let p = q - 1;
        Ok(LogisticRegression {
            coef: beta.iter().take(p).copied().collect(),
            intercept: beta[p],
            mean,
            scale,
            fill: self.fill,
            iterations,
            gradient_norm,
        })
    }
}

/// Sample weights (1 when none), times `n / (2 · n_k)` for class k when `balanced`.
pub(crate) fn row_weights(y: &[f64], sample_weight: Option<&[f64]>, balanced: bool) -> Vec<f64> {
    let base = |i: usize| sample_weight.map_or(1.0, |w| w[i]);
    if !balanced {
        return (0..y.len()).map(base).collect();
    }
    let n = y.len() as f64;
    let pos = y.iter().filter(|&&v| v > 0.5).count() as f64;
    let (wp, wn) = (n / (2.0 * pos), n / (2.0 * (n - pos)));
    y.iter()
        .enumerate()
        .map(|(i, &v)| base(i) * if v > 0.5 { wp } else { wn })
        .collect()
}

pub(crate) fn check_labels(model: &'static str, rows: usize, y: &[f64]) -> Result<()> {
    if y.len() != rows {
        return Err(Error::Input(format!(
            "{model}: {} labels for {rows} rows",
            y.len()
        )));
    }
    if y.iter().any(|&v| v != 0.0 && v != 1.0) {
        return Err(Error::Input(format!("{model}: labels must be 0 or 1")));
    }
    let pos = y.iter().filter(|&&v| v == 1.0).count();
    if pos == 0 || pos == y.len() {
        return Err(Error::Input(format!(
            "{model}: the training rows have a single class ({pos} churners of {} rows); \
             use more users or days",
            y.len()
        )));
    }
    Ok(())
}

fn standardization(x: &Design, fill: f64) -> (Vec<f64>, Vec<f64>) {
    let n = x.rows.max(1) as f64;
    (0..x.cols)
        .map(|j| {
            let col = x.column(j);
            let value = |v: f64| if v.is_nan() { fill } else { v };
            let mean = col.iter().map(|&v| value(v)).sum::<f64>() / n;
            let var = col.iter().map(|&v| (value(v) - mean).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt();
            (mean, if sd > 1e-12 { sd } else { 1.0 })
        })
        .unzip()
}

struct PassState {
    loss: f64,
    grad: Array1<f64>,
    hess: Array2<f64>,
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The data of a fit, read in place: the column-major design is standardized on the fly,
/// block by block, instead of into a row-major copy (at 10M rows × 60 columns a copy is
/// 4.9 GB, and faulting its pages in cost more than the passes over it).
struct Problem<'a> {
    x: &'a Design,
    /// Per column the mean, 1 / standard deviation, and the standardized fill for missing:
    /// standardized = (value − mean) · inverse scale, centred first so that a large mean
    /// costs no precision.
    mean: &'a [f64],
    inv_scale: Vec<f64>,
    filled: Vec<f64>,
    y: &'a [f64],
    w: &'a [f64],
    c: f64,
    hess_every: usize,
}

impl<'a> Problem<'a> {
    fn new(
        x: &'a Design,
        (mean, scale, fill): (&'a [f64], &[f64], f64),
        (y, w, c): (&'a [f64], &'a [f64], f64),
        hess_every: usize,
    ) -> Self {
        let inv_scale: Vec<f64> = scale.iter().map(|s| 1.0 / s).collect();
        let filled = mean
            .iter()
            .zip(&inv_scale)
            .map(|(m, a)| (fill - m) * a)
            .collect();
        Self {
            x,
            mean,
            inv_scale,
            filled,
            y,
            w,
            c,
            hess_every,
        }
    }

    /// Column `j`'s standardized values of rows `start..end`, into `out`.
    #[inline(always)]
    fn standardized(&self, j: usize, start: usize, end: usize, out: &mut [f64]) {
        let (m, a, filled) = (self.mean[j], self.inv_scale[j], self.filled[j]);
        for (o, &v) in out.iter_mut().zip(&self.x.column(j)[start..end]) {
            *o = if v.is_nan() { filled } else { (v - m) * a };
        }
    }

    /// Loss, gradient and Hessian of the objective at `beta` (the last entry is the
    /// intercept); the Hessian from every `hess_every`-th block, scaled to all rows.
    fn pass(&self, beta: &Array1<f64>) -> PassState {
        let (rows, cols) = (self.x.rows, self.x.cols);
        let q = cols + 1;
        type Block = (f64, Array1<f64>, Option<(Array2<f64>, usize)>);
        let blocks: Vec<Block> = (0..rows.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|b| {
                let start = b * BLOCK_ROWS;
                let end = (start + BLOCK_ROWS).min(rows);
                let n = end - start;
                // The block's standardized columns, computed once for z, the gradient and
                // the Hessian (BLOCK_ROWS × cols values: cache-sized).
                let mut xs = vec![0.0; n * cols];
                for (j, col) in xs.chunks_mut(n.max(1)).enumerate().take(cols) {
                    self.standardized(j, start, end, col);
                }
                let column = |j: usize| &xs[j * n..(j + 1) * n];
                let mut z = vec![beta[cols]; n];
                for j in 0..cols {
                    let bj = beta[j];
                    for (zi, &v) in z.iter_mut().zip(column(j)) {
                        *zi += v * bj;
                    }
                }
                let mut loss = 0.0;
                let mut r = vec![0.0; n];
                let mut h = vec![0.0; n];
                for (i, &zi) in z.iter().enumerate() {
                    let (yi, wi) = (self.y[start + i], self.w[start + i] * self.c);
                    let p = sigmoid(zi);
                    loss += wi * (softplus(zi) - yi * zi);
                    r[i] = wi * (p - yi);
                    h[i] = (wi * p * (1.0 - p)).sqrt();
                }
                let mut grad = Array1::<f64>::zeros(q);
                for j in 0..cols {
                    grad[j] = dot(&r, column(j));
                }
                grad[cols] = r.iter().sum();
                let hess = (b % self.hess_every == 0).then(|| {
                    // Rows scaled by sqrt(weight · p · (1 − p)): H = SᵀS.
                    let mut scaled = Array2::<f64>::zeros((n, q));
                    for j in 0..cols {
                        for (i, (mut row, &v)) in scaled.outer_iter_mut().zip(column(j)).enumerate()
                        {
                            row[j] = v * h[i];
                        }
                    }
                    for (i, mut row) in scaled.outer_iter_mut().enumerate() {
                        row[cols] = h[i];
                    }
                    (scaled.t().dot(&scaled), n)
                });
                (loss, grad, hess)
            })
            .collect();
        let mut total = PassState {
            loss: 0.0,
            grad: Array1::zeros(q),
            hess: Array2::zeros((q, q)),
        };
        let mut hess_rows = 0;
        for (loss, grad, hess) in blocks {
            total.loss += loss;
            total.grad += &grad;
            if let Some((h, n)) = hess {
                total.hess += &h;
                hess_rows += n;
            }
        }
        if hess_rows > 0 && hess_rows < rows {
            total.hess *= rows as f64 / hess_rows as f64;
        }
        // The L2 penalty on every coefficient but the intercept.
        for j in 0..q - 1 {
            total.loss += 0.5 * beta[j] * beta[j];
            total.grad[j] += beta[j];
            total.hess[[j, j]] += 1.0;
        }
        total
    }
}

/// A dot product over four running sums (so it vectorizes), added in a fixed order.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn max_abs(v: &Array1<f64>) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Solves `a · x = b` for a symmetric positive definite `a`; `None` when it is not.
pub(crate) fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[[i, j]];
            for k in 0..j {
                sum -= l[[i, k]] * l[[j, k]];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[[i, i]] = sum.sqrt();
            } else {
                l[[i, j]] = sum / l[[j, j]];
            }
        }
    }
    let mut z = Array1::<f64>::zeros(n);
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[[i, k]] * z[k]).sum();
        z[i] = (b[i] - s) / l[[i, i]];
    }
    let mut x = Array1::<f64>::zeros(n);
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[[k, i]] * x[k]).sum();
        x[i] = (z[i] - s) / l[[i, i]];
    }
    Some(x)
}

impl LogisticRegression {
    fn standardized(&self, x: &Design, i: usize, j: usize) -> f64 {
        let v = x.get(i, j);
        let v = if v.is_nan() { self.fill } else { v };
        (v - self.mean[j]) / self.scale[j]
    }

    /// Checks that a design matrix has the fitted number of columns.
    fn check_width(&self, x: &Design) -> Result<()> {
        if x.cols != self.coef.len() {
            return Err(Error::Input(format!(
                "logistic regression fitted on {} columns, got {}",
                self.coef.len(),
                x.cols
            )));
        }
        Ok(())
    }

    /// The linear score (log-odds) of every row.
    pub fn decision_function(&self, x: &Design) -> Result<Vec<f64>> {
        self.check_width(x)?;
        let mut z = vec![self.intercept; x.rows];
        for j in 0..x.cols {
            let (coef, fill, mean, scale) = (self.coef[j], self.fill, self.mean[j], self.scale[j]);
            for (zi, &v) in z.iter_mut().zip(x.column(j)) {
                let v = if v.is_nan() { fill } else { v };
                *zi += coef * ((v - mean) / scale);
            }
        }
        Ok(z)
    }

    /// The probability of class 1 for every row.
    pub fn predict_proba(&self, x: &Design) -> Result<Vec<f64>> {
        Ok(self
            .decision_function(x)?
            .into_iter()
            .map(sigmoid)
            .collect())
    }

    /// Each column's contribution to row `i`'s log-odds: coefficient × standardized value.
    pub fn contributions(&self, x: &Design, i: usize) -> Vec<f64> {
        let mut out = vec![0.0; x.cols];
        self.contributions_into(x, i, &mut out);
        out
    }

    /// [`LogisticRegression::contributions`] written into `out` (`x.cols` values).
    pub fn contributions_into(&self, x: &Design, i: usize, out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = self.coef[j] * self.standardized(x, i, j);
        }
    }
}
