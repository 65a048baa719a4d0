//! # churn-labels
//!
//! Forward-looking churn labels (`future_active_days` = active days in (d, d + window],
//! `churn_label` = 1 when it is 0; the last `window` days of data are unlabelled), the
//! eligibility rule (active within the previous `active_within_days` days, today included),
//! the training set (features joined with labels, eligible rows with complete look-back
//! windows only) and the time split.
//!
//! ```
//! use churn_labels::{eligible, future_active_days};
//!
//! let dates: Vec<i32> = (0..10).collect();
//! let active = [true, false, false, true, false, false, false, false, false, false].map(|a| a);
//! let future = future_active_days(&dates, &active, 3);
//! assert_eq!(&future[..7], &[1, 1, 1, 0, 0, 0, 0]);
//! assert_eq!(eligible(&dates, &active, 2)[..4], [true, true, false, true]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod label;
pub mod split;
pub mod trainset;

pub use error::{Error, Result};
pub use label::{
    LabelParams, LabelSummary, Labeler, eligible, eligible_from_recency, future_active_days,
    labels_schema, last_date,
};
pub use split::{Split, plan_split, test_mask};
pub use trainset::{
    PipelineSummary, TrainsetParams, TrainsetSummary, build_trainset, conform_table,
    features_labels_trainset, trainset_schema,
};
