//! Drift of a model's features between its training set (the baseline) and the eligible
//! users of a scored day (the current sample): PSI per feature, worst first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader};
use churn_models::preprocess::{FeatureKind, FeatureSpec};
use churn_scoring::score::{eligibility_column, eligible_rows, select_date};
use churn_scoring::table::{FeatureTable, IdColumns, days};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::psi::{FeaturePsi, PsiParams, Status, psi_categorical, psi_numeric};

/// The values of one feature: numbers (NaN = missing) or text (`None` = missing).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A numeric feature.
    Numeric(Vec<f64>),
    /// A categorical feature. Equal values share one allocation: a baseline of millions of
    /// rows holds a pointer per row, not a string per row.
    Categorical(Vec<Option<Arc<str>>>),
}

impl Column {
    fn empty(kind: FeatureKind) -> Self {
        match kind {
            FeatureKind::Numeric => Column::Numeric(Vec::new()),
            FeatureKind::Categorical => Column::Categorical(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical(v) => v.len(),
        }
    }

    fn extend(
        &mut self,
        array: &ArrayRef,
        rows: impl Iterator<Item = usize>,
        name: &str,
    ) -> Result<()> {
        match self {
            Column::Numeric(out) => {
                let a = cast(array, &DataType::Float64)
                    .map_err(|e| Error::Params(format!("column `{name}` as numbers: {e}")))?;
                let a = a.as_primitive::<Float64Type>();
                out.extend(rows.map(|i| {
                    if a.is_null(i) || !a.value(i).is_finite() {
                        f64::NAN
                    } else {
                        a.value(i)
                    }
                }));
            }
            Column::Categorical(out) => {
                let a = cast(array, &DataType::Utf8)
                    .map_err(|e| Error::Params(format!("column `{name}` as text: {e}")))?;
                let a = a.as_string::<i32>();
                let mut shared: HashMap<&str, Arc<str>> = HashMap::new();
                out.extend(rows.map(|i| {
                    (!a.is_null(i)).then(|| {
                        let v = a.value(i);
                        shared.entry(v).or_insert_with(|| Arc::from(v)).clone()
                    })
                }));
            }
        }
        Ok(())
    }
}

/// The PSI of every feature, in parallel; the result is sorted worst first (then by name).
pub fn drift_columns(features: &[(String, Column, Column)], p: &PsiParams) -> Vec<FeaturePsi> {
    let mut out: Vec<FeaturePsi> = features
        .par_iter()
        .map(|(name, base, cur)| match (base, cur) {
            (Column::Numeric(b), Column::Numeric(c)) => psi_numeric(name, b, c, p),
            (Column::Categorical(b), Column::Categorical(c)) => psi_categorical(
                name,
                b.iter().map(Option::as_deref),
                c.iter().map(Option::as_deref),
                p,
            ),
            // Both sides are read with the model's kind, so they always match.
            _ => psi_numeric(name, &[], &[], p),
        })
        .collect();
    out.sort_by(|a, b| {
        b.psi
            .total_cmp(&a.psi)
            .then_with(|| a.feature.cmp(&b.feature))
    });
    out
}

/// A drift report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// When it was made (the caller's clock).
    pub created_at: DateTime<Utc>,
    /// The scored day compared.
    pub as_of_date: NaiveDate,
    /// The model whose features are compared, `name/version`.
    pub model: String,
    /// The baseline table (the training set).
    pub baseline: PathBuf,
    /// The current table (the feature table).
    pub current: PathBuf,
    /// Baseline rows compared (after sampling).
    pub baseline_rows: u64,
    /// Baseline rows in the table.
    pub baseline_rows_total: u64,
    /// Current rows compared (eligible users of the day).
    pub current_rows: u64,
    /// The settings.
    pub params: PsiParams,
    /// Worst feature status.
    pub status: Status,
    /// Features at WARN or FAIL, worst first.
    pub drifted: Vec<String>,
    /// Model features not compared (configured out).
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Every feature, worst first, with its buckets.
    pub features: Vec<FeaturePsi>,
}

/// Reads the model's features from the baseline table, keeping about `max_rows` rows (32
/// evenly spaced runs of whole users over every date, see
/// [`TableReader::open_sample`]). Returns the columns and the table's row count.
pub fn read_baseline(
    path: &Path,
    specs: &[FeatureSpec],
    max_rows: usize,
) -> Result<(Vec<Column>, u64)> {
    let total = churn_data::io::parquet_row_count(path);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let reader = TableReader::open_sample(path, Some(&names), DEFAULT_BATCH_SIZE, max_rows)?;
    let mut columns: Vec<Column> = specs.iter().map(|s| Column::empty(s.kind)).collect();
    let mut seen = 0usize;
    for batch in reader {
        let batch = batch?;
        let rows: Vec<usize> = (0..batch.num_rows()).collect();
        seen += batch.num_rows();
        extend_all(path, &batch, specs, &rows, &mut columns)?;
    }
    Ok((columns, total.unwrap_or(seen as u64)))
}

/// Reads the model's features of the eligible rows of `date` from a feature table.
pub fn read_current(
    path: &Path,
    specs: &[FeatureSpec],
    date: NaiveDate,
    active_within_days: u32,
) -> Result<Vec<Column>> {
    let table = FeatureTable::open(path, IdColumns::default())?;
    let eligibility = eligibility_column(&table, active_within_days)?;
    let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    names.extend([
        churn_data::schema::user_daily::USER_ID,
        churn_data::schema::user_daily::AS_OF_DATE,
    ]);
    if let Some(e) = &eligibility {
        names.extend([
            e.as_str(),
            churn_data::schema::features::DAYS_SINCE_LAST_ACTIVITY,
        ]);
    }
    names.sort_unstable();
    names.dedup();
    let mut columns: Vec<Column> = specs.iter().map(|s| Column::empty(s.kind)).collect();
    for batch in table.read_on(&names, DEFAULT_BATCH_SIZE, Some(date))? {
        let batch = select_date(&batch?, days(date), None)?;
        let rows: Vec<usize> = match &eligibility {
            Some(e) => {
                let mask = eligible_rows(&batch, e, active_within_days)?;
                (0..batch.num_rows()).filter(|&i| mask.value(i)).collect()
            }
            None => (0..batch.num_rows()).collect(),
        };
        extend_all(path, &batch, specs, &rows, &mut columns)?;
    }
    Ok(columns)
}

fn extend_all(
    path: &Path,
    batch: &RecordBatch,
    specs: &[FeatureSpec],
    rows: &[usize],
    columns: &mut [Column],
) -> Result<()> {
    for (spec, column) in specs.iter().zip(columns.iter_mut()) {
        let array = batch
            .column_by_name(&spec.name)
            .ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                column: spec.name.clone(),
                rule: "a feature of the production model is missing from the table".into(),
            })?;
        column.extend(array, rows.iter().copied(), &spec.name)?;
    }
    Ok(())
}

/// Compares the model's features between the baseline and the eligible rows of `date`.
#[allow(clippy::too_many_arguments)]
pub fn drift_report(
    baseline: &Path,
    current: &Path,
    specs: &[FeatureSpec],
    model: &str,
    date: NaiveDate,
    active_within_days: u32,
    max_baseline_rows: usize,
    params: &PsiParams,
    now: DateTime<Utc>,
) -> Result<DriftReport> {
    params.check()?;
    let (base, total) = read_baseline(baseline, specs, max_baseline_rows)?;
    let cur = read_current(current, specs, date, active_within_days)?;
    let baseline_rows = base.first().map_or(0, Column::len) as u64;
    let current_rows = cur.first().map_or(0, Column::len) as u64;
    let triples: Vec<(String, Column, Column)> = specs
        .iter()
        .zip(base)
        .zip(cur)
        .map(|((s, b), c)| (s.name.clone(), b, c))
        .collect();
    let features = drift_columns(&triples, params);
    let status = features
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    Ok(DriftReport {
        created_at: now,
        as_of_date: date,
        model: model.to_string(),
        baseline: baseline.to_path_buf(),
        current: current.to_path_buf(),
        baseline_rows,
        baseline_rows_total: total,
        current_rows,
        params: *params,
        status,
        drifted: features
            .iter()
            .filter(|f| f.status != Status::Ok)
            .map(|f| f.feature.clone())
            .collect(),
        excluded: Vec::new(),
        features,
    })
}
