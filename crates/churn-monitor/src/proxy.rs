//! The score proxy: the distribution of a scored day's churn risk against the test-set
//! scores the model was trained with (mean, p50, p90, p99, share at or above the high-risk
//! threshold). A shift here is visible before any outcome is known.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Float64Type};
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

/// Summarises the churn_risk of a predictions file (Parquet or CSV).
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
    for batch in reader {
        let batch = batch?;
        let r = arrow::compute::cast(
            batch.column_by_name(p::CHURN_RISK).expect("projected"),
            &arrow::datatypes::DataType::Float64,
        )
        .map_err(|e| Error::Params(format!("churn_risk as numbers: {e}")))?;
        risk.extend(r.as_primitive::<Float64Type>().iter().flatten());
        if day.is_none()
            && let Some(d) = batch.column_by_name(ud::AS_OF_DATE)
        {
            let d = arrow::compute::cast(d, &arrow::datatypes::DataType::Date32)
                .map_err(|e| Error::Params(format!("as_of_date as a date: {e}")))?;
            let d = d.as_primitive::<Date32Type>();
            day = (!d.is_empty() && d.is_valid(0)).then(|| date(d.value(0)));
        }
    }
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
