//! The error type of churn-decisions.

use std::path::PathBuf;

/// Result alias of churn-decisions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while deciding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a table failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// The rules file cannot be used; names the file, the line and the rule.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Rules {
        /// The rules file.
        path: PathBuf,
        /// The line (1-based) of the offending rule or key, when known.
        line: Option<usize>,
        /// What is wrong, naming the rule.
        message: String,
    },
    /// An input breaks a rule; names the file, the column, the rule and examples.
    #[error("{path}: column `{column}`: {rule}{}", if examples.is_empty() { String::new() } else { format!(" (e.g. {})", examples.join(", ")) })]
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
    /// The database refused or the connection broke; what was committed stays.
    #[error("PostgreSQL: {context}: {message}")]
    Postgres {
        /// What was being done.
        context: String,
        /// The server's message (with its SQLSTATE, detail and hint), or the driver's.
        message: String,
        /// The driver's error (its text is in `message`, so it is not chained again).
        driver: postgres::Error,
    },
    /// Invalid parameters.
    #[error("invalid decision parameters: {0}")]
    Params(String),
}

impl Error {
    pub(crate) fn pg(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> Self {
        let context = context.into();
        move |source| {
            let message = match source.as_db_error() {
                Some(db) => {
                    let mut m = format!("{} [{}]", db.message(), db.code().code());
                    if let Some(d) = db.detail() {
                        m.push_str(&format!("; {d}"));
                    }
                    if let Some(h) = db.hint() {
                        m.push_str(&format!(" (hint: {h})"));
                    }
                    m
                }
                None => {
                    let mut m = source.to_string();
                    if let Some(cause) = std::error::Error::source(&source).map(|c| c.to_string())
                        && !m.contains(&cause)
                    {
                        m.push_str(&format!(": {cause}"));
                    }
                    m
                }
            };
            Error::Postgres {
                context,
                message,
                driver: source,
            }
        }
    }
}
