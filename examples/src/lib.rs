//! Shared helpers for the churn examples.
