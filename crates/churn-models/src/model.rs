//! The model kinds behind one interface: raw log-odds and per-column contributions.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::forest::RandomForest;
use crate::gbm::GradientBoosting;
use crate::logistic::LogisticRegression;
use crate::preprocess::Design;

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ModelKind {
    /// Logistic regression (the baseline).
    #[serde(rename = "lr")]
    Logistic,
    /// Gradient boosting (forust-ml).
    #[serde(rename = "gbm")]
    Gbm,
    /// Random forest (smartcore trees).
    #[serde(rename = "rf")]
    Forest,
}

impl ModelKind {
    /// Every kind, in the order they are trained and reported.
    pub const ALL: [ModelKind; 3] = [ModelKind::Logistic, ModelKind::Gbm, ModelKind::Forest];

    /// The short name (`lr`, `gbm`, `rf`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Logistic => "lr",
            ModelKind::Gbm => "gbm",
            ModelKind::Forest => "rf",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lr" | "logistic" => Ok(ModelKind::Logistic),
            "gbm" | "boosting" => Ok(ModelKind::Gbm),
            "rf" | "forest" => Ok(ModelKind::Forest),
            other => Err(Error::Params(format!(
                "unknown model kind `{other}` (expected lr, gbm or rf)"
            ))),
        }
    }
}

/// A fitted model of any kind.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "fitted")]
pub enum FittedModel {
    /// Logistic regression.
    #[serde(rename = "lr")]
    Logistic(LogisticRegression),
    /// Gradient boosting.
    #[serde(rename = "gbm")]
    Gbm(Box<GradientBoosting>),
    /// Random forest.
    #[serde(rename = "rf")]
    Forest(RandomForest),
}

/// Vote shares are clamped this far from 0 and 1 before taking log-odds.
const VOTE_EPS: f64 = 1e-4;

impl FittedModel {
    /// The kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            FittedModel::Logistic(_) => ModelKind::Logistic,
            FittedModel::Gbm(_) => ModelKind::Gbm,
            FittedModel::Forest(_) => ModelKind::Forest,
        }
    }

    /// Uncalibrated log-odds of churn for every row (for the forest, of its vote share).
    pub fn raw_logit(&self, x: &Design) -> Result<Vec<f64>> {
        match self {
            FittedModel::Logistic(m) => m.decision_function(x),
            FittedModel::Gbm(m) => Ok(m.as_ref().decision_function(x)),
            FittedModel::Forest(m) => Ok(m
                .predict_votes(x)?
                .into_iter()
                .map(|v| {
                    let v = v.clamp(VOTE_EPS, 1.0 - VOTE_EPS);
                    (v / (1.0 - v)).ln()
                })
                .collect()),
        }
    }

    /// Each design column's contribution to each row's log-odds (row-major, `x.cols` per
    /// row), or `None` for a model without them (the forest).
    pub fn contributions(&self, x: &Design) -> Option<Vec<f64>> {
        match self {
            FittedModel::Logistic(m) => Some(logistic_contributions(m, x)),
            FittedModel::Gbm(m) => Some(m.decision_function_with_contributions(x).1),
            FittedModel::Forest(_) => None,
        }
    }

    /// [`FittedModel::raw_logit`] and `per_row(row, contributions)` for every row, in row
    /// order (`None` for a model without contributions, the forest). Each row's
    /// contributions (`x.cols` values) exist only while `per_row` reads them, so scoring
    /// with reasons holds a few values per row, not a rows × columns matrix.
    pub fn raw_logit_with_each_contributions<R, F>(
        &self,
        x: &Design,
        per_row: F,
    ) -> Result<(Vec<f64>, Option<Vec<R>>)>
    where
        R: Send,
        F: Fn(usize, &[f64]) -> R + Sync,
    {
        match self {
            FittedModel::Gbm(m) => {
                let (logit, each) = m.decision_function_with_each_contributions(x, per_row);
                Ok((logit, Some(each)))
            }
            FittedModel::Logistic(m) => {
                let each = (0..x.rows)
                    .into_par_iter()
                    .map_init(
                        || vec![0.0; x.cols],
                        |row, i| {
                            m.contributions_into(x, i, row);
                            per_row(i, row)
                        },
                    )
                    .collect();
                Ok((self.raw_logit(x)?, Some(each)))
            }
            FittedModel::Forest(_) => Ok((self.raw_logit(x)?, None)),
        }
    }
}

/// The logistic regression's contributions, `x.cols` per row.
fn logistic_contributions(m: &LogisticRegression, x: &Design) -> Vec<f64> {
    let mut out = vec![0.0; x.rows * x.cols];
    out.par_chunks_mut(x.cols.max(1))
        .enumerate()
        .for_each(|(i, row)| m.contributions_into(x, i, row));
    out
}
