//! churn-scoring integration tests.

#![allow(clippy::unwrap_used)]

mod common;
mod plan;
mod scoring;
