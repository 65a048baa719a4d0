//! churn-registry integration tests.

mod common;
mod concurrency;
mod corrupt;
mod names;
mod promote;
