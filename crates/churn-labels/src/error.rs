//! The error type of churn-labels.

/// Result alias of churn-labels.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while labelling or assembling the training set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing or checking the input failed.
    #[error(transparent)]
    Data(#[from] churn_data::Error),
    /// The parameters are invalid.
    #[error("invalid label parameters: {0}")]
    Params(String),
}
