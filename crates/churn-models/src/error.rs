//! The error type of churn-models.

use std::path::PathBuf;

/// Result alias of churn-models.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while preparing data for a model, fitting, evaluating, saving or
/// loading one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or checking data through churn-data failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// The parameters are invalid.
    #[error("invalid model parameters: {0}")]
    Params(String),
    /// The input does not match what the model expects: names the column and the rule.
    #[error("column `{column}`: {rule}")]
    Schema {
        /// The column.
        column: String,
        /// What is wrong, in words.
        rule: String,
    },
    /// The rows cannot be used for this step (empty, a single class, ...).
    #[error("{0}")]
    Input(String),
    /// A model could not be fitted.
    #[error("fitting {model} failed: {message}")]
    Fit {
        /// The model kind.
        model: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A metric is undefined for this input (e.g. ROC AUC with one class).
    #[error("{metric} is undefined: {reason}")]
    Metric {
        /// The metric.
        metric: &'static str,
        /// Why.
        reason: String,
    },
    /// A model artifact could not be read or does not fit this version of churn.
    #[error("{path}: {message}")]
    Artifact {
        /// The artifact file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An Arrow kernel failed; the context says which step.
    #[error("{context}: {source}")]
    Arrow {
        /// The step.
        context: String,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },
}

impl Error {
    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn schema(column: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Schema {
            column: column.into(),
            rule: rule.into(),
        }
    }
}
