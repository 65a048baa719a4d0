//! churn-monitor integration tests.

#![allow(clippy::unwrap_used)]

mod prom;
mod psi_known;
mod psi_props;
mod reports;
