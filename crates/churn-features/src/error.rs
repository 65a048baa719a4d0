//! The error type of churn-features.

/// Result alias of churn-features.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while computing features.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing or checking the input failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// The parameters are invalid.
    #[error("invalid feature parameters: {0}")]
    Params(String),
}
