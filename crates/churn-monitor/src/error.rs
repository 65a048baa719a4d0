//! The error type of churn-monitor.

use std::path::PathBuf;

/// Result alias of churn-monitor.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while monitoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a table failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// A model could not be used.
    #[error(transparent)]
    Models(#[from] churn_models::Error),
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] churn_registry::Error),
    /// The feature table could not be read.
    #[error(transparent)]
    Scoring(#[from] churn_scoring::Error),
    /// An input breaks a rule; names the file, the column and the rule.
    #[error("{path}: column `{column}`: {rule}")]
    Input {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The rule broken.
        rule: String,
    },
    /// Invalid parameters.
    #[error("invalid monitoring parameters: {0}")]
    Params(String),
}
