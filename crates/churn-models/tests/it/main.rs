//! Integration tests of churn-models.

#![allow(clippy::unwrap_used)]

mod artifact;
mod calibration;
mod common;
mod gbm;
mod logistic;
mod metrics;
mod preprocess;
mod train;
