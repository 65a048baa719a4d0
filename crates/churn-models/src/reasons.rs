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
        // Exact as an integer; integer formatting is far cheaper than `{:.0}`.
        (v as i64).to_string()
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
    // Scoring calls this for every row: the sums live on the stack for usual widths.
    let mut stack = [0.0f64; 128];
    let mut heap = Vec::new();
    let per_feature: &mut [f64] = if pre.features.len() <= stack.len() {
        &mut stack[..pre.features.len()]
    } else {
        heap.resize(pre.features.len(), 0.0);
        &mut heap
    };
    for (col, c) in pre.columns.iter().zip(contributions) {
        per_feature[col.feature] += c;
    }
    // The n largest positive sums, largest first, ties by feature name: one pass.
    let before = |a: usize, b: usize| {
        per_feature[a]
            .total_cmp(&per_feature[b])
            .reverse()
            .then_with(|| pre.features[a].name.cmp(&pre.features[b].name))
            .is_lt()
    };
    let mut chosen: Vec<usize> = Vec::with_capacity(n + 1);
    for (f, &sum) in per_feature.iter().enumerate() {
        if sum <= 0.0 || sum.is_nan() {
            continue;
        }
        if chosen.len() == n && !chosen.last().is_some_and(|&last| before(f, last)) {
            continue;
        }
        let at = chosen.partition_point(|&c| before(c, f));
        chosen.insert(at, f);
        chosen.truncate(n);
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::preprocess::{DesignColumn, FeatureSpec};

    fn spec(name: String, kind: FeatureKind) -> FeatureSpec {
        FeatureSpec {
            name,
            arrow_type: "Float64".into(),
            nullable: true,
            kind,
            source_table: "features".into(),
            lookup_keys: vec![],
        }
    }

    /// Features 0..numeric are numeric (one column each); the last is categorical with
    /// three one-hot columns.
    fn preprocessor(numeric: usize) -> Preprocessor {
        let mut features: Vec<FeatureSpec> = (0..numeric)
            // Names in reverse index order, so name order is not index order.
            .map(|f| spec(format!("f{:02}", numeric - 1 - f), FeatureKind::Numeric))
            .collect();
        features.push(spec("plan".into(), FeatureKind::Categorical));
        let mut columns: Vec<DesignColumn> = (0..numeric)
            .map(|f| DesignColumn {
                name: features[f].name.clone(),
                feature: f,
                category: None,
            })
            .collect();
        for cat in ["basic", "pro", "team"] {
            columns.push(DesignColumn {
                name: format!("plan={cat}"),
                feature: numeric,
                category: Some(cat.into()),
            });
        }
        Preprocessor {
            features,
            columns,
            dropped: vec![],
            missing_category: "__missing__".into(),
        }
    }

    /// Sums per feature, keeps the positive ones, sorts them all: the definition.
    fn reference(pre: &Preprocessor, contributions: &[f64], n: usize) -> Vec<(String, f64)> {
        let mut sums = vec![0.0; pre.features.len()];
        for (col, c) in pre.columns.iter().zip(contributions) {
            sums[col.feature] += c;
        }
        let mut all: Vec<(String, f64)> = pre
            .features
            .iter()
            .zip(sums)
            .filter(|(_, s)| *s > 0.0)
            .map(|(f, s)| (f.name.clone(), s))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn top_reasons_are_the_largest_positive_sums_ties_by_name(
            numeric in 1usize..12,
            // Few distinct values, so ties are common.
            raw in proptest::collection::vec(-3i32..4, 15),
            n in 0usize..5,
            onehot in 0usize..3,
        ) {
            let pre = preprocessor(numeric);
            let cols = pre.columns.len();
            let contributions: Vec<f64> = raw.iter().cycle().take(cols).map(|&v| f64::from(v) * 0.5).collect();
            let mut data = vec![0.0; cols];
            for (j, v) in data.iter_mut().enumerate().take(numeric) {
                *v = j as f64 + 0.25;
            }
            data[numeric + onehot] = 1.0;
            let x = Design { rows: 1, cols, data };
            let got = top_reasons(&pre, &x, 0, &contributions, n);
            let want = reference(&pre, &contributions, n);
            prop_assert_eq!(
                got.iter().map(|r| (r.feature.clone(), r.contribution)).collect::<Vec<_>>(),
                want
            );
            for r in &got {
                let expected = if r.feature == "plan" {
                    ["basic", "pro", "team"][onehot].to_string()
                } else {
                    let f = pre.features.iter().position(|s| s.name == r.feature).unwrap();
                    format_number(f as f64 + 0.25)
                };
                prop_assert_eq!(&r.value, &expected);
            }
        }
    }

    #[test]
    fn numbers_format_as_integers_or_four_decimals() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-12.0), "-12");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(2.5), "2.5000");
        assert_eq!(format_number(f64::NAN), "missing");
        assert_eq!(format_number(1e20), "100000000000000000000.0000");
    }
}
