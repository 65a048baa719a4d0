//! The score proxy: the distribution of a scored day's churn risk against the test-set
//! scores the model was trained with (mean, p50, p90, p99, share at or above the high-risk
//! threshold). A shift here is visible before any outcome is known.

use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use arrow::util::display::ArrayFormatter;
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader};
use churn_data::schema::predictions as p;
use churn_data::schema::user_daily as ud;
use churn_models::metrics::ScoreStats;
use churn_scoring::table::date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A score-proxy report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyReport {
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The predictions file.
    pub predictions: PathBuf,
    /// Its date.
    pub as_of_date: Option<NaiveDate>,
    /// The scored day's risk distribution.
    pub current: ScoreStats,
    /// The model's test-set risk distribution at training time, when the artifact has it.
    pub training: Option<ScoreStats>,
    /// current − training mean risk.
    pub mean_shift: Option<f64>,
    /// current − training high-risk share.
    pub high_risk_share_shift: Option<f64>,
}

/// Summarises the churn_risk of a predictions file (Parquet or CSV). A risk that is not a
/// probability in [0, 1] (missing, text, NaN, 1.7) is an [`Error::Input`] with examples: a proxy
/// that skipped it would summarise a broken file as healthy.
pub fn score_proxy(
    predictions: &Path,
    training: Option<ScoreStats>,
    high_risk_threshold: f64,
    now: DateTime<Utc>,
) -> Result<ProxyReport> {
    let reader = TableReader::open(
        predictions,
        Some(&[p::CHURN_RISK, ud::AS_OF_DATE]),
        DEFAULT_BATCH_SIZE,
    )?;
    if reader.schema().field_with_name(p::CHURN_RISK).is_err() {
        return Err(Error::Input {
            path: predictions.to_path_buf(),
            column: p::CHURN_RISK.into(),
            rule: "not a predictions file (no churn_risk column)".into(),
        });
    }
    let mut risk = Vec::new();
    let mut day = None;
    let mut check = RiskCheck::new(predictions);
    for batch in reader {
        let batch = batch?;
        let r = check.batch(batch.column_by_name(p::CHURN_RISK).expect("projected"))?;
        risk.extend(r.iter().flatten());
        if day.is_none()
            && let Some(d) = batch.column_by_name(ud::AS_OF_DATE)
        {
            let d = arrow::compute::cast(d, &arrow::datatypes::DataType::Date32)
                .map_err(|e| Error::Params(format!("as_of_date as a date: {e}")))?;
            let d = d.as_primitive::<Date32Type>();
            day = (!d.is_empty() && d.is_valid(0)).then(|| date(d.value(0)));
        }
    }
    check.finish()?;
    let current = ScoreStats::of(&risk, high_risk_threshold).ok_or_else(|| Error::Input {
        path: predictions.to_path_buf(),
        column: p::CHURN_RISK.into(),
        rule: "no scores to summarise".into(),
    })?;
    Ok(ProxyReport {
        created_at: now,
        predictions: predictions.to_path_buf(),
        as_of_date: day,
        mean_shift: training.as_ref().map(|t| current.mean - t.mean),
        high_risk_share_shift: training
            .as_ref()
            .map(|t| current.high_risk_share - t.high_risk_share),
        training,
        current,
    })
}

/// Checks the churn_risk column of a predictions file batch by batch: every value must be a
/// probability in [0, 1]; [`RiskCheck::finish`] reports how many are not, with examples.
pub(crate) struct RiskCheck<'a> {
    path: &'a Path,
    rows: usize,
    bad: usize,
    examples: Vec<String>,
}

impl<'a> RiskCheck<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        Self {
            path,
            rows: 0,
            bad: 0,
            examples: Vec::new(),
        }
    }

    /// The batch's risks as numbers; a value that is not a probability (missing, text, NaN,
    /// 1.7) is null here and counted.
    pub(crate) fn batch(&mut self, raw: &ArrayRef) -> Result<Float64Array> {
        let r = arrow::compute::cast(raw, &DataType::Float64).map_err(|e| Error::Input {
            path: self.path.to_path_buf(),
            column: p::CHURN_RISK.into(),
            rule: format!("must hold numbers: {e}"),
        })?;
        let r = r.as_primitive::<Float64Type>();
        let shown = ArrayFormatter::try_new(raw.as_ref(), &Default::default()).ok();
        let out: Float64Array = (0..r.len())
            .map(|i| {
                self.rows += 1;
                let v = r.is_valid(i).then(|| r.value(i));
                if v.is_some_and(|v| (0.0..=1.0).contains(&v)) {
                    return v;
                }
                self.bad += 1;
                if self.examples.len() < 3 {
                    let text = match &shown {
                        _ if raw.is_null(i) => "missing".to_string(),
                        Some(s) => s.value(i).to_string(),
                        None => String::new(),
                    };
                    self.examples.push(format!("row {}: {text}", self.rows));
                }
                None
            })
            .collect();
        Ok(out)
    }

    /// An [`Error::Input`] when any risk was not a probability.
    pub(crate) fn finish(self) -> Result<()> {
        if self.bad == 0 {
            return Ok(());
        }
        Err(Error::Input {
            path: self.path.to_path_buf(),
            column: p::CHURN_RISK.into(),
            rule: format!(
                "{} rows: must be a probability in [0, 1] (e.g. {})",
                self.bad,
                self.examples.join(", ")
            ),
        })
    }
}
