//! churn-scoring integration tests.
