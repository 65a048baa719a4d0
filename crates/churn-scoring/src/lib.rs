//! # churn-scoring
//!
//! Batch scoring from a model registry. The caller passes a date, or only lookup keys
//! (user_id, as_of_date); the features come from the table named in the model's own
//! feature spec, so no caller can feed a model misaligned columns. Rows are matched by
//! key, never by position: each score is computed from the feature row of its own user.
//!
//! - [`table`]: the feature table, its date range, rows of one date with canonical keys.
//! - [`keys`]: keys-only input, checked (present, parseable, unique).
//! - [`score`]: eligibility, prediction with reasons, ranking (risk descending, ties by
//!   user_id), model and time stamps.
//! - [`output`]: `churn_predictions_<date>` and `churn_top_<K>_<date>` as Parquet and CSV, a
//!   manifest for idempotent re-runs, the `latest.json` pointer.
//! - [`explain`]: one user's score with every feature's value and contribution.
//! - [`run`]: a scoring job from the registry to files, and multi-model plans with
//!   per-model status and SUCCESS / PARTIAL / FAILED.
//!
//! ```
//! use arrow::array::StringArray;
//! use churn_scoring::score::rank_order;
//!
//! // Ties in risk are ranked by user_id.
//! let users = StringArray::from(vec!["c", "a", "b"]);
//! assert_eq!(rank_order(&[0.2, 0.9, 0.2], &users), vec![1, 2, 0]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod explain;
pub mod keys;
pub mod output;
pub mod run;
pub mod score;
mod seen;
pub mod table;

pub use error::{Error, Result};
pub use explain::{Explanation, FeatureContribution};
pub use keys::KeySet;
pub use run::{
    DayOutcome, DayStatus, JobOutcome, ModelRun, ModelStatus, Plan, PlanDefaults, PlanModel,
    RunManifest, RunStatus, ScoreJob, run_job, run_plan,
};
pub use score::{ModelIdentity, OutputKind, ScoreParams, ScoreSummary, ScoredDay, Scorer};
pub use table::{FeatureTable, IdColumns};
