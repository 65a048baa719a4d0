//! # churn-monitor
//!
//! Is the production model still right? Four checks, each a JSON report with history and a
//! Prometheus textfile:
//!
//! - [`psi`] and [`drift`]: the population stability index of every model feature between
//!   the training set and the eligible users of a scored day. Values outside the baseline
//!   range land in the outer buckets (never dropped), missing values have their own bucket.
//! - [`proxy`]: the scored day's risk distribution against the model's test-set scores.
//! - [`realized`](mod@realized): once the label window has passed, predictions against what happened.
//! - [`decide`](mod@decide): retrain when drift FAILs or realized PR-AUC fell too far.
//! - [`prometheus`] and [`export`]: the text exposition format and where reports go.
//!
//! ```
//! use churn_monitor::psi::{PsiParams, Status, psi_numeric};
//!
//! let baseline: Vec<f64> = (1..=100).map(f64::from).collect();
//! let same = psi_numeric("x", &baseline, &baseline, &PsiParams::default());
//! assert_eq!(same.psi, 0.0);
//! // Scaled by 1.5: half the values are beyond the baseline's maximum, in the top bucket.
//! let shifted: Vec<f64> = baseline.iter().map(|v| v * 1.5).collect();
//! let moved = psi_numeric("x", &baseline, &shifted, &PsiParams::default());
//! assert_eq!(moved.status, Status::Fail);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decide;
pub mod drift;
mod error;
pub mod export;
pub mod prometheus;
pub mod proxy;
pub mod psi;
pub mod realized;

pub use decide::{RetrainDecision, decide};
pub use drift::{Baseline, Column, DriftOptions, DriftReport, drift_columns, drift_report};
pub use error::{Error, Result};
pub use proxy::{ProxyReport, score_proxy};
pub use psi::{FeaturePsi, PsiParams, Status};
pub use realized::{RealizedReport, realized};
