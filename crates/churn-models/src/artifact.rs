//! Self-describing, versioned model artifacts: everything needed to score new rows and to
//! know what the model is, in one JSON file.
//!
//! An artifact holds the format version, the model kind and parameters, the fitted
//! preprocessing with the ordered feature spec (name, Arrow type, nullable, source table,
//! lookup keys), the fitted model and its calibration, the training window, a fingerprint
//! of the training data, the evaluation report, the creation time (from the caller's clock)
//! and the crate version. Loading checks the format version; predicting checks the input
//! columns against the spec.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calibration::Calibrator;
use crate::error::{Error, Result};
use crate::model::{FittedModel, ModelKind};
use crate::preprocess::{Design, Preprocessor};
use crate::reasons::{Reason, TopReasons};
use crate::train::TrainReport;

/// The artifact format this version of churn writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Rows in each part of the training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows the model was fitted on (after the stride).
    pub fit: usize,
    /// Rows the calibration was fitted on.
    pub calibration: usize,
    /// Held-out test rows.
    pub test: usize,
}

/// The dates the model was trained and evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingWindow {
    /// First date of the training data.
    pub first_date: NaiveDate,
    /// Last date of the training data (test included).
    pub last_date: NaiveDate,
    /// Last date of the training part (test rows are after it); `None` for a row split.
    pub cutoff: Option<NaiveDate>,
    /// Last date the model itself was fitted on (the calibration rows are after it).
    pub fit_last_date: Option<NaiveDate>,
    /// Days of training dates left out before the test dates (`train.gap_days`): the last
    /// date fitted or calibrated on is at least this many days before the cutoff's next date.
    #[serde(default)]
    pub gap_days: u32,
    /// Every k-th day per user was kept for fitting.
    pub train_stride_days: u32,
    /// Share of users whose calibration and test rows were kept (1: all).
    #[serde(default = "one")]
    pub eval_share: f64,
    /// Rows in each part.
    pub rows: RowCounts,
}

impl TrainingWindow {
    /// The last date fitted or calibrated on: the cutoff less the gap (`None` for a row
    /// split).
    pub fn train_last_date(&self) -> Option<NaiveDate> {
        self.cutoff
            .map(|c| c - chrono::Duration::days(i64::from(self.gap_days)))
    }
}

fn one() -> f64 {
    1.0
}

/// A trained model with everything that describes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// Model name (e.g. `churn_gbm`).
    pub name: String,
    /// Model kind.
    pub kind: ModelKind,
    /// The parameters the model was trained with.
    pub params: serde_json::Value,
    /// The fitted preprocessing, with the ordered feature spec.
    pub preprocessing: Preprocessor,
    /// The fitted model.
    pub model: FittedModel,
    /// Raw log-odds to calibrated probability.
    pub calibrator: Calibrator,
    /// The training window.
    pub training: TrainingWindow,
    /// Fingerprint of the training data (FNV-1a over the schema and every value).
    pub data_fingerprint: String,
    /// The evaluation report.
    pub report: TrainReport,
    /// When the model was trained (the caller's clock).
    pub created_at: DateTime<Utc>,
    /// Version of churn-models that trained it.
    pub crate_version: String,
}

/// Predictions for a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Calibrated churn probability of each row.
    pub churn_risk: Vec<f64>,
    /// Uncalibrated log-odds of each row.
    pub raw_logit: Vec<f64>,
    /// Up to three reasons per row (empty when not asked for, or the model has none).
    pub reasons: Vec<Vec<Reason>>,
}

/// Predictions with each row's top reasons as codes (see [`TopReasons`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CodedPredictions {
    /// Calibrated churn probability of each row.
    pub churn_risk: Vec<f64>,
    /// Uncalibrated log-odds of each row.
    pub raw_logit: Vec<f64>,
    /// Each row's top reasons (empty when not asked for, or the model has none).
    pub reasons: Vec<TopReasons>,
}

impl ModelArtifact {
    /// Writes the artifact as JSON, atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<PathBuf> {
        Ok(churn_data::io::write_json(path, self)?)
    }

    /// Reads an artifact, checking its format version first.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| Error::Artifact {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read the model artifact: {e}")))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Artifact { message, .. } => err(message),
            other => other,
        })
    }

    /// Parses an artifact from JSON, checking its format version first.
    pub fn from_json(text: &str) -> Result<Self> {
        let err = |message: String| Error::Artifact {
            path: PathBuf::from("<json>"),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| err(format!("not a churn model artifact (invalid JSON: {e})")))?;
        match value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(err(format!(
                    "artifact format version {v}, but this churn reads version \
                     {FORMAT_VERSION}; retrain the model with this churn, or score with the \
                     churn that trained it"
                )));
            }
            None => {
                return Err(err(
                    "not a churn model artifact (no format_version field)".to_string()
                ));
            }
        }
        let artifact: Self = serde_json::from_value(value).map_err(|e| {
            err(format!(
                "corrupt model artifact (format version {FORMAT_VERSION}): {e}"
            ))
        })?;
        artifact
            .preprocessing
            .check_layout()
            .map_err(|e| err(format!("corrupt model artifact: {e}")))?;
        Ok(artifact)
    }

    /// The design matrix of these rows, after checking their columns against the spec.
    pub fn design(&self, batches: &[RecordBatch]) -> Result<Design> {
        if let Some(b) = batches.first() {
            self.preprocessing.check_schema(&b.schema())?;
        }
        self.preprocessing.transform(batches)
    }

    /// Scores rows: calibrated churn risk, raw log-odds and (when `reasons`) the top
    /// reasons of each row.
    pub fn predict(&self, batches: &[RecordBatch], reasons: bool) -> Result<Predictions> {
        let x = self.design(batches)?;
        self.predict_design(&x, reasons)
    }

    /// Scores a design matrix made by [`ModelArtifact::design`].
    pub fn predict_design(&self, x: &Design, reasons: bool) -> Result<Predictions> {
        let coded = self.predict_design_coded(x, reasons)?;
        let pre = &self.preprocessing;
        let reasons = coded
            .reasons
            .iter()
            .enumerate()
            .map(|(i, top)| top.as_slice().iter().map(|c| c.reason(pre, x, i)).collect())
            .collect();
        Ok(Predictions {
            churn_risk: coded.churn_risk,
            raw_logit: coded.raw_logit,
            reasons,
        })
    }

    /// [`ModelArtifact::predict_design`] with each row's reasons as codes, not text: what
    /// a caller scoring millions of rows keeps per row (no allocation), writing the labels
    /// with [`crate::reasons::ReasonCode::push_label`] while `x` is at hand.
    pub fn predict_design_coded(&self, x: &Design, reasons: bool) -> Result<CodedPredictions> {
        let (raw_logit, reasons) = if reasons {
            self.model.raw_logit_with_each_contributions(x, |_, c| {
                TopReasons::of(&self.preprocessing, c)
            })?
        } else {
            (self.model.raw_logit(x)?, None)
        };
        let churn_risk = self.calibrator.apply_all(&raw_logit);
        Ok(CodedPredictions {
            churn_risk,
            raw_logit,
            reasons: reasons.unwrap_or_default(),
        })
    }
}
