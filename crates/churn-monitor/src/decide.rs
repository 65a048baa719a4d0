//! The retrain decision: retrain when drift FAILs, or when the realized PR-AUC of the
//! newest evaluated date is more than `max_pr_auc_drop` below the production model's test
//! PR-AUC. The reasons are kept with the decision.

use chrono::{DateTime, Utc};
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
}

/// Decides from a drift report and realized outcomes (either may be missing).
pub fn decide(
    drift: Option<&DriftReport>,
    realized: Option<&RealizedReport>,
    production_pr_auc: Option<f64>,
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
    RetrainDecision {
        created_at: now,
        retrain,
        reasons,
        drift_status: drift.map(|d| d.status),
        failing_features: failing,
        realized_pr_auc,
        production_pr_auc,
        max_pr_auc_drop,
    }
}
