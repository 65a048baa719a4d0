//! Classification metrics for churn scores: ranking (average precision, ROC AUC, precision
//! and lift at the top-K), probability quality (log loss, Brier score, expected calibration
//! error) and the thresholded report (confusion matrix, per-class precision/recall/F1).
//!
//! Conventions, chosen to match scikit-learn where it defines one:
//! - labels are 0/1 and scores any real numbers (probabilities for log loss, Brier, ECE);
//! - tied scores are one threshold: average precision is the step-wise
//!   `Σ (Rₙ − Rₙ₋₁) Pₙ` over distinct thresholds and ROC AUC is the trapezoid over them (a
//!   tie between a churner and a stayer counts one half);
//! - a metric that is undefined for the input (average precision without a churner, ROC AUC
//!   with a single class, anything on no rows) is an [`Error::Metric`], never NaN; in an
//!   [`Evaluation`] such a value is `null`;
//! - precision of a class nobody is predicted to be is 0 (scikit-learn's `zero_division=0`);
//! - ties at the top-K boundary keep the earlier row.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn check(metric: &'static str, y: &[f64], score: &[f64]) -> Result<()> {
    if y.is_empty() {
        return Err(Error::Metric {
            metric,
            reason: "no rows".into(),
        });
    }
    if y.len() != score.len() {
        return Err(Error::Metric {
            metric,
            reason: format!("{} labels but {} scores", y.len(), score.len()),
        });
    }
    if let Some(bad) = y.iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(Error::Metric {
            metric,
            reason: format!("labels must be 0 or 1, found {bad}"),
        });
    }
    if let Some(bad) = score.iter().find(|v| !v.is_finite()) {
        return Err(Error::Metric {
            metric,
            reason: format!("scores must be finite, found {bad}"),
        });
    }
    Ok(())
}

/// Cumulative (false positives, true positives) at each distinct score, highest first.
fn threshold_counts(y: &[f64], score: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let (mut fp, mut tp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if y[i] == 1.0 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_group = order.get(k + 1).is_none_or(|&j| score[j] != score[i]);
        if last_of_group {
            out.push((score[i], fp, tp));
        }
    }
    out
}

fn positives(y: &[f64]) -> f64 {
    y.iter().sum()
}

/// Average precision: the area under the step-wise precision-recall curve.
pub fn average_precision(y: &[f64], score: &[f64]) -> Result<f64> {
    check("average precision", y, score)?;
    let pos = positives(y);
    if pos == 0.0 {
        return Err(Error::Metric {
            metric: "average precision",
            reason: "no positive rows (recall is undefined)".into(),
        });
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (_, fp, tp) in threshold_counts(y, score) {
        let recall = tp / pos;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
    }
    Ok(ap)
}

/// Area under the ROC curve (ties count one half).
pub fn roc_auc(y: &[f64], score: &[f64]) -> Result<f64> {
    check("ROC AUC", y, score)?;
    let pos = positives(y);
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Err(Error::Metric {
            metric: "ROC AUC",
            reason: format!("needs both classes, the rows have only class {}", y[0]),
        });
    }
    let mut area = 0.0;
    let (mut prev_fp, mut prev_tp) = (0.0, 0.0);
    for (_, fp, tp) in threshold_counts(y, score) {
        area += (fp - prev_fp) * (tp + prev_tp) / 2.0;
        (prev_fp, prev_tp) = (fp, tp);
    }
    Ok(area / (pos * neg))
}

/// Mean log loss of probabilities, clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(y: &[f64], p: &[f64]) -> Result<f64> {
    check("log loss", y, p)?;
    let eps = 1e-15;
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&yi, &pi)| {
            let pi = pi.clamp(eps, 1.0 - eps);
            -(yi * pi.ln() + (1.0 - yi) * (1.0 - pi).ln())
        })
        .sum();
    Ok(total / y.len() as f64)
}

/// Mean squared difference between probability and label.
pub fn brier(y: &[f64], p: &[f64]) -> Result<f64> {
    check("Brier score", y, p)?;
    Ok(y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64)
}

/// Expected calibration error over `bins` equal-width probability bins:
/// `Σ (n_b / n) · |mean(p)_b − mean(y)_b|` (p = 1 falls in the last bin).
pub fn expected_calibration_error(y: &[f64], p: &[f64], bins: usize) -> Result<f64> {
    check("expected calibration error", y, p)?;
    let bins = bins.max(1);
    let mut count = vec![0.0; bins];
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    for (&yi, &pi) in y.iter().zip(p) {
        let b = ((pi.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        count[b] += 1.0;
        sum_p[b] += pi;
        sum_y[b] += yi;
    }
    let n = y.len() as f64;
    Ok((0..bins)
        .filter(|&b| count[b] > 0.0)
        .map(|b| (sum_p[b] - sum_y[b]).abs() / n)
        .sum())
}

/// Indices of the `k` highest scores (ties keep the earlier row).
pub fn top_k(score: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order.truncate(k.min(score.len()));
    order
}

/// Share of churners among the `k` highest scores (`k` capped at the number of rows).
pub fn precision_at_k(y: &[f64], score: &[f64], k: usize) -> Result<f64> {
    check("precision at K", y, score)?;
    if k == 0 {
        return Err(Error::Metric {
            metric: "precision at K",
            reason: "K must be at least 1".into(),
        });
    }
    let top = top_k(score, k);
    Ok(top.iter().map(|&i| y[i]).sum::<f64>() / top.len() as f64)
}

/// Counts at a threshold (`score >= threshold` predicts churn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Stayers predicted to stay.
    pub tn: u64,
    /// Stayers predicted to churn.
    pub fp: u64,
    /// Churners predicted to stay.
    pub fn_: u64,
    /// Churners predicted to churn.
    pub tp: u64,
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// Precision (0 when nobody is predicted to be in the class).
    pub precision: f64,
    /// Recall (0 when the class has no rows).
    pub recall: f64,
    /// Harmonic mean of the two (0 when both are 0).
    pub f1: f64,
    /// Rows of the class.
    pub support: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn class_report(tp: u64, fp: u64, fn_: u64) -> ClassReport {
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    ClassReport {
        precision,
        recall,
        f1,
        support: tp + fn_,
    }
}

/// The confusion matrix at a threshold.
pub fn confusion(y: &[f64], score: &[f64], threshold: f64) -> Confusion {
    let mut c = Confusion {
        tn: 0,
        fp: 0,
        fn_: 0,
        tp: 0,
    };
    for (&yi, &s) in y.iter().zip(score) {
        match (yi == 1.0, s >= threshold) {
            (false, false) => c.tn += 1,
            (false, true) => c.fp += 1,
            (true, false) => c.fn_ += 1,
            (true, true) => c.tp += 1,
        }
    }
    c
}

/// One point of the precision-recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Scores at or above this are predicted churn.
    pub threshold: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
}

/// The precision-recall curve at every distinct score (highest first), thinned to at most
/// `max_points` evenly spaced points, the last (recall 1) always kept.
pub fn pr_curve(y: &[f64], score: &[f64], max_points: usize) -> Result<Vec<PrPoint>> {
    check("precision-recall curve", y, score)?;
    let pos = positives(y).max(1.0);
    let full: Vec<PrPoint> = threshold_counts(y, score)
        .into_iter()
        .map(|(t, fp, tp)| PrPoint {
            threshold: t,
            precision: tp / (tp + fp),
            recall: tp / pos,
        })
        .collect();
    let max_points = max_points.max(2);
    if full.len() <= max_points {
        return Ok(full);
    }
    let last = full.len() - 1;
    Ok((0..max_points)
        .map(|k| full[k * last / (max_points - 1)])
        .collect())
}

/// Precision and lift among the highest-scored rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    /// How the K was chosen (`"50"`, `"5%"`).
    pub label: String,
    /// Rows taken.
    pub k: usize,
    /// Share of churners among them.
    pub precision: f64,
    /// Precision over the base churn rate.
    pub lift: f64,
}

/// Every metric of one set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows.
    pub rows: usize,
    /// Churners.
    pub positives: usize,
    /// Share of churners.
    pub churn_rate: f64,
    /// Average precision; `null` when the rows have no churner.
    pub pr_auc: Option<f64>,
    /// ROC AUC; `null` when the rows have a single class.
    pub roc_auc: Option<f64>,
    /// Mean log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error (10 bins).
    pub ece: f64,
    /// Confusion matrix at 0.5.
    pub confusion_at_0_5: Confusion,
    /// Class 0 (stays) at 0.5.
    pub class_0: ClassReport,
    /// Class 1 (churns) at 0.5.
    pub class_1: ClassReport,
    /// Precision and lift at the top-K and at the top 5%.
    pub top_k: Vec<TopK>,
    /// Up to 101 points of the precision-recall curve.
    pub pr_curve: Vec<PrPoint>,
}

/// Bins of the expected calibration error in reports.
pub const ECE_BINS: usize = 10;

/// Evaluates probabilities `p` against labels `y`, with precision and lift at `k` and at the
/// top 5% of rows.
pub fn evaluate(y: &[f64], p: &[f64], k: usize) -> Result<Evaluation> {
    check("evaluation", y, p)?;
    let positives = positives(y) as usize;
    let churn_rate = positives as f64 / y.len() as f64;
    let c = confusion(y, p, 0.5);
    let five_percent = ((y.len() as f64) * 0.05).ceil().max(1.0) as usize;
    let top_k = [(k.to_string(), k), ("5%".to_string(), five_percent)]
        .into_iter()
        .filter(|(_, k)| *k > 0)
        .map(|(label, k)| {
            let precision = precision_at_k(y, p, k)?;
            Ok(TopK {
                label,
                k: k.min(y.len()),
                precision,
                lift: if churn_rate > 0.0 {
                    precision / churn_rate
                } else {
                    0.0
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Evaluation {
        rows: y.len(),
        positives,
        churn_rate,
        pr_auc: average_precision(y, p).ok(),
        roc_auc: roc_auc(y, p).ok(),
        log_loss: log_loss(y, p)?,
        brier: brier(y, p)?,
        ece: expected_calibration_error(y, p, ECE_BINS)?,
        confusion_at_0_5: c,
        class_0: class_report(c.tn, c.fn_, c.fp),
        class_1: class_report(c.tp, c.fp, c.fn_),
        top_k,
        pr_curve: pr_curve(y, p, 101)?,
    })
}

/// The risk above which a user counts as high risk in score summaries (DESIGN.md stage 9).
pub const HIGH_RISK: f64 = 0.7;

/// The distribution of a set of scores: what score monitoring compares over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreStats {
    /// Scores summarised.
    pub rows: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The threshold of `high_risk_share`.
    pub high_risk_threshold: f64,
    /// Share of scores at or above the threshold.
    pub high_risk_share: f64,
}

impl ScoreStats {
    /// Summarises scores (non-finite values are ignored); `None` when there is none.
    /// Percentiles are the nearest-rank values of the sorted scores.
    pub fn of(scores: &[f64], high_risk_threshold: f64) -> Option<Self> {
        let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_unstable_by(f64::total_cmp);
        let n = s.len();
        let rank = |q: f64| s[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Self {
            rows: n,
            mean: s.iter().sum::<f64>() / n as f64,
            p50: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            high_risk_threshold,
            high_risk_share: s.iter().filter(|&&v| v >= high_risk_threshold).count() as f64
                / n as f64,
        })
    }
}
