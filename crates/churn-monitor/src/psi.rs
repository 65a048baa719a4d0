//! The population stability index of one feature between a baseline and a current sample.
//!
//! Numeric features: interior bucket edges at the baseline's quantiles i/k (i = 1..k-1,
//! duplicate edges merged), so the buckets are `(-inf, e1), [e1, e2), ..., [e_last, +inf)`:
//! values below or above the baseline range fall into the outer buckets and are never
//! dropped. Missing values (null or NaN) have a bucket of their own. Categorical features
//! compare category shares; a category the baseline never saw has its own bucket. Shares
//! are floored at `floor` before PSI = Σ (a − e)·ln(a / e), so an empty bucket gives a large
//! but finite term.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A bucket before shares: label, lower and upper edge, baseline and current counts.
type RawBucket = (String, Option<f64>, Option<f64>, u64, u64);

/// PSI settings (defaults from DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PsiParams {
    /// Quantile buckets of numeric features.
    pub buckets: usize,
    /// Floor of every share.
    pub floor: f64,
    /// PSI at or above which a feature warns.
    pub warn: f64,
    /// PSI at or above which a feature fails.
    pub fail: f64,
}

impl Default for PsiParams {
    fn default() -> Self {
        Self {
            buckets: 10,
            floor: 1e-6,
            warn: 0.1,
            fail: 0.25,
        }
    }
}

impl PsiParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        if self.buckets < 2 {
            return Err(Error::Params(format!(
                "psi buckets must be at least 2 (got {})",
                self.buckets
            )));
        }
        if !(self.floor > 0.0 && self.floor < 0.01) {
            return Err(Error::Params(format!(
                "psi floor must be within (0, 0.01) (got {})",
                self.floor
            )));
        }
        if !(self.warn > 0.0 && self.warn < self.fail && self.fail.is_finite()) {
            return Err(Error::Params(format!(
                "psi thresholds must satisfy 0 < warn < fail (got {} and {})",
                self.warn, self.fail
            )));
        }
        Ok(())
    }

    /// The status of a PSI value.
    pub fn status(&self, psi: f64) -> Status {
        if psi >= self.fail {
            Status::Fail
        } else if psi >= self.warn {
            Status::Warn
        } else {
            Status::Ok
        }
    }
}

/// Drift status, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// PSI below the warning threshold.
    Ok,
    /// PSI at or above the warning threshold.
    Warn,
    /// PSI at or above the failure threshold.
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

impl Status {
    /// 0, 1, 2 (the Prometheus gauge value).
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }
}

/// One bucket of a PSI table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// `[lower, upper)`, `missing`, or the category.
    pub label: String,
    /// Lower edge (numeric buckets; `None` is −∞).
    pub lower: Option<f64>,
    /// Upper edge (numeric buckets; `None` is +∞).
    pub upper: Option<f64>,
    /// Baseline rows in the bucket.
    pub expected_count: u64,
    /// Current rows in the bucket.
    pub actual_count: u64,
    /// Baseline share (before the floor).
    pub expected: f64,
    /// Current share (before the floor).
    pub actual: f64,
    /// This bucket's term of the PSI.
    pub contribution: f64,
}

/// The PSI of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePsi {
    /// The feature.
    pub feature: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    /// The index (0 when a side is empty).
    pub psi: f64,
    /// OK, WARN or FAIL.
    pub status: Status,
    /// Baseline rows.
    pub baseline_rows: u64,
    /// Current rows.
    pub current_rows: u64,
    /// The buckets, so a person can see where the mass moved.
    pub buckets: Vec<Bucket>,
    /// Said when the result needs explaining (an empty side, a constant baseline).
    pub note: Option<String>,
}

/// Interior bucket edges from the baseline's non-missing values: the values at sorted
/// positions ⌊i·n/k⌋ for i = 1..k−1, duplicates merged, the smallest value left out (it
/// would make an empty first bucket). Uses selection, not a full sort.
pub fn numeric_edges(values: &mut [f64], buckets: usize) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let mut positions: Vec<usize> = (1..buckets).map(|i| i * n / buckets).collect();
    // Fewer values than buckets repeat positions; selection needs them distinct.
    positions.dedup();
    let mut edges = Vec::with_capacity(positions.len());
    select_positions(values, 0, &positions, &mut edges);
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    edges.retain(|&e| e > min);
    edges
}

/// Finds the order statistics at `positions` (sorted, relative to `offset`) by recursive
/// selection: O(n log k).
fn select_positions(values: &mut [f64], offset: usize, positions: &[usize], out: &mut Vec<f64>) {
    if positions.is_empty() || values.is_empty() {
        return;
    }
    let mid = positions.len() / 2;
    let at = positions[mid] - offset;
    let (left, nth, right) = values.select_nth_unstable_by(at, f64::total_cmp);
    out.push(*nth);
    select_positions(left, offset, &positions[..mid], out);
    select_positions(right, offset + at + 1, &positions[mid + 1..], out);
}

/// Baseline values that quantile edges are computed from, at most (every k-th beyond).
pub const EDGE_SAMPLE: usize = 200_000;

/// Counts of values per bucket, and missing values. A value's bucket is the number of
/// edges at or below it (a branch-free count over the few edges).
fn count(edges: &[f64], values: &[f64]) -> (Vec<u64>, u64) {
    let mut counts = vec![0u64; edges.len() + 1];
    let mut missing = 0u64;
    for &v in values {
        if v.is_nan() {
            missing += 1;
        } else {
            counts[edges.iter().map(|&e| usize::from(e <= v)).sum::<usize>()] += 1;
        }
    }
    (counts, missing)
}

/// The PSI of a numeric feature; missing values are NaN.
pub fn psi_numeric(feature: &str, baseline: &[f64], current: &[f64], p: &PsiParams) -> FeaturePsi {
    // Quantile edges from every value, or from every k-th row of a large baseline (the
    // counts and shares always use every value, so PSI is exact for the edges chosen).
    let stride = baseline.len().div_ceil(EDGE_SAMPLE).max(1);
    let mut sample: Vec<f64> = baseline
        .iter()
        .step_by(stride)
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    let (min, max) = sample
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let mut edges = numeric_edges(&mut sample, p.buckets);
    // When more than (k-1)/k of the values are the minimum, every quantile edge is the
    // minimum and none is left: split at the minimum instead (values at it, values above).
    // A constant sample also gets a bucket below its value, so any move shows.
    if edges.is_empty() && !sample.is_empty() {
        edges = if min == max {
            vec![min, min.next_up()]
        } else {
            vec![min.next_up()]
        };
    }
    let (e_counts, e_missing) = count(&edges, baseline);
    let (a_counts, a_missing) = count(&edges, current);
    let mut buckets: Vec<RawBucket> = (0..=edges.len())
        .map(|b| {
            let lower = b.checked_sub(1).map(|i| edges[i]);
            let upper = edges.get(b).copied();
            let label = format!(
                "[{}, {})",
                lower.map_or("-inf".into(), |v| v.to_string()),
                upper.map_or("+inf".into(), |v| v.to_string())
            );
            (label, lower, upper, e_counts[b], a_counts[b])
        })
        .collect();
    if e_missing + a_missing > 0 {
        buckets.push(("missing".into(), None, None, e_missing, a_missing));
    }
    let n_present = e_counts.iter().sum::<u64>();
    // Constant: every baseline value in the middle of the three buckets around one value.
    let constant = edges.len() == 2
        && edges[1] == edges[0].next_up()
        && n_present > 0
        && e_counts[1] == n_present;
    let note = if baseline.is_empty() || current.is_empty() {
        None
    } else if n_present == 0 {
        Some("every baseline value is missing".to_string())
    } else if constant {
        Some(format!(
            "the baseline is constant ({}): buckets below, at and above that value",
            edges[0]
        ))
    } else {
        None
    };
    finish(
        feature,
        "numeric",
        buckets,
        baseline.len() as u64,
        current.len() as u64,
        note,
        p,
    )
}

/// The PSI of a categorical feature; `None` is missing.
pub fn psi_categorical<'a>(
    feature: &str,
    baseline: impl IntoIterator<Item = Option<&'a str>>,
    current: impl IntoIterator<Item = Option<&'a str>>,
    p: &PsiParams,
) -> FeaturePsi {
    const MISSING: &str = "\u{0}missing";
    const UNSEEN: &str = "\u{0}unseen";
    let mut index = CategoryIndex::default();
    let (mut ne, mut na) = (0u64, 0u64);
    for v in baseline {
        index.count(v.unwrap_or(MISSING), true);
        ne += 1;
    }
    let seen = index.keys.len();
    for v in current {
        let key = match v {
            None => MISSING,
            Some(c) if index.find(c).is_some_and(|k| k < seen) => c,
            Some(_) => UNSEEN,
        };
        index.count(key, false);
        na += 1;
    }
    let mut counts: Vec<(&str, (u64, u64))> = index.keys.into_iter().zip(index.counts).collect();
    counts.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let buckets = counts
        .into_iter()
        .map(|(k, (e, a))| {
            let label = match k {
                MISSING => "missing".to_string(),
                UNSEEN => "(categories not in the baseline)".to_string(),
                c => c.to_string(),
            };
            (label, None, None, e, a)
        })
        .collect();
    finish(feature, "categorical", buckets, ne, na, None, p)
}

/// Category → counts; a linear scan while there are few categories (the usual case), a
/// hash map beyond.
#[derive(Default)]
struct CategoryIndex<'a> {
    keys: Vec<&'a str>,
    counts: Vec<(u64, u64)>,
    map: std::collections::HashMap<&'a str, usize>,
}

impl<'a> CategoryIndex<'a> {
    const LINEAR: usize = 32;

    fn find(&self, key: &str) -> Option<usize> {
        if self.keys.len() <= Self::LINEAR {
            self.keys.iter().position(|k| *k == key)
        } else {
            self.map.get(key).copied()
        }
    }

    fn count(&mut self, key: &'a str, baseline: bool) {
        let i = match self.find(key) {
            Some(i) => i,
            None => {
                self.keys.push(key);
                self.counts.push((0, 0));
                if self.keys.len() > Self::LINEAR {
                    if self.map.is_empty() {
                        self.map = self.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
                    } else {
                        self.map.insert(key, self.keys.len() - 1);
                    }
                }
                self.keys.len() - 1
            }
        };
        if baseline {
            self.counts[i].0 += 1;
        } else {
            self.counts[i].1 += 1;
        }
    }
}

fn finish(
    feature: &str,
    kind: &str,
    buckets: Vec<RawBucket>,
    ne: u64,
    na: u64,
    note: Option<String>,
    p: &PsiParams,
) -> FeaturePsi {
    let empty_note = match (ne, na) {
        (0, 0) => Some("both samples are empty: not compared (PSI 0, WARN)"),
        (0, _) => Some("the baseline is empty: not compared (PSI 0, WARN)"),
        (_, 0) => Some("the current sample is empty: not compared (PSI 0, WARN)"),
        _ => None,
    };
    let share = |c: u64, n: u64| if n == 0 { 0.0 } else { c as f64 / n as f64 };
    let buckets: Vec<Bucket> = buckets
        .into_iter()
        .map(|(label, lower, upper, e, a)| {
            let (es, as_) = (share(e, ne), share(a, na));
            let (ef, af) = (es.max(p.floor), as_.max(p.floor));
            Bucket {
                label,
                lower,
                upper,
                expected_count: e,
                actual_count: a,
                expected: es,
                actual: as_,
                contribution: if empty_note.is_some() {
                    0.0
                } else {
                    (af - ef) * (af / ef).ln()
                },
            }
        })
        .collect();
    let psi = buckets.iter().map(|b| b.contribution).sum::<f64>();
    FeaturePsi {
        feature: feature.to_string(),
        kind: kind.to_string(),
        psi,
        // Not compared is not OK: a monitor must not report health it did not check.
        status: if empty_note.is_some() {
            Status::Warn
        } else {
            p.status(psi)
        },
        baseline_rows: ne,
        current_rows: na,
        buckets,
        note: empty_note.map(String::from).or(note),
    }
}
