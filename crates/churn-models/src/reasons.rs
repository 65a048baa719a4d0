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
        let mut out = String::with_capacity(self.feature.len() + self.value.len() + 12);
        self.push_label(&mut out);
        out
    }

    /// Appends [`Reason::label`] to `out` (scoring writes millions: no allocation here).
    pub fn push_label(&self, out: &mut String) {
        out.push_str(&self.feature);
        out.push('=');
        out.push_str(&self.value);
        out.push_str(" (+");
        push_fixed(out, self.contribution, 3);
        out.push(')');
    }
}

#[cfg(test)]
fn format_number(v: f64) -> String {
    let mut out = String::new();
    push_number(&mut out, v);
    out
}

/// Appends the decimal digits of `n`, zero-padded to at least `width` (at most 20) digits, as
/// `format!("{n:0width$}")` does, without the formatting machinery (millions of reason
/// labels hold two or three numbers each).
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    while n > 0 || buf.len() - at < width.clamp(1, buf.len()) {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&buf[at..]).expect("ASCII digits"));
}

/// Appends `v` with `decimals` digits after the point, exactly as `format!("{v:.decimals$}")`
/// (round half to even on the exact binary value) but without its arbitrary-precision path
/// for the usual case: `|v| · 10^decimals < 2^32`, where the scaled value is off by at most
/// 2.4e-7, so unless it lies within 1e-6 of a rounding tie, rounding it rounds `v`. Other
/// values take `format!`.
fn push_fixed(out: &mut String, v: f64, decimals: usize) {
    use std::fmt::Write;
    const SCALE: [f64; 5] = [1.0, 10.0, 100.0, 1e3, 1e4];
    if decimals < SCALE.len() && v.is_finite() {
        let scaled = v.abs() * SCALE[decimals];
        let whole = scaled.floor();
        let frac = scaled - whole;
        if scaled < 4_294_967_296.0 && (frac - 0.5).abs() > 1e-6 {
            let n = whole as u64 + u64::from(frac > 0.5);
            let unit = SCALE[decimals] as u64;
            if v.is_sign_negative() {
                out.push('-');
            }
            push_digits(out, n / unit, 1);
            if decimals > 0 {
                out.push('.');
                push_digits(out, n % unit, decimals);
            }
            return;
        }
    }
    let _ = write!(out, "{v:.decimals$}");
}

/// One reason of a row without its text: which feature, and its contribution to the
/// log-odds. [`ReasonCode::push_label`] writes the text, [`ReasonCode::reason`] makes a
/// [`Reason`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReasonCode {
    /// Index of the feature in the preprocessor's features.
    pub feature: usize,
    /// Its contribution to the log-odds (> 0).
    pub contribution: f64,
}

impl ReasonCode {
    /// Appends the feature's value in row `i` of `x`: the number, the category of a
    /// one-hot feature (`other` when none of its columns is set), or `missing`.
    pub fn push_value(&self, pre: &Preprocessor, x: &Design, i: usize, out: &mut String) {
        let spec = &pre.features[self.feature];
        let mut value: Option<(usize, f64)> = None;
        for j in pre.columns_of(self.feature) {
            let col = &pre.columns[j];
            let v = x.get(i, j);
            if col.category.is_none() || v == 1.0 {
                value = Some((j, v));
            }
        }
        match value {
            Some((j, v)) => match &pre.columns[j].category {
                Some(cat) => out.push_str(cat),
                None => push_number(out, v),
            },
            None => out.push_str(match spec.kind {
                FeatureKind::Categorical => "other",
                FeatureKind::Numeric => "missing",
            }),
        }
    }

    /// Appends `feature=value (+0.42)`, as written in reason columns, with no allocation.
    pub fn push_label(&self, pre: &Preprocessor, x: &Design, i: usize, out: &mut String) {
        out.push_str(&pre.features[self.feature].name);
        out.push('=');
        self.push_value(pre, x, i, out);
        out.push_str(" (+");
        push_fixed(out, self.contribution, 3);
        out.push(')');
    }

    /// The reason as owned text.
    pub fn reason(&self, pre: &Preprocessor, x: &Design, i: usize) -> Reason {
        let mut value = String::new();
        self.push_value(pre, x, i, &mut value);
        Reason {
            feature: pre.features[self.feature].name.clone(),
            value,
            contribution: self.contribution,
        }
    }
}

/// The top [`REASONS`] reasons of one row, largest first; fewer when fewer features raise
/// the risk. Plain data (no allocation), so scoring keeps one per row cheaply.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TopReasons {
    codes: [ReasonCode; REASONS],
    len: usize,
}

impl TopReasons {
    /// The reasons, largest first.
    pub fn as_slice(&self) -> &[ReasonCode] {
        &self.codes[..self.len]
    }

    /// The top reasons of a row from its per-column `contributions`.
    pub fn of(pre: &Preprocessor, contributions: &[f64]) -> Self {
        let mut top = Self::default();
        select_top(pre, contributions, REASONS, |rank, code| {
            top.codes[rank] = code;
            top.len = rank + 1;
        });
        top
    }
}

fn push_number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("missing");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact as an integer; integer formatting is far cheaper than `{:.0}`.
        if v < 0.0 {
            out.push('-');
        }
        push_digits(out, v.abs() as u64, 1);
    } else {
        push_fixed(out, v, 4);
    }
}

/// Calls `emit(rank, code)` for the `n` features whose contributions (the sums of their
/// design columns in `contributions`) are the largest positive ones, largest first, ties by
/// feature name: one pass over the columns, nothing allocated for usual widths.
fn select_top(
    pre: &Preprocessor,
    contributions: &[f64],
    n: usize,
    mut emit: impl FnMut(usize, ReasonCode),
) {
    if n == 0 {
        return;
    }
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
    let before = |a: usize, b: usize| {
        per_feature[a]
            .total_cmp(&per_feature[b])
            .reverse()
            .then_with(|| pre.features[a].name.cmp(&pre.features[b].name))
            .is_lt()
    };
    // The chosen features, best first, with room for one more before truncating.
    let mut stack_chosen = [0usize; REASONS + 1];
    let mut heap_chosen = Vec::new();
    let chosen: &mut [usize] = if n <= REASONS {
        &mut stack_chosen[..n + 1]
    } else {
        heap_chosen.resize(n + 1, 0);
        &mut heap_chosen
    };
    let mut len = 0;
    for (f, &sum) in per_feature.iter().enumerate() {
        if sum <= 0.0 || sum.is_nan() {
            continue;
        }
        if len == n && !before(f, chosen[len - 1]) {
            continue;
        }
        let at = chosen[..len].partition_point(|&c| before(c, f));
        chosen.copy_within(at..len, at + 1);
        chosen[at] = f;
        len = (len + 1).min(n);
    }
    for (rank, &f) in chosen[..len].iter().enumerate() {
        emit(
            rank,
            ReasonCode {
                feature: f,
                contribution: per_feature[f],
            },
        );
    }
}

/// The top `n` reasons of row `i`, from that row's per-column contributions. Only the
/// chosen features' values are formatted, so the cost per row is one pass over the columns.
pub fn top_reasons(
    pre: &Preprocessor,
    x: &Design,
    i: usize,
    contributions: &[f64],
    n: usize,
) -> Vec<Reason> {
    let mut out = Vec::with_capacity(n.min(REASONS));
    select_top(pre, contributions, n, |_, code| {
        out.push(code.reason(pre, x, i))
    });
    out
}

/// How much one feature moves the model's log-odds over a set of rows: the global view of
/// the same contributions the reasons come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature.
    pub feature: String,
    /// Mean absolute contribution to the log-odds (its one-hot columns summed per row).
    pub mean_abs_contribution: f64,
    /// Mean contribution (positive: it raises the risk on average).
    pub mean_contribution: f64,
    /// Share of the rows where it is one of the top [`REASONS`] reasons.
    pub reason_share: f64,
}

/// Every feature's importance over the rows of `x`, from their contributions (row-major,
/// `x.cols` per row, as [`crate::FittedModel::contributions`] gives them), most important
/// first (ties by name). Empty for no rows.
pub fn importance(pre: &Preprocessor, x: &Design, contributions: &[f64]) -> Vec<FeatureImportance> {
    let n = pre.features.len();
    if x.rows == 0 || x.cols == 0 {
        return Vec::new();
    }
    let (mut abs, mut sum, mut top) = (vec![0.0; n], vec![0.0; n], vec![0usize; n]);
    for row in contributions.chunks(x.cols) {
        for f in 0..n {
            let c: f64 = row[pre.columns_of(f)].iter().sum();
            abs[f] += c.abs();
            sum[f] += c;
        }
        select_top(pre, row, REASONS, |_, code| top[code.feature] += 1);
    }
    let rows = x.rows as f64;
    let mut out: Vec<FeatureImportance> = (0..n)
        .map(|f| FeatureImportance {
            feature: pre.features[f].name.clone(),
            mean_abs_contribution: abs[f] / rows,
            mean_contribution: sum[f] / rows,
            reason_share: top[f] as f64 / rows,
        })
        .collect();
    out.sort_by(|a, b| {
        b.mean_abs_contribution
            .total_cmp(&a.mean_abs_contribution)
            .then_with(|| a.feature.cmp(&b.feature))
    });
    out
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
            // The codes scoring keeps write the same labels as the reasons.
            if n == REASONS {
                let mut labels = Vec::new();
                for code in TopReasons::of(&pre, &contributions).as_slice() {
                    let mut label = String::new();
                    code.push_label(&pre, &x, 0, &mut label);
                    labels.push(label);
                }
                prop_assert_eq!(labels, got.iter().map(Reason::label).collect::<Vec<_>>());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fixed_decimals_equal_format(
            mantissa in -2_000_000_000i64..2_000_000_000,
            exponent in -9i32..7,
            decimals in 0usize..5,
            nudge in -2i64..3,
        ) {
            // Decimal-looking values (many exact ties such as 0.125 or 2.5) and their
            // neighbouring doubles.
            let v = mantissa as f64 * 10f64.powi(exponent);
            let v = f64::from_bits((v.to_bits() as i64 + nudge) as u64);
            let mut got = String::new();
            push_fixed(&mut got, v, decimals);
            prop_assert_eq!(got, format!("{v:.decimals$}"));
        }

        #[test]
        fn digits_and_integers_equal_format(
            n in proptest::num::u64::ANY,
            width in 0usize..=20,
            whole in -999_999_999_999_999i64..1_000_000_000_000_000,
        ) {
            let mut got = String::new();
            push_digits(&mut got, n, width);
            prop_assert_eq!(got, format!("{n:0width$}"));
            prop_assert_eq!(format_number(whole as f64), format!("{whole}"));
        }
    }

    #[test]
    fn fixed_decimals_known_cases() {
        for (v, d) in [
            (0.125, 2),
            (0.375, 2),
            (2.5, 0),
            (3.5, 0),
            (-0.00001, 4),
            (-0.0, 3),
            (0.00005, 4),
            (1.00005, 4),
            (429_496.729_55, 4),
            (1e20, 4),
            (f64::INFINITY, 3),
            (f64::NAN, 3),
            (123.456_789, 3),
        ] {
            let mut got = String::new();
            push_fixed(&mut got, v, d);
            assert_eq!(got, format!("{v:.d$}"), "{v} with {d} decimals");
        }
        let r = Reason {
            feature: "events_7d".into(),
            value: "3".into(),
            contribution: 0.41949,
        };
        assert_eq!(r.label(), "events_7d=3 (+0.419)");
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

    #[test]
    fn importance_is_the_mean_contribution_of_each_feature_its_columns_summed() {
        // Features f01 (index 0), f00 (index 1) and plan (three one-hot columns).
        let pre = preprocessor(2);
        let x = Design {
            rows: 2,
            cols: 5,
            data: vec![0.0; 10],
        };
        #[rustfmt::skip]
        let contributions = [
            // f01, f00, plan=basic, plan=pro, plan=team
            1.0, -3.0, 0.5, 0.0, 0.0,
            -1.0, 0.5, 0.0, 2.0, 0.0,
        ];
        let got = importance(&pre, &x, &contributions);
        let by_name = |n: &str| got.iter().find(|i| i.feature == n).unwrap().clone();
        // f00: |-3| and |0.5|; plan: 0.5 and 2; f01: 1 and 1.
        assert_eq!(
            got.iter().map(|i| i.feature.as_str()).collect::<Vec<_>>(),
            ["f00", "plan", "f01"]
        );
        assert_eq!(by_name("f00").mean_abs_contribution, 1.75);
        assert_eq!(by_name("f00").mean_contribution, -1.25);
        assert_eq!(by_name("plan").mean_contribution, 1.25);
        assert_eq!(by_name("f01").mean_contribution, 0.0);
        // Reasons: row 1 has f01 and plan, row 2 has plan and f00.
        assert_eq!(by_name("plan").reason_share, 1.0);
        assert_eq!(by_name("f01").reason_share, 0.5);
        assert_eq!(by_name("f00").reason_share, 0.5);
        assert!(
            importance(
                &pre,
                &Design {
                    rows: 0,
                    cols: 5,
                    data: vec![]
                },
                &[]
            )
            .is_empty()
        );
    }
}
