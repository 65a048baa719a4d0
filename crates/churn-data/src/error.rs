//! The error type of churn-data: every variant names what a person needs to fix the input.

use std::path::PathBuf;

/// Result alias used across churn-data.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, checking, generating or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read, written or renamed.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// What was being done ("open", "create", "rename", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid for the format its extension names (bad CSV, truncated Parquet...).
    #[error("{path}: cannot read as {format}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// "csv" or "parquet".
        format: &'static str,
        /// What the decoder said, with advice when there is any.
        message: String,
    },
    /// A file's extension is not one churn reads or writes.
    #[error("{path}: unsupported file extension (expected .csv or .parquet)")]
    UnsupportedExtension {
        /// The file.
        path: PathBuf,
    },
    /// A folder given as a table holds no data file, files of two formats, or files whose
    /// columns differ.
    #[error("{path}: {message}")]
    Folder {
        /// The folder, or the file that differs.
        path: PathBuf,
        /// What is wrong, with the files involved.
        message: String,
    },
    /// A rule of a table's contract is broken: names the file, column, rule and examples.
    #[error("{path}: column `{column}`: {rule}{}", examples_suffix(examples))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The column (or "*" for the whole file).
        column: String,
        /// The rule that is broken, in words.
        rule: String,
        /// A few offending values or rows.
        examples: Vec<String>,
    },
    /// The configuration is invalid (unknown key, wrong type, value out of range).
    #[error("config {source_name}: {message}")]
    Config {
        /// Where the configuration came from (a path, or "defaults").
        source_name: String,
        /// What is wrong and where.
        message: String,
    },
    /// A partition (`i/N`, see [`crate::partition`]) that cannot be: N out of range, or i
    /// not below N.
    #[error("partition `{given}`: {message}")]
    Partition {
        /// The partition as given.
        given: String,
        /// What is wrong.
        message: String,
    },
    /// An Arrow kernel failed; the context says which step.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being computed.
        context: String,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A Parquet writer failed.
    #[error("{path}: writing parquet: {source}")]
    ParquetWrite {
        /// The file being written.
        path: PathBuf,
        /// The Parquet error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// JSON serialization failed.
    #[error("{path}: writing json: {source}")]
    Json {
        /// The file being written.
        path: PathBuf,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
}

fn examples_suffix(examples: &[String]) -> String {
    if examples.is_empty() {
        String::new()
    } else {
        format!(" (examples: {})", examples.join(", "))
    }
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(
        path: impl Into<PathBuf>,
        column: impl Into<String>,
        rule: impl Into<String>,
        examples: Vec<String>,
    ) -> Self {
        Error::Invalid {
            path: path.into(),
            column: column.into(),
            rule: rule.into(),
            examples,
        }
    }

    /// Builds an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// Wraps an Arrow error with the step that failed.
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }
}
