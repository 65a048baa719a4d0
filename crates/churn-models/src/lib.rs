//! # churn-models
//!
//! Preprocessing, models, calibration, metrics and self-describing artifacts for churn
//! prediction. Models follow `Params → fit → Fitted`: parameters are checked, fitting
//! returns a different type, and only that type predicts.
//!
//! - [`preprocess`]: feature selection, the ordered feature spec, one-hot encoding.
//! - [`logistic`]: weighted L2 logistic regression solved by Newton's method.
//! - [`gbm`]: gradient boosting with forust-ml, with flattened trees for fast prediction.
//! - [`forest`]: a balanced random forest of smartcore decision trees.
//! - [`calibration`]: Platt and isotonic calibration.
//! - [`metrics`]: average precision, ROC AUC, log loss, Brier, ECE, top-K, ...
//! - [`reasons`]: the top features raising each prediction.
//! - [`artifact`]: the versioned model file, with load-time and predict-time checks.
//! - [`train`]: the time split, calibration period, snapshot stride and the training run.
//!
//! churn-models does no file IO except [`ModelArtifact::save`] and [`ModelArtifact::load`].
//!
//! ```
//! use churn_models::preprocess::Design;
//! use churn_models::logistic::LogisticParams;
//!
//! // One feature, churners have larger values.
//! let x = Design { rows: 6, cols: 1, data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0] };
//! let y = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
//! let model = LogisticParams::default().fit(&x, &y, None).unwrap();
//! let p = model.predict_proba(&x).unwrap();
//! assert!(model.coef[0] > 0.0 && p[5] > p[0]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod artifact;
pub mod calibration;
mod error;
pub mod fingerprint;
pub mod forest;
pub mod gbm;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod preprocess;
pub mod reasons;
pub mod train;

/// The version of churn-models, recorded in every artifact it trains
/// ([`ModelArtifact::crate_version`]).
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub use artifact::{CodedPredictions, FORMAT_VERSION, ModelArtifact, Predictions};
pub use calibration::{CalibrationMethod, Calibrator};
pub use error::{Error, Result};
pub use model::{FittedModel, ModelKind};
pub use train::{RowPlan, TrainParams, TrainReport, Trainer, TrainingData};
