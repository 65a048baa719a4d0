//! Realized outcomes: once `window` days of data exist after a scored date, that date's
//! predictions are joined with what happened (the labels of the same users and date) and
//! evaluated; younger dates are reported as pending.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int32Type};
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::io::DEFAULT_BATCH_SIZE;
use churn_data::schema::labels as lb;
use churn_data::schema::predictions as p;
use churn_data::schema::user_daily as ud;
use churn_models::metrics::{average_precision, precision_at_k, roc_auc};
use churn_scoring::score::select_date;
use churn_scoring::table::{FeatureTable, IdColumns, days};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One scored date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealizedDate {
    /// The scored date.
    pub as_of_date: NaiveDate,
    /// `evaluated` or `pending`.
    pub status: String,
    /// The date from which the outcome is known (as_of_date + window).
    pub matures_on: NaiveDate,
    /// The predictions file.
    pub predictions: PathBuf,
    /// The model that scored, `name/version`.
    pub model: Option<String>,
    /// Scored users whose outcome is known.
    pub rows: u64,
    /// Of those, churners.
    pub positives: u64,
    /// Average precision of churn_risk against the outcome.
    pub pr_auc: Option<f64>,
    /// ROC AUC.
    pub roc_auc: Option<f64>,
    /// K of `precision_at_k`.
    pub k: usize,
    /// Share of churners among the K highest risks.
    pub precision_at_k: Option<f64>,
    /// The model's test PR-AUC at training time.
    pub model_test_pr_auc: Option<f64>,
    /// model_test_pr_auc − pr_auc.
    pub pr_auc_drop: Option<f64>,
}

/// Realized outcomes of every predictions file of a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealizedReport {
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Label window in days.
    pub window: u32,
    /// The last date with data.
    pub last_data_date: NaiveDate,
    /// Every scored date, oldest first.
    pub dates: Vec<RealizedDate>,
}

impl RealizedReport {
    /// The newest evaluated date.
    pub fn latest_evaluated(&self) -> Option<&RealizedDate> {
        self.dates.iter().rev().find(|d| d.status == "evaluated")
    }
}

/// `churn_predictions_<date>.parquet` files of a folder, oldest first.
pub fn prediction_files(dir: &Path) -> Result<Vec<(NaiveDate, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(churn_data::Error::io(dir, "list", e).into()),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(d) = name
            .strip_prefix("churn_predictions_")
            .and_then(|r| r.strip_suffix(".parquet"))
            .and_then(|d| d.parse::<NaiveDate>().ok())
        {
            out.push((d, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Evaluates the mature predictions of `dir` against `labels` (the labels table:
/// user_id, as_of_date, churn_label). `model_pr_auc` gives a model's test PR-AUC from
/// `(name, version)`.
pub fn realized(
    dir: &Path,
    labels: &Path,
    window: u32,
    last_data_date: NaiveDate,
    k: usize,
    model_pr_auc: &dyn Fn(&str, u32) -> Option<f64>,
    now: DateTime<Utc>,
) -> Result<RealizedReport> {
    let mut dates = Vec::new();
    for (d, path) in prediction_files(dir)? {
        let matures_on = d + chrono::Duration::days(i64::from(window));
        let (scores, model) = read_scores(&path)?;
        let model_test_pr_auc = model.as_ref().and_then(|(n, v)| model_pr_auc(n, *v));
        let mut row = RealizedDate {
            as_of_date: d,
            status: "pending".into(),
            matures_on,
            predictions: path.clone(),
            model: model.map(|(n, v)| format!("{n}/{v}")),
            rows: 0,
            positives: 0,
            pr_auc: None,
            roc_auc: None,
            k,
            precision_at_k: None,
            model_test_pr_auc,
            pr_auc_drop: None,
        };
        if matures_on <= last_data_date {
            let (y, s) = join_labels(labels, d, &scores)?;
            row.status = "evaluated".into();
            row.rows = y.len() as u64;
            row.positives = y.iter().filter(|&&v| v == 1.0).count() as u64;
            row.pr_auc = average_precision(&y, &s).ok();
            row.roc_auc = roc_auc(&y, &s).ok();
            row.precision_at_k = precision_at_k(&y, &s, k.min(y.len()).max(1)).ok();
            row.pr_auc_drop = row.model_test_pr_auc.zip(row.pr_auc).map(|(m, r)| m - r);
        }
        dates.push(row);
    }
    Ok(RealizedReport {
        created_at: now,
        window,
        last_data_date,
        dates,
    })
}

type Scores = HashMap<String, f64>;

fn read_scores(path: &Path) -> Result<(Scores, Option<(String, u32)>)> {
    let (_, batches) = churn_data::io::read_all(
        path,
        Some(&[ud::USER_ID, p::CHURN_RISK, p::MODEL_NAME, p::MODEL_VERSION]),
    )?;
    let mut scores = HashMap::new();
    let mut model = None;
    let mut check = crate::proxy::RiskCheck::new(path);
    for b in &batches {
        let col = |name: &str| {
            b.column_by_name(name).ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                column: name.to_string(),
                rule: "not a predictions file".into(),
            })
        };
        let ids = arrow::compute::cast(col(ud::USER_ID)?, &DataType::Utf8)
            .map_err(|e| Error::Params(e.to_string()))?;
        let risk = check.batch(col(p::CHURN_RISK)?)?;
        let ids = ids.as_string::<i32>();
        for i in 0..b.num_rows() {
            if ids.is_valid(i) && risk.is_valid(i) {
                scores.insert(ids.value(i).to_string(), risk.value(i));
            }
        }
        if model.is_none() && b.num_rows() > 0 {
            let name = arrow::compute::cast(col(p::MODEL_NAME)?, &DataType::Utf8)
                .map_err(|e| Error::Params(e.to_string()))?;
            let version = arrow::compute::cast(col(p::MODEL_VERSION)?, &DataType::Int32)
                .map_err(|e| Error::Params(e.to_string()))?;
            model = Some((
                name.as_string::<i32>().value(0).to_string(),
                version.as_primitive::<Int32Type>().value(0) as u32,
            ));
        }
    }
    check.finish()?;
    Ok((scores, model))
}

/// Outcome (1 = churned) and score of each scored user with a label on `d`.
fn join_labels(labels: &Path, d: NaiveDate, scores: &Scores) -> Result<(Vec<f64>, Vec<f64>)> {
    let table = FeatureTable::open(labels, IdColumns::default())?;
    let (mut y, mut s) = (Vec::new(), Vec::new());
    for batch in table.read_on(
        &[ud::USER_ID, ud::AS_OF_DATE, lb::CHURN_LABEL],
        DEFAULT_BATCH_SIZE,
        Some(d),
    )? {
        let batch = select_date(&batch?, days(d), None)?;
        let ids = batch
            .column_by_name(ud::USER_ID)
            .expect("read")
            .as_string::<i32>();
        let label = arrow::compute::cast(
            batch
                .column_by_name(lb::CHURN_LABEL)
                .ok_or_else(|| Error::Input {
                    path: labels.to_path_buf(),
                    column: lb::CHURN_LABEL.into(),
                    rule: "the labels table has no churn_label".into(),
                })?,
            &DataType::Int32,
        )
        .map_err(|e| Error::Params(e.to_string()))?;
        let label = label.as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            if let Some(&risk) = scores.get(ids.value(i))
                && label.is_valid(i)
            {
                y.push(f64::from(label.value(i)));
                s.push(risk);
            }
        }
    }
    Ok((y, s))
}
