//! The error type of churn-scoring.

use std::path::PathBuf;

/// Result alias of churn-scoring.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while scoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a table failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// The model could not score the rows.
    #[error(transparent)]
    Models(#[from] churn_models::Error),
    /// The feature table does not fit the model (e.g. lacks a column it needs).
    #[error("{path}: {source}")]
    Features {
        /// The feature table.
        path: PathBuf,
        /// What the model found wrong.
        source: churn_models::Error,
    },
    /// The model could not be found or loaded.
    #[error(transparent)]
    Registry(#[from] churn_registry::Error),
    /// An Arrow kernel failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// An input breaks a rule; names the file, the column, the rule and examples.
    #[error("{path}: column `{column}`: {rule}{}", examples_text(.examples))]
    Input {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The rule broken.
        rule: String,
        /// A few offending values.
        examples: Vec<String>,
    },
    /// The date asked for is not in the feature table.
    #[error(
        "{path}: no rows for as_of_date {date}; the table covers {first} .. {last} \
         (pass --as-of-date within that range, or rebuild the features)"
    )]
    UnknownDate {
        /// The feature table.
        path: PathBuf,
        /// The date asked for.
        date: chrono::NaiveDate,
        /// First date in the table.
        first: chrono::NaiveDate,
        /// Last date in the table.
        last: chrono::NaiveDate,
    },
    /// A multi-model plan that cannot be used.
    #[error("{path}: {message}")]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Invalid parameters.
    #[error("invalid scoring parameters: {0}")]
    Params(String),
}

fn examples_text(examples: &[String]) -> String {
    if examples.is_empty() {
        String::new()
    } else {
        format!(" (e.g. {})", examples.join(", "))
    }
}

impl Error {
    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }

    /// Whether the error means the model (or its version or alias) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Registry(e) if e.is_not_found())
    }
}
