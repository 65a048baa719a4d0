//! Training: the time split, the calibration period, the snapshot stride, fitting each model
//! kind, calibrating, evaluating and assembling the artifact.
//!
//! Rows are split on as_of_date (never at random, [`churn_labels::test_mask`]): the last
//! `test_size` of dates are the test set. Within the training part, the last
//! `calibration_size` of dates are held out to fit the calibration (and to stop boosting
//! early, when asked); the model is fitted on the dates before them. Consecutive days of
//! one user are near-duplicates, so `train_stride_days = k` keeps every k-th day of each
//! user for fitting, from a per-user offset drawn from the seed.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use churn_data::clock::Clock;
use churn_data::config::TrainConfig;
use churn_data::days::date_saturating;
use churn_data::hash::Fnv1a;
use churn_data::schema::{labels, user_daily as ud};
use churn_labels::Split;
use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};

use crate::artifact::{FORMAT_VERSION, ModelArtifact, RowCounts, TrainingWindow};
use crate::calibration::{CalibrationMethod, Calibrator};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::forest::ForestParams;
use crate::gbm::{GbmParams, Sampling};
use crate::logistic::{LogisticParams, sigmoid};
use crate::metrics::{
    ECE_BINS, Evaluation, HIGH_RISK, ScoreStats, brier, evaluate, expected_calibration_error,
    log_loss,
};
use crate::model::{FittedModel, ModelKind};
use crate::preprocess::{Design, PreprocessParams, Preprocessor};
use crate::reasons::{FeatureImportance, importance};

/// Everything training needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    /// Share of the latest dates held out as the test set.
    pub test_size: f64,
    /// Training dates within this many days of the cutoff are left out of fitting and
    /// calibration (0 = none). A training row's label looks `labels.window` days ahead, so
    /// without a gap the last training rows' labels are read from the test period; a gap of
    /// the label window makes the test score what the model would have scored at the time.
    /// Ignored by the row split of tables with fewer than 5 dates.
    pub gap_days: u32,
    /// How raw scores become probabilities.
    pub calibration: CalibrationMethod,
    /// Share of the latest training dates the calibration is fitted on.
    pub calibration_size: f64,
    /// Keep every k-th day of each user for fitting (1 = every day).
    pub train_stride_days: u32,
    /// Cap on the fitting rows: the stride grows until they fit (0 = no cap).
    pub max_fit_rows: u64,
    /// Cap on the calibration and test rows: beyond it a seeded share of users is kept
    /// (0 = no cap).
    pub max_eval_rows: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// K of precision and lift at the top-K.
    pub top_k: usize,
    /// Feature selection and encoding.
    pub preprocess: PreprocessParams,
    /// The logistic regression.
    pub logistic: LogisticParams,
    /// Gradient boosting.
    pub gbm: GbmParams,
    /// The random forest.
    pub forest: ForestParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            test_size: 0.2,
            gap_days: 0,
            calibration: CalibrationMethod::Platt,
            calibration_size: 0.2,
            train_stride_days: 1,
            max_fit_rows: 500_000,
            max_eval_rows: 1_000_000,
            seed: 42,
            top_k: 50,
            preprocess: PreprocessParams::default(),
            logistic: LogisticParams::default(),
            gbm: GbmParams::default(),
            forest: ForestParams::default(),
        }
    }
}

impl TrainParams {
    /// The parameters of a `[train]` configuration section.
    pub fn from_config(c: &TrainConfig) -> Result<Self> {
        let calibration = match c.calibration.as_str() {
            "platt" | "sigmoid" => CalibrationMethod::Platt,
            "isotonic" => CalibrationMethod::Isotonic,
            "none" => CalibrationMethod::None,
            other => {
                return Err(Error::Params(format!(
                    "train.calibration = `{other}` (expected platt, isotonic or none)"
                )));
            }
        };
        let sampling = match c.gbm_sampling.as_str() {
            "goss" => Sampling::Goss,
            "none" => Sampling::None,
            other => {
                return Err(Error::Params(format!(
                    "train.gbm_sampling = `{other}` (expected goss or none)"
                )));
            }
        };
        let d = TrainParams::default();
        let params = TrainParams {
            test_size: c.test_size,
            gap_days: c.gap_days,
            calibration,
            calibration_size: c.calibration_size,
            train_stride_days: c.train_stride_days,
            max_fit_rows: c.max_fit_rows,
            max_eval_rows: c.max_eval_rows,
            seed: c.seed,
            top_k: c.top_k,
            preprocess: PreprocessParams {
                exclude: c.exclude_features.clone(),
                numeric_fill: c.numeric_fill,
                ..d.preprocess
            },
            logistic: LogisticParams {
                c: c.logreg_c,
                balanced: c.balanced_class_weight,
                fill: c.numeric_fill,
                ..d.logistic
            },
            gbm: GbmParams {
                learning_rate: c.gbm_learning_rate,
                max_depth: c.gbm_max_depth as usize,
                iterations: c.gbm_iterations as usize,
                max_leaves: c.gbm_max_leaves as usize,
                min_leaf_weight: c.gbm_min_leaf_weight,
                l2: c.gbm_l2,
                sampling,
                early_stopping_rounds: c.gbm_early_stopping_rounds.map(|r| r as usize),
                seed: c.seed,
                ..d.gbm
            },
            forest: ForestParams {
                trees: c.rf_trees as usize,
                max_depth: c.rf_max_depth,
                fill: c.numeric_fill,
                seed: c.seed,
                ..d.forest
            },
        };
        params.check()?;
        Ok(params)
    }

    /// Checks every part.
    pub fn check(&self) -> Result<()> {
        if !(0.0 < self.test_size && self.test_size < 1.0) {
            return Err(Error::Params(format!(
                "test_size must be in (0, 1), got {}",
                self.test_size
            )));
        }
        if !(0.0 < self.calibration_size && self.calibration_size < 1.0) {
            return Err(Error::Params(format!(
                "calibration_size must be in (0, 1), got {}",
                self.calibration_size
            )));
        }
        if self.train_stride_days == 0 || self.top_k == 0 {
            return Err(Error::Params(
                "train_stride_days and top_k must be at least 1".into(),
            ));
        }
        self.preprocess.check()?;
        self.logistic.check()?;
        self.gbm.check()?;
        self.forest.check()
    }

    fn model_params(&self, kind: ModelKind) -> serde_json::Value {
        let model = match kind {
            ModelKind::Logistic => serde_json::to_value(&self.logistic),
            ModelKind::Gbm => serde_json::to_value(&self.gbm),
            ModelKind::Forest => serde_json::to_value(&self.forest),
        }
        .unwrap_or(serde_json::Value::Null);
        serde_json::json!({
            "model": model,
            "test_size": self.test_size,
            "gap_days": self.gap_days,
            "calibration": self.calibration,
            "calibration_size": self.calibration_size,
            "train_stride_days": self.train_stride_days,
            "seed": self.seed,
            "preprocess": self.preprocess,
        })
    }
}

/// A training table in memory: the batches and the key and label columns.
#[derive(Debug)]
pub struct TrainingData {
    batches: Vec<RecordBatch>,
    dates: Vec<i32>,
    user_ids: Vec<String>,
    y: Vec<f64>,
    fingerprint: String,
}

impl TrainingData {
    /// Reads the keys and the label of a training table (features + `churn_label`).
    pub fn from_batches(batches: Vec<RecordBatch>) -> Result<Self> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Err(Error::Input(
                "the training set has no rows; run `churn trainset` on more data".into(),
            ));
        }
        let mut dates = Vec::with_capacity(rows);
        let mut user_ids = Vec::with_capacity(rows);
        let mut y = Vec::with_capacity(rows);
        for batch in &batches {
            let get = |name: &str, to: &DataType| -> Result<arrow::array::ArrayRef> {
                let col = batch.column_by_name(name).ok_or_else(|| {
                    Error::schema(name, "missing from the training set (run `churn trainset`)")
                })?;
                if col.null_count() > 0 {
                    return Err(Error::schema(
                        name,
                        "has missing values in the training set",
                    ));
                }
                cast(col, to).map_err(|e| Error::arrow(format!("column `{name}`"), e))
            };
            let d = get(ud::AS_OF_DATE, &DataType::Date32)?;
            dates.extend(d.as_primitive::<Date32Type>().values().iter());
            let u = get(ud::USER_ID, &DataType::Utf8)?;
            user_ids.extend(
                u.as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or("").to_string()),
            );
            let l = get(labels::CHURN_LABEL, &DataType::Float64)?;
            let l = l.as_primitive::<Float64Type>();
            if let Some(bad) = l.values().iter().find(|&&v| v != 0.0 && v != 1.0) {
                return Err(Error::schema(
                    labels::CHURN_LABEL,
                    format!("must be 0 or 1, found {bad}"),
                ));
            }
            y.extend(l.values().iter());
        }
        let churners = y.iter().filter(|&&v| v == 1.0).count();
        if churners == 0 || churners == y.len() {
            return Err(Error::schema(
                labels::CHURN_LABEL,
                format!(
                    "has a single class ({} on all {} rows): a model needs churners and stayers; \
                     use more users or days, or check the labels window",
                    if churners == 0 { 0 } else { 1 },
                    y.len()
                ),
            ));
        }
        let fingerprint = Fingerprint::of_batches(&batches);
        Ok(Self {
            batches,
            dates,
            user_ids,
            y,
            fingerprint,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// The fingerprint of the table.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Brier score and ECE of the test rows before and after calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The method.
    pub method: CalibrationMethod,
    /// Rows the calibration was fitted on.
    pub rows: usize,
    /// Test Brier score of the model's own probabilities.
    pub brier_before: f64,
    /// Test Brier score after calibration.
    pub brier_after: f64,
    /// Test ECE of the model's own probabilities.
    pub ece_before: f64,
    /// Test ECE after calibration.
    pub ece_after: f64,
    /// Test log loss of the model's own probabilities.
    pub log_loss_before: f64,
}

/// What one training run measured: written to artifacts/metrics and kept in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Model name.
    pub model: String,
    /// Model kind.
    pub kind: ModelKind,
    /// Every metric on the test rows, from calibrated probabilities.
    pub test: Evaluation,
    /// Calibration effect on the test rows.
    pub calibration: CalibrationReport,
    /// Rows in each part.
    pub rows: RowCounts,
    /// Churn rate of the rows the model was fitted on.
    pub fit_churn_rate: f64,
    /// The calibrated scores of the test rows: the baseline of score monitoring.
    #[serde(default)]
    pub test_scores: Option<ScoreStats>,
    /// Churn rate of the test rows.
    pub test_churn_rate: f64,
    /// Seconds spent fitting the model (calibration and evaluation excluded).
    pub fit_seconds: f64,
    /// Columns of the design matrix.
    pub design_columns: usize,
    /// Features dropped because they were constant on the fitting rows.
    pub dropped_features: Vec<String>,
    /// Every k-th day per user was fitted on.
    pub train_stride_days: u32,
    /// Each feature's importance on (up to [`IMPORTANCE_ROWS`] evenly spaced) test rows,
    /// most important first; empty for a model without contributions (the forest).
    #[serde(default)]
    pub importance: Vec<FeatureImportance>,
    /// Test rows the importance was measured on.
    #[serde(default)]
    pub importance_rows: usize,
}

/// Most test rows the feature importance of a [`TrainReport`] is measured on.
pub const IMPORTANCE_ROWS: usize = 20_000;

/// About `max` rows of `x`, evenly spaced (`None` when it has no more than that).
fn spaced_rows(x: &Design, max: usize) -> Option<Design> {
    if x.rows <= max {
        return None;
    }
    let step = x.rows.div_ceil(max);
    let picked: Vec<usize> = (0..x.rows).step_by(step).collect();
    let mut data = Vec::with_capacity(picked.len() * x.cols);
    for j in 0..x.cols {
        let column = x.column(j);
        data.extend(picked.iter().map(|&i| column[i]));
    }
    Some(Design {
        rows: picked.len(),
        cols: x.cols,
        data,
    })
}

/// The split, the fitted preprocessing and the design matrices, shared by every model kind.
/// It keeps what it needs of the [`TrainingData`] (the design matrices and the table's
/// fingerprint), so the caller may drop the table's batches once it is built.
pub struct Trainer {
    data_fingerprint: String,
    params: TrainParams,
    pre: Preprocessor,
    window: TrainingWindow,
    fit: (Design, Vec<f64>),
    calib: (Design, Vec<f64>),
    test: (Design, Vec<f64>),
}

/// The design matrices of sets of rows (ascending row numbers of the table whose batches
/// are `batches`), filled batch by batch from those rows alone; each batch is dropped once
/// its rows are written, so the table and the matrices are never both held whole (at 100k
/// users the planned rows were ~620 MB of batches beside ~670 MB of matrices).
fn matrices<const N: usize>(
    pre: &Preprocessor,
    batches: Vec<RecordBatch>,
    parts: [&[usize]; N],
) -> Result<[Design; N]> {
    let cols = pre.columns.len();
    let mut out = parts.map(|rows| Design {
        rows: rows.len(),
        cols,
        data: vec![0.0; rows.len() * cols],
    });
    let mut next = [0usize; N];
    let mut offset = 0;
    for batch in batches {
        let n = batch.num_rows();
        for (k, rows) in parts.iter().enumerate() {
            let from = next[k];
            let to = from + rows[from..].partition_point(|&i| i < offset + n);
            if to == from {
                continue;
            }
            let part = if to - from == n {
                batch.clone()
            } else {
                let mut mask = vec![false; n];
                for &i in &rows[from..to] {
                    mask[i - offset] = true;
                }
                arrow::compute::filter_record_batch(&batch, &BooleanArray::from(mask))
                    .map_err(|e| Error::arrow("selecting training rows", e))?
            };
            pre.transform_into(std::slice::from_ref(&part), &mut out[k], from)?;
            next[k] = to;
        }
        offset += n;
    }
    Ok(out)
}

/// The positions in `rows` (row numbers of the table) in the canonical order of training
/// rows: users by the hash of their id (ties by the id), each user's rows by date. A model
/// is then fitted on the same matrix, so it is the same model, whatever the order of the
/// rows in the files: the parts of a partitioned run, an export sorted another way. Each
/// user's rows stay together, which keeps reordering the matrices cache-friendly.
fn canonical_order(ids: &[&str], dates: &[i32], rows: &[usize]) -> Vec<usize> {
    let mut keyed: Vec<(u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| (Fnv1a::of(ids[i].as_bytes()), k))
        .collect();
    keyed.par_sort_unstable_by(|&(ha, a), &(hb, b)| {
        let (i, j) = (rows[a], rows[b]);
        ha.cmp(&hb)
            .then_with(|| ids[i].cmp(ids[j]))
            .then(dates[i].cmp(&dates[j]))
            .then(a.cmp(&b))
    });
    keyed.into_iter().map(|(_, k)| k).collect()
}

/// An error naming up to three (user_id, as_of_date) keys that `rows` (in canonical order,
/// so a key's rows are next to each other) hold more than once. A training set has one row
/// per user and date: a repeated key is an upstream join gone wrong, and its copies would
/// weigh that user-day twice (and keep their file order, which the model must not depend on).
fn unique_keys(ids: &[&str], dates: &[i32], rows: &[usize]) -> Result<()> {
    let mut examples: Vec<String> = Vec::new();
    let mut repeated = 0usize;
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if ids[a] == ids[b] && dates[a] == dates[b] {
            repeated += 1;
            let key = format!("({}, {})", ids[a], date_saturating(dates[a]));
            if examples.len() < 3 && examples.last() != Some(&key) {
                examples.push(key);
            }
        }
    }
    if repeated == 0 {
        return Ok(());
    }
    Err(Error::schema(
        ud::USER_ID,
        format!(
            "duplicate (user_id, as_of_date) rows: a training set has one row per user and \
             date; {repeated} extra rows, e.g. {}",
            examples.join(", ")
        ),
    ))
}

/// The last date fitted or calibrated on, `gap_days` before the cutoff.
fn train_last(cutoff: i32, gap_days: u32) -> i32 {
    cutoff.saturating_sub_unsigned(gap_days)
}

fn stride_keep(user: &str, date: i32, k: u32, seed: u64) -> bool {
    if k <= 1 {
        return true;
    }
    let offset = Fingerprint::of_str(seed, user) % u64::from(k);
    (i64::from(date) - offset as i64).rem_euclid(i64::from(k)) == 0
}

/// Which rows training keeps, decided from the number of rows per date alone, so a reader
/// can drop the others while reading and memory stays bounded at any size.
///
/// The time split and the calibration period come from the distinct dates (as in
/// [`churn_labels::plan_split`]); fitting rows keep every `stride`-th day of each user, the
/// stride being `train_stride_days` or, when larger, what brings the fitting rows under
/// `max_fit_rows`; calibration and test rows keep the users whose seeded hash falls in the
/// first `eval_share` of the range, `eval_share` bringing them under `max_eval_rows`. Users
/// are sampled whole, so every date keeps rows. `None` when the table has fewer than 5
/// dates (or its training part does): such tables are small and kept whole.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    /// Last training date (the test rows are after it).
    pub cutoff: i32,
    /// Last date fitted or calibrated on: `cutoff - gap_days` (rows after it and up to the
    /// cutoff are left out).
    pub train_last: i32,
    /// Last fitting date (calibration rows are after it, up to the cutoff).
    pub fit_last: i32,
    /// Every k-th day of each user among the fitting rows.
    pub stride: u32,
    /// Share of users whose calibration and test rows are kept.
    pub eval_share: f64,
    /// Fitting rows kept, expected.
    pub fit_rows: u64,
    /// Calibration and test rows before sampling.
    pub eval_rows: u64,
    seed: u64,
}

/// The part of the data a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Fitted on (the stride applies).
    Fit,
    /// Fits the calibration.
    Calibration,
    /// Left out between training and test (`gap_days`).
    Gap,
    /// Held out.
    Test,
}

/// Salt of the user hash that samples evaluation rows (independent of the stride offsets).
const EVAL_SALT: u64 = 0x6576_616c;

impl RowPlan {
    /// The plan for a table with these rows per date (days since the epoch).
    pub fn from_date_counts(counts: &BTreeMap<i32, u64>, params: &TrainParams) -> Option<Self> {
        let dates: Vec<i32> = counts.keys().copied().collect();
        let Split::ByDate { cutoff } = churn_labels::plan_split(&dates, params.test_size) else {
            return None;
        };
        let train_last = train_last(cutoff, params.gap_days);
        let fit_last = if params.calibration == CalibrationMethod::None {
            train_last
        } else {
            let train: Vec<i32> = dates.iter().copied().filter(|&d| d <= train_last).collect();
            match churn_labels::plan_split(&train, params.calibration_size) {
                Split::ByDate { cutoff } => cutoff,
                Split::ByRow { .. } => return None,
            }
        };
        let fit_rows: u64 = counts.range(..=fit_last).map(|(_, n)| n).sum();
        let eval_rows: u64 = counts
            .iter()
            .filter(|&(&d, _)| (d > fit_last && d <= train_last) || d > cutoff)
            .map(|(_, n)| n)
            .sum();
        let mut stride = params.train_stride_days.max(1);
        if params.max_fit_rows > 0 {
            stride = stride.max(fit_rows.div_ceil(params.max_fit_rows).max(1) as u32);
        }
        let eval_share = if params.max_eval_rows > 0 && eval_rows > params.max_eval_rows {
            params.max_eval_rows as f64 / eval_rows as f64
        } else {
            1.0
        };
        Some(Self {
            cutoff,
            train_last,
            fit_last,
            stride,
            eval_share,
            fit_rows: fit_rows / u64::from(stride),
            eval_rows,
            seed: params.seed,
        })
    }

    /// The plan for rows in memory.
    pub fn from_dates(dates: &[i32], params: &TrainParams) -> Option<Self> {
        let mut counts = BTreeMap::new();
        for &d in dates {
            *counts.entry(d).or_insert(0u64) += 1;
        }
        Self::from_date_counts(&counts, params)
    }

    /// Which part of the data a date belongs to.
    fn part(&self, date: i32) -> Part {
        if date > self.cutoff {
            Part::Test
        } else if date > self.train_last {
            Part::Gap
        } else if date > self.fit_last {
            Part::Calibration
        } else {
            Part::Fit
        }
    }

    /// Whether the row of `user` on `date` is kept.
    pub fn keep(&self, user: &str, date: i32) -> bool {
        match self.part(date) {
            Part::Fit => stride_keep(user, date, self.stride, self.seed),
            Part::Gap => false,
            Part::Calibration | Part::Test => {
                self.eval_share >= 1.0
                    || (churn_data::hash::mix64(Fingerprint::of_str(self.seed ^ EVAL_SALT, user))
                        as f64)
                        < self.eval_share * u64::MAX as f64
            }
        }
    }

    /// The rows of a training-table batch this plan keeps.
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let dates = batch
            .column_by_name(ud::AS_OF_DATE)
            .ok_or_else(|| Error::schema(ud::AS_OF_DATE, "missing from the training set"))?;
        let dates = cast(dates, &DataType::Date32)
            .map_err(|e| Error::arrow(format!("column `{}`", ud::AS_OF_DATE), e))?;
        let users = batch
            .column_by_name(ud::USER_ID)
            .ok_or_else(|| Error::schema(ud::USER_ID, "missing from the training set"))?;
        let users = cast(users, &DataType::Utf8)
            .map_err(|e| Error::arrow(format!("column `{}`", ud::USER_ID), e))?;
        let (dates, users) = (dates.as_primitive::<Date32Type>(), users.as_string::<i32>());
        let mask: arrow::array::BooleanArray = (0..batch.num_rows())
            .map(|i| {
                Some(
                    users.is_valid(i)
                        && dates.is_valid(i)
                        && self.keep(users.value(i), dates.value(i)),
                )
            })
            .collect();
        arrow::compute::filter_record_batch(batch, &mask)
            .map_err(|e| Error::arrow("keeping the planned training rows", e))
    }

    /// Parameters for a [`Trainer`] over rows this plan already filtered: the same stride,
    /// no further caps.
    pub fn params_after(&self, params: &TrainParams) -> TrainParams {
        TrainParams {
            train_stride_days: self.stride,
            max_fit_rows: 0,
            max_eval_rows: 0,
            ..params.clone()
        }
    }
}

impl Trainer {
    /// Splits the rows, fits the preprocessing on the fitting rows and builds the design
    /// matrices.
    pub fn new(data: &TrainingData, params: TrainParams) -> Result<Self> {
        let plan = RowPlan::from_dates(&data.dates, &params);
        // Record batches share their buffers: the clone costs no copy of the data.
        Self::build(data, data.batches.clone(), params, plan.as_ref())
    }

    /// [`Trainer::new`] on rows that `plan`, made from the whole table's rows per date
    /// ([`RowPlan::from_date_counts`]), may already have filtered while reading: the test
    /// cutoff, the gap, the calibration period, the stride and the evaluation sample are the
    /// plan's, not recomputed from these rows (whose dates lack what the plan dropped).
    /// `None`: no plan (a table of fewer than 5 dates, or whose training part has fewer),
    /// the split is made from these rows.
    ///
    /// The table is consumed: each batch is dropped as soon as its rows are in the design
    /// matrices, so training never holds the whole table and the whole matrices at once.
    pub fn with_plan(
        mut data: TrainingData,
        params: TrainParams,
        plan: Option<&RowPlan>,
    ) -> Result<Self> {
        let batches = std::mem::take(&mut data.batches);
        Self::build(&data, batches, params, plan)
    }

    /// The split and the matrices of `data`'s rows, whose batches are `batches`.
    fn build(
        data: &TrainingData,
        batches: Vec<RecordBatch>,
        params: TrainParams,
        plan: Option<&RowPlan>,
    ) -> Result<Self> {
        params.check()?;
        let ids: Vec<&str> = data.user_ids.iter().map(String::as_str).collect();
        let rows = data.rows();
        let (cutoff, fit_last, parts) = match plan {
            Some(p) => {
                let parts = data.dates.iter().map(|&d| p.part(d)).collect();
                let calibrated = params.calibration != CalibrationMethod::None;
                (Some(p.cutoff), calibrated.then_some(p.fit_last), parts)
            }
            None => {
                let (split, test_mask) =
                    churn_labels::test_mask(&data.dates, &ids, params.test_size);
                let cutoff = match split {
                    Split::ByDate { cutoff } => Some(cutoff),
                    Split::ByRow { .. } => None,
                };
                let last = cutoff.map(|c| train_last(c, params.gap_days));
                let in_gap = |i: usize| last.is_some_and(|l| data.dates[i] > l);
                let mut parts: Vec<Part> = (0..rows)
                    .map(|i| match (test_mask[i], in_gap(i)) {
                        (true, _) => Part::Test,
                        (false, true) => Part::Gap,
                        (false, false) => Part::Fit,
                    })
                    .collect();
                let train_rows: Vec<usize> = (0..rows).filter(|&i| parts[i] == Part::Fit).collect();
                let mut fit_last = None;
                if params.calibration != CalibrationMethod::None {
                    let dates: Vec<i32> = train_rows.iter().map(|&i| data.dates[i]).collect();
                    let train_ids: Vec<&str> = train_rows.iter().map(|&i| ids[i]).collect();
                    let (s, calib_mask) =
                        churn_labels::test_mask(&dates, &train_ids, params.calibration_size);
                    if let Split::ByDate { cutoff } = s {
                        fit_last = Some(cutoff);
                    }
                    for (k, &i) in train_rows.iter().enumerate() {
                        if calib_mask[k] {
                            parts[i] = Part::Calibration;
                        }
                    }
                }
                (cutoff, fit_last, parts)
            }
        };
        let stride = plan.map_or(params.train_stride_days, |p| p.stride);
        let kept = |i: usize| plan.is_none_or(|p| p.keep(ids[i], data.dates[i]));
        let mut fit_rows = Vec::new();
        let mut calib_rows = Vec::new();
        let mut test_rows = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Fit if stride_keep(ids[i], data.dates[i], stride, params.seed) => {
                    fit_rows.push(i)
                }
                Part::Calibration if kept(i) => calib_rows.push(i),
                Part::Test if kept(i) => test_rows.push(i),
                _ => {}
            }
        }
        if fit_rows.is_empty() || test_rows.is_empty() {
            return Err(Error::Input(format!(
                "{} rows over {} dates leave {} rows to fit and {} to test (with train.gap_days \
                 = {}); use more days or a smaller gap",
                data.rows(),
                {
                    let mut d = data.dates.clone();
                    d.sort_unstable();
                    d.dedup();
                    d.len()
                },
                fit_rows.len(),
                test_rows.len(),
                params.gap_days,
            )));
        }
        // Each part's rows in canonical order, checked for repeated keys before any work.
        let in_order = |rows: &[usize], order: &[usize]| -> Vec<usize> {
            order.iter().map(|&k| rows[k]).collect()
        };
        let ordered = |rows: &[usize]| -> Result<Vec<usize>> {
            let order = canonical_order(&ids, &data.dates, rows);
            unique_keys(&ids, &data.dates, &in_order(rows, &order))?;
            Ok(order)
        };
        let orders = [
            ordered(&fit_rows)?,
            ordered(&calib_rows)?,
            ordered(&test_rows)?,
        ];
        let mut fit_mask = vec![false; data.rows()];
        for &i in &fit_rows {
            fit_mask[i] = true;
        }
        let pre = params.preprocess.fit(&batches, Some(&fit_mask))?;
        let labels_of = |rows: &[usize]| rows.iter().map(|&i| data.y[i]).collect::<Vec<f64>>();
        let (first, last) = (
            data.dates.iter().copied().min().unwrap_or_default(),
            data.dates.iter().copied().max().unwrap_or_default(),
        );
        let window = TrainingWindow {
            first_date: date_saturating(first),
            last_date: date_saturating(last),
            cutoff: cutoff.map(date_saturating),
            fit_last_date: fit_last.map(date_saturating),
            gap_days: if cutoff.is_some() { params.gap_days } else { 0 },
            train_stride_days: stride,
            eval_share: plan.map_or(1.0, |p| p.eval_share),
            rows: RowCounts {
                fit: fit_rows.len(),
                calibration: calib_rows.len(),
                test: test_rows.len(),
            },
        };
        let [fit, calib, test] = matrices(&pre, batches, [&fit_rows, &calib_rows, &test_rows])?;
        let [fit_order, calib_order, test_order] = orders;
        let canonical = |mut x: Design, rows: &[usize], order: Vec<usize>| {
            x.reorder(&order);
            (x, labels_of(&in_order(rows, &order)))
        };
        Ok(Self {
            fit: canonical(fit, &fit_rows, fit_order),
            calib: canonical(calib, &calib_rows, calib_order),
            test: canonical(test, &test_rows, test_order),
            data_fingerprint: data.fingerprint.clone(),
            params,
            pre,
            window,
        })
    }

    /// The fitted preprocessing.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.pre
    }

    /// The training window and row counts.
    pub fn window(&self) -> &TrainingWindow {
        &self.window
    }

    /// Fingerprint of the training data.
    pub fn data_fingerprint(&self) -> &str {
        &self.data_fingerprint
    }

    /// The parameters an artifact of `kind` fitted by this trainer records
    /// ([`ModelArtifact::params`]).
    pub fn model_params(&self, kind: ModelKind) -> serde_json::Value {
        self.params.model_params(kind)
    }

    /// The fitting rows' design matrix and labels.
    pub fn fit_rows(&self) -> (&Design, &[f64]) {
        (&self.fit.0, &self.fit.1)
    }

    /// The test rows' design matrix and labels.
    pub fn test_rows(&self) -> (&Design, &[f64]) {
        (&self.test.0, &self.test.1)
    }

    /// Fits one model kind, calibrates it, evaluates it on the test rows and builds its
    /// artifact, dated by `clock`.
    pub fn fit(&self, kind: ModelKind, clock: &dyn Clock) -> Result<ModelArtifact> {
        let (x, y) = (&self.fit.0, &self.fit.1[..]);
        let started = Instant::now();
        let model = match kind {
            ModelKind::Logistic => FittedModel::Logistic(self.params.logistic.fit(x, y, None)?),
            ModelKind::Gbm => {
                let eval = (self.calib.0.rows > 0).then_some((&self.calib.0, &self.calib.1[..]));
                FittedModel::Gbm(Box::new(self.params.gbm.fit(x, y, None, eval)?))
            }
            ModelKind::Forest => FittedModel::Forest(self.params.forest.fit(x, y)?),
        };
        let fit_seconds = started.elapsed().as_secs_f64();
        tracing::info!(model = %kind, fit_seconds, rows = x.rows, "fitted");
        let calibrator = if self.params.calibration == CalibrationMethod::None {
            Calibrator::None
        } else {
            let raw = model.raw_logit(&self.calib.0)?;
            self.params.calibration.fit(&raw, &self.calib.1)?
        };
        let (tx, ty) = (&self.test.0, &self.test.1[..]);
        let raw = model.raw_logit(tx)?;
        let before: Vec<f64> = raw.iter().map(|&z| sigmoid(z)).collect();
        let after = calibrator.apply_all(&raw);
        let test = evaluate(ty, &after, self.params.top_k)?;
        let calibration = CalibrationReport {
            method: self.params.calibration,
            rows: self.calib.0.rows,
            brier_before: brier(ty, &before)?,
            brier_after: test.brier,
            ece_before: expected_calibration_error(ty, &before, ECE_BINS)?,
            ece_after: test.ece,
            log_loss_before: log_loss(ty, &before)?,
        };
        let sample = spaced_rows(tx, IMPORTANCE_ROWS);
        let on = sample.as_ref().unwrap_or(tx);
        let importance = model
            .contributions(on)
            .map(|c| importance(&self.pre, on, &c))
            .unwrap_or_default();
        let name = format!("churn_{kind}");
        let report = TrainReport {
            model: name.clone(),
            kind,
            test_churn_rate: test.churn_rate,
            test,
            calibration,
            rows: self.window.rows,
            fit_churn_rate: y.iter().sum::<f64>() / y.len() as f64,
            test_scores: ScoreStats::of(&after, HIGH_RISK),
            fit_seconds,
            design_columns: self.pre.columns.len(),
            dropped_features: self.pre.dropped.clone(),
            train_stride_days: self.window.train_stride_days,
            importance_rows: if importance.is_empty() { 0 } else { on.rows },
            importance,
        };
        Ok(ModelArtifact {
            format_version: FORMAT_VERSION,
            name,
            kind,
            params: self.params.model_params(kind),
            preprocessing: self.pre.clone(),
            model,
            calibrator,
            training: self.window.clone(),
            data_fingerprint: self.data_fingerprint.clone(),
            report,
            created_at: clock.now(),
            crate_version: crate::CRATE_VERSION.to_string(),
        })
    }
}
