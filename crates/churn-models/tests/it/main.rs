//! Integration tests of churn-models.

mod artifact;
mod calibration;
mod common;
mod gbm;
mod logistic;
mod metrics;
mod preprocess;
mod train;
