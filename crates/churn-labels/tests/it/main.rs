//! Integration tests of churn-labels.

#![allow(clippy::unwrap_used)]

mod known;
mod pipeline;
mod props;
