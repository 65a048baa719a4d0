//! The error type of churn-registry.

use std::path::PathBuf;

/// Result alias of churn-registry.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or checking a model artifact failed.
    #[error(transparent)]
    Models(#[from] churn_models::Error),
    /// Writing a file failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// A file or folder operation failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A model name or alias that could escape the registry folder or is otherwise unusable.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// "model name" or "alias".
        what: &'static str,
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A model reference that does not parse.
    #[error("invalid model reference `{text}`: {reason} (use NAME, NAME@ALIAS or NAME/VERSION)")]
    InvalidRef {
        /// The reference given.
        text: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A model, version or alias that does not exist.
    #[error("{what} not found in the registry at {root}{hint}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// The registry folder.
        root: PathBuf,
        /// What exists instead.
        hint: String,
    },
    /// A registry file that cannot be parsed or does not match its record.
    #[error("{path}: corrupt registry file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another writer held the registry lock for too long.
    #[error(
        "{path}: another churn process has held the registry lock for {seconds} s; \
         retry when it finishes (or raise registry.lock_timeout_secs)"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// Seconds waited.
        seconds: u64,
    },
    /// A metric name that promotion does not know.
    #[error("unknown metric `{0}`: use pr_auc, roc_auc, log_loss or brier")]
    Metric(String),
    /// An alias that cannot be rolled back, or a request that does not apply.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// Whether the error means the model, version or alias does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
