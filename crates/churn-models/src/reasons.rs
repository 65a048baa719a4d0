//! Reason codes: the features that raise a user's churn risk the most.
//!
//! A feature's contribution is the sum of its design columns' contributions to the
//! log-odds (coefficient × standardized value for the linear model, forust's
//! contributions for boosting); the one-hot columns of a categorical feature add up to one
//! reason. Only features that raise the risk (contribution > 0) are reasons, the largest
//! first, so a user with fewer such features has fewer reasons.

use serde::{Deserialize, Serialize};

use crate::preprocess::{Design, FeatureKind, Preprocessor};

/// Reasons reported per prediction.
pub const REASONS: usize = 3;

/// One reason for a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The feature.
    pub feature: String,
    /// Its value for this row (`missing` when missing; the category for a categorical).
    pub value: String,
    /// Its contribution to the log-odds.
    pub contribution: f64,
}

impl Reason {
    /// `feature=value (+0.42)`, as written in reason columns.
    pub fn label(&self) -> String {
        format!(
            "{}={} (+{:.3})",
            self.feature, self.value, self.contribution
        )
    }
}

fn format_number(v: f64) -> String {
    if v.is_nan() {
        "missing".to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// The top reasons of row `i`, from that row's per-column contributions. Only the chosen
/// features' values are formatted, so the cost per row is one pass over the columns.
pub fn top_reasons(
    pre: &Preprocessor,
    x: &Design,
    i: usize,
    contributions: &[f64],
    n: usize,
) -> Vec<Reason> {
    let mut per_feature = vec![0.0; pre.features.len()];
    for (col, c) in pre.columns.iter().zip(contributions) {
        per_feature[col.feature] += c;
    }
    let mut chosen: Vec<usize> = (0..per_feature.len())
        .filter(|&f| per_feature[f] > 0.0)
        .collect();
    chosen.sort_by(|&a, &b| {
        per_feature[b]
            .total_cmp(&per_feature[a])
            .then_with(|| pre.features[a].name.cmp(&pre.features[b].name))
    });
    chosen.truncate(n);
    chosen
        .into_iter()
        .map(|f| {
            let spec = &pre.features[f];
            let mut value = None;
            for (j, col) in pre
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.feature == f)
            {
                let v = x.get(i, j);
                match &col.category {
                    Some(cat) if v == 1.0 => value = Some(cat.clone()),
                    Some(_) => {}
                    None => value = Some(format_number(v)),
                }
            }
            Reason {
                feature: spec.name.clone(),
                value: value.unwrap_or_else(|| match spec.kind {
                    FeatureKind::Categorical => "other".to_string(),
                    FeatureKind::Numeric => "missing".to_string(),
                }),
                contribution: per_feature[f],
            }
        })
        .collect()
}
