//! The metrics promotion can compare, and which direction is better.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use churn_models::TrainReport;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A metric of a model's held-out test evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Average precision (higher is better).
    PrAuc,
    /// ROC AUC (higher is better).
    RocAuc,
    /// Mean log loss (lower is better).
    LogLoss,
    /// Brier score (lower is better).
    Brier,
}

impl Metric {
    /// The metric's name in reports and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::PrAuc => "pr_auc",
            Metric::RocAuc => "roc_auc",
            Metric::LogLoss => "log_loss",
            Metric::Brier => "brier",
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::PrAuc | Metric::RocAuc)
    }

    /// How much better `candidate` is than `incumbent` (positive when better).
    pub fn improvement(self, candidate: f64, incumbent: f64) -> f64 {
        if self.higher_is_better() {
            candidate - incumbent
        } else {
            incumbent - candidate
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pr_auc" | "average_precision" => Ok(Metric::PrAuc),
            "roc_auc" => Ok(Metric::RocAuc),
            "log_loss" => Ok(Metric::LogLoss),
            "brier" => Ok(Metric::Brier),
            _ => Err(Error::Metric(s.to_string())),
        }
    }
}

/// The test metrics of a training report, by name (a metric without a value, such as
/// PR-AUC on a test set without churners, is left out).
pub fn metrics_of(report: &TrainReport) -> BTreeMap<String, f64> {
    let t = &report.test;
    let mut out = BTreeMap::new();
    for (name, value) in [
        (Metric::PrAuc.as_str(), t.pr_auc),
        (Metric::RocAuc.as_str(), t.roc_auc),
        (Metric::LogLoss.as_str(), Some(t.log_loss)),
        (Metric::Brier.as_str(), Some(t.brier)),
        ("ece", Some(t.ece)),
        ("test_churn_rate", Some(t.churn_rate)),
    ] {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.insert(name.to_string(), v);
        }
    }
    for k in &t.top_k {
        let label = k.label.replace('%', "pct");
        out.insert(format!("precision_at_{label}"), k.precision);
        out.insert(format!("lift_at_{label}"), k.lift);
    }
    out
}
