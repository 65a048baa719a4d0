//! Drift of a model's features between its training set (the baseline) and the eligible
//! users of a scored day (the current sample): PSI per feature, worst first.
//!
//! A feature that follows the calendar month (a window over payments taken at the start of
//! each month: `payment_success_7d` is 0 for everyone from the 8th to the month's end) moves
//! every day by construction, so a day compared with training rows of every day of the month
//! would FAIL without anything having changed. Such features
//! ([`DriftOptions::monthly_features`]) are compared with the training rows on the same day
//! of the month as the scored day.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
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

    /// The rows whose `keep` is true, in order.
    fn select(self, keep: &[bool]) -> Self {
        fn pick<T>(values: Vec<T>, keep: &[bool]) -> Vec<T> {
            values
                .into_iter()
                .zip(keep)
                .filter_map(|(v, &k)| k.then_some(v))
                .collect()
        }
        match self {
            Column::Numeric(v) => Column::Numeric(pick(v, keep)),
            Column::Categorical(v) => Column::Categorical(pick(v, keep)),
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
    /// Features that follow the calendar month, compared with the training rows on
    /// `baseline_day_of_month` only.
    #[serde(default)]
    pub monthly: Vec<String>,
    /// The day of the month of the baseline rows the monthly features were compared with:
    /// the scored day's, or the nearest the training set has (`None` when no monthly feature
    /// was compared, or the baseline had no rows).
    #[serde(default)]
    pub baseline_day_of_month: Option<u32>,
    /// Every feature, worst first, with its buckets.
    pub features: Vec<FeaturePsi>,
}

/// The baseline's columns (one per feature, in the order asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// One column per feature.
    pub columns: Vec<Column>,
    /// Each row's day of the month (1..=31), when asked for and the table has dates.
    pub days_of_month: Option<Vec<u8>>,
    /// Rows in the table (before sampling).
    pub total_rows: u64,
}

/// Reads the model's features from the baseline table, keeping about `max_rows` rows (32
/// evenly spaced runs of whole users over every date, see
/// [`TableReader::open_sample`]), with each row's day of the month when `days_of_month`
/// and the table has an `as_of_date` column (a table of the caller's may have none).
pub fn read_baseline(
    path: &Path,
    specs: &[FeatureSpec],
    max_rows: usize,
    days_of_month: bool,
) -> Result<Baseline> {
    use churn_data::schema::user_daily::AS_OF_DATE;
    let total = churn_data::io::parquet_row_count(path);
    let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    if days_of_month && !names.contains(&AS_OF_DATE) {
        names.push(AS_OF_DATE);
    }
    // A column the table lacks is left out of the projection, not an error.
    let reader = TableReader::open_sample(path, Some(&names), DEFAULT_BATCH_SIZE, max_rows)?;
    let dated = days_of_month && reader.schema().field_with_name(AS_OF_DATE).is_ok();
    let mut columns: Vec<Column> = specs.iter().map(|s| Column::empty(s.kind)).collect();
    let mut days: Option<Vec<u8>> = dated.then(Vec::new);
    let mut seen = 0usize;
    for batch in reader {
        let batch = batch?;
        let rows: Vec<usize> = (0..batch.num_rows()).collect();
        seen += batch.num_rows();
        extend_all(path, &batch, specs, &rows, &mut columns)?;
        if let Some(days) = &mut days {
            days.extend(day_of_month(path, &batch, AS_OF_DATE)?);
        }
    }
    Ok(Baseline {
        columns,
        days_of_month: days,
        total_rows: total.unwrap_or(seen as u64),
    })
}

/// The day of the month (1..=31) of each row's date in `column`.
fn day_of_month(path: &Path, batch: &RecordBatch, column: &str) -> Result<Vec<u8>> {
    let input = |rule: &str| Error::Input {
        path: path.to_path_buf(),
        column: column.to_string(),
        rule: rule.to_string(),
    };
    let array = batch
        .column_by_name(column)
        .ok_or_else(|| input("the baseline needs its dates to compare monthly features"))?;
    let dates = cast(array, &DataType::Date32)
        .map_err(|_| input("not a date column (the baseline's dates)"))?;
    let dates = dates.as_primitive::<arrow::datatypes::Date32Type>();
    dates
        .iter()
        .map(|d| {
            d.and_then(churn_data::days::date_of)
                .map(|d| d.day() as u8)
                .ok_or_else(|| input("a missing or out-of-range date"))
        })
        .collect()
}

/// The day of the month nearest `day` among `days` (the lower of two as near); `None` when
/// `days` is empty.
fn nearest_day(days: &[u8], day: u32) -> Option<u32> {
    let mut present = [false; 32];
    for &d in days {
        present[usize::from(d).min(31)] = true;
    }
    (1..=31u32)
        .filter(|&d| present[d as usize])
        .min_by_key(|&d| (d.abs_diff(day), d))
}

/// Reads the model's features of the eligible rows of `date` from a feature table; a date
/// without any row in the table is an [`Error::Input`] naming the dates it has.
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
    let mut on_date = 0usize;
    for batch in table.read_on(&names, DEFAULT_BATCH_SIZE, Some(date))? {
        let batch = select_date(&batch?, days(date), None)?;
        on_date += batch.num_rows();
        let rows: Vec<usize> = match &eligibility {
            Some(e) => {
                let mask = eligible_rows(path, &batch, e, active_within_days)?;
                (0..batch.num_rows()).filter(|&i| mask.value(i)).collect()
            }
            None => (0..batch.num_rows()).collect(),
        };
        extend_all(path, &batch, specs, &rows, &mut columns)?;
    }
    if on_date == 0 {
        // A date the table does not have would compare nothing and report OK.
        let covers = match table.date_range()? {
            Some((first, last)) => format!("the table covers {first} .. {last}"),
            None => "the table has no rows".to_string(),
        };
        return Err(Error::Input {
            path: path.to_path_buf(),
            column: churn_data::schema::user_daily::AS_OF_DATE.into(),
            rule: format!("no rows on {date} to compare with the baseline; {covers}"),
        });
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

/// How a day's drift is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftOptions {
    /// The eligibility rule of the current rows (`labels.active_within_days`; 0 keeps every
    /// row of the day).
    pub active_within_days: u32,
    /// Most baseline rows kept (see [`read_baseline`]).
    pub max_baseline_rows: usize,
    /// Buckets, floor and thresholds.
    pub psi: PsiParams,
    /// Features that follow the calendar month, each a name or a prefix ending in `*`:
    /// they are compared with the training rows on the scored day's day of the month (or
    /// the nearest the training set has). Default `payment_*`: payments are taken at the
    /// start of each month.
    pub monthly_features: Vec<String>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            active_within_days: 30,
            max_baseline_rows: 2_000_000,
            psi: PsiParams::default(),
            monthly_features: vec!["payment_*".into()],
        }
    }
}

impl DriftOptions {
    /// Whether `feature` is one of [`DriftOptions::monthly_features`].
    pub fn is_monthly(&self, feature: &str) -> bool {
        self.monthly_features
            .iter()
            .any(|p| pattern_matches(p, feature))
    }

    /// The [`DriftOptions::monthly_features`] entries that match none of `features`: a
    /// misspelt one leaves its features compared with every day of the month.
    pub fn unmatched_monthly(&self, features: &[&str]) -> Vec<&str> {
        self.monthly_features
            .iter()
            .filter(|p| !features.iter().any(|f| pattern_matches(p, f)))
            .map(String::as_str)
            .collect()
    }
}

/// A feature name, or a prefix ending in `*`.
fn pattern_matches(pattern: &str, feature: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => feature.starts_with(prefix),
        None => feature == pattern,
    }
}

/// Compares the model's features between the baseline and the eligible rows of `date`.
pub fn drift_report(
    baseline: &Path,
    current: &Path,
    specs: &[FeatureSpec],
    model: &str,
    date: NaiveDate,
    options: &DriftOptions,
    now: DateTime<Utc>,
) -> Result<DriftReport> {
    options.psi.check()?;
    let monthly: Vec<bool> = specs.iter().map(|s| options.is_monthly(&s.name)).collect();
    let monthly_names: Vec<String> = specs
        .iter()
        .zip(&monthly)
        .filter(|(_, m)| **m)
        .map(|(s, _)| s.name.clone())
        .collect();
    // A baseline without dates (a table of the caller's) compares every feature with all
    // its rows, saying so.
    let base = read_baseline(
        baseline,
        specs,
        options.max_baseline_rows,
        !monthly_names.is_empty(),
    )?;
    let cur = read_current(current, specs, date, options.active_within_days)?;
    let baseline_rows = base.columns.first().map_or(0, Column::len) as u64;
    let current_rows = cur.first().map_or(0, Column::len) as u64;
    let (same_day, keep) = match &base.days_of_month {
        Some(days) => {
            let same_day = nearest_day(days, date.day());
            let keep: Vec<bool> = days
                .iter()
                .map(|&d| Some(u32::from(d)) == same_day)
                .collect();
            (same_day, keep)
        }
        None => (None, Vec::new()),
    };
    let triples: Vec<(String, Column, Column)> = specs
        .iter()
        .zip(base.columns)
        .zip(cur)
        .zip(&monthly)
        .map(|(((s, b), c), &m)| {
            let b = if m && same_day.is_some() {
                b.select(&keep)
            } else {
                b
            };
            (s.name.clone(), b, c)
        })
        .collect();
    let mut features = drift_columns(&triples, &options.psi);
    for f in &mut features {
        if !monthly_names.contains(&f.feature) {
            continue;
        }
        let said = match same_day {
            Some(d) => format!(
                "follows the calendar month: baseline is the training rows on day {d} of the month"
            ),
            None => "follows the calendar month, but the baseline has no dated rows: compared \
                     with every row"
                .to_string(),
        };
        f.note = Some(match f.note.take() {
            Some(n) => format!("{said}; {n}"),
            None => said,
        });
    }
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
        baseline_rows_total: base.total_rows,
        current_rows,
        params: options.psi,
        status,
        drifted: features
            .iter()
            .filter(|f| f.status != Status::Ok)
            .map(|f| f.feature.clone())
            .collect(),
        excluded: Vec::new(),
        monthly: monthly_names,
        baseline_day_of_month: same_day,
        features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_patterns_match_names_and_prefixes_and_the_unmatched_are_named() {
        let options = DriftOptions {
            monthly_features: vec!["payment_*".into(), "logins_7d".into(), "paymnt_*".into()],
            ..DriftOptions::default()
        };
        assert!(options.is_monthly("payment_failed_30d"));
        assert!(options.is_monthly("logins_7d"));
        assert!(!options.is_monthly("logins_14d"));
        let features = ["payment_failed_30d", "logins_7d", "events_7d"];
        assert_eq!(options.unmatched_monthly(&features), ["paymnt_*"]);
    }
}
