//! The retrain decision: retrain when drift FAILs, or when the realized PR-AUC of the
//! newest evaluated date is more than `max_pr_auc_drop` below the production model's test
//! PR-AUC. The reasons are kept with the decision, and so is whether the data holds
//! labelled dates the production model was not trained on: without them a retrain would
//! refit the same rows (and `churn retrain` fits nothing).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::drift::DriftReport;
use crate::psi::Status;
use crate::realized::RealizedReport;

/// A retrain decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainDecision {
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether to retrain.
    pub retrain: bool,
    /// Every reason, or why not.
    pub reasons: Vec<String>,
    /// Drift status considered.
    pub drift_status: Option<Status>,
    /// Features at FAIL.
    pub failing_features: Vec<String>,
    /// Realized PR-AUC of the newest evaluated date.
    pub realized_pr_auc: Option<f64>,
    /// The production model's test PR-AUC.
    pub production_pr_auc: Option<f64>,
    /// The allowed drop.
    pub max_pr_auc_drop: f64,
    /// The last date of the production model's training data.
    #[serde(default)]
    pub production_trained_until: Option<NaiveDate>,
    /// The newest date the data can label (its last date less the label window).
    #[serde(default)]
    pub newest_labelled_date: Option<NaiveDate>,
}

/// Decides from a drift report and realized outcomes (either may be missing), the
/// production model's test PR-AUC and the last date of its training data.
pub fn decide(
    drift: Option<&DriftReport>,
    realized: Option<&RealizedReport>,
    production_pr_auc: Option<f64>,
    production_trained_until: Option<NaiveDate>,
    max_pr_auc_drop: f64,
    now: DateTime<Utc>,
) -> RetrainDecision {
    let mut reasons = Vec::new();
    let mut retrain = false;
    let failing: Vec<String> = drift
        .map(|d| {
            d.features
                .iter()
                .filter(|f| f.status == Status::Fail)
                .map(|f| f.feature.clone())
                .collect()
        })
        .unwrap_or_default();
    match drift {
        Some(d) if d.status == Status::Fail => {
            retrain = true;
            reasons.push(format!(
                "drift FAIL on {} on {}: {}",
                if failing.len() == 1 {
                    "1 feature".to_string()
                } else {
                    format!("{} features", failing.len())
                },
                d.as_of_date,
                failing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Some(d) => reasons.push(format!("drift {} on {}", d.status, d.as_of_date)),
        None => reasons.push("no drift report".into()),
    }
    let latest = realized.and_then(RealizedReport::latest_evaluated);
    let realized_pr_auc = latest.and_then(|r| r.pr_auc);
    match (realized_pr_auc, production_pr_auc) {
        (Some(r), Some(p)) if p - r > max_pr_auc_drop => {
            retrain = true;
            reasons.push(format!(
                "realized pr_auc {r:.4} is {:.4} below the production model's {p:.4} (allowed {max_pr_auc_drop})",
                p - r
            ));
        }
        (Some(r), Some(p)) => reasons.push(format!(
            "realized pr_auc {r:.4} within {max_pr_auc_drop} of the production model's {p:.4}"
        )),
        (None, _) => reasons.push("no realized outcomes yet (no scored date has matured)".into()),
        (Some(_), None) => {
            reasons.push("the production model has no test pr_auc to compare with".into())
        }
    }
    let newest_labelled_date = realized.and_then(|r| {
        r.last_data_date
            .checked_sub_days(chrono::Days::new(u64::from(r.window)))
    });
    match (newest_labelled_date, production_trained_until) {
        (Some(newest), Some(until)) if newest <= until => reasons.push(format!(
            "no labelled date after the production model's training data (up to {until}; the \
             data labels dates up to {newest}): a retrain now would refit the same rows; it \
             needs newer data first"
        )),
        (Some(newest), Some(until)) => reasons.push(format!(
            "{} labelled date(s) after the production model's training data (up to {until}), \
             through {newest}",
            (newest - until).num_days()
        )),
        _ => {}
    }
    RetrainDecision {
        created_at: now,
        retrain,
        reasons,
        drift_status: drift.map(|d| d.status),
        failing_features: failing,
        realized_pr_auc,
        production_pr_auc,
        max_pr_auc_drop,
        production_trained_until,
        newest_labelled_date,
    }
}
