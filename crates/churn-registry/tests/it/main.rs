//! churn-registry integration tests.

#![allow(clippy::unwrap_used)]

mod common;
mod concurrency;
mod corrupt;
mod names;
mod promote;
