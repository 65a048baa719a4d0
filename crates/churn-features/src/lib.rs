//! # churn-features
//!
//! Rolling-window and recency features per user and day, computed from the user-day table
//! of churn-data: for each window w (trailing calendar days, today included) the sums
//! `active_days_{w}d`, `events_{w}d`, `logins_{w}d`, `enroll_{w}d`, `watch_minutes_{w}d`,
//! `quiz_attempts_{w}d`, `payment_success_{w}d`, `payment_failed_{w}d`,
//! `support_ticket_{w}d`, the mean of the daily quiz averages `quiz_avg_score_{w}d`, plus
//! `payment_fail_rate_{30}d` and `days_since_last_activity`.
//!
//! Windows are computed by date, not by row, so gaps in a user's days are handled; sums use
//! prefix sums and one moving pointer per window (no per-row allocation); users are processed
//! in chunks in parallel with a deterministic output order.
//!
//! ```
//! use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
//! use churn_data::generate::Simulator;
//! use churn_data::prepare::prepare_batches;
//! use churn_features::{FeatureParams, compute_batches};
//!
//! let sim = Simulator::new(&GenerateConfig { n_users: 10, days: 40, ..Default::default() })?;
//! let (users, events) = sim.chunk(0..10, 1)?;
//! let (daily, _) = prepare_batches(&[users], &[events], &ValidateConfig::default(), &PrepareConfig::default())?;
//! let features = FeatureParams { windows: vec![7, 30] }.check()?;
//! let out = compute_batches(&features, daily.into_iter().map(Ok))?;
//! assert!(out[0].column_by_name("logins_7d").is_some());
//! assert!(out[0].column_by_name("payment_fail_rate_30d").is_some());
//! # Ok::<(), churn_features::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod rolling;

pub use error::{Error, Result};
pub use rolling::{
    FeatureParams, FeatureSummary, Features, compute_batches, compute_file, compute_file_with,
    compute_stream, compute_user_stream, feature_names,
};
