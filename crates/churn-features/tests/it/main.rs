//! Integration tests of churn-features.

#![allow(clippy::unwrap_used, clippy::too_many_arguments)]

mod known;
mod naive;

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use churn_data::schema::user_daily_schema;

/// One user-day row of a hand-written input: (user, day offset, active, logins, watch,
/// quiz avg, payment ok, payment failed).
pub type Row = (String, i32, i32, i32, f64, Option<f64>, i32, i32);

/// 2025-01-01 in days since the epoch.
pub const BASE: i32 = 20_089; // 2025-01-01

/// A user_daily batch from hand-written rows (other counts derived or zero).
pub fn user_daily(rows: &[Row]) -> RecordBatch {
    let ints = |f: &dyn Fn(&Row) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(rows.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.clone()),
        )),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| BASE + r.1),
        )),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|_| BASE - 10),
        )),
        ints(&|r| r.1 + 10),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "free"))),
        ints(&|_| 0),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "IN"))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "ads"))),
        ints(&|r| r.2),
        ints(&|r| r.3 + r.6 + r.7),
        ints(&|r| r.3),
        ints(&|_| 0),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))),
        ints(&|r| i32::from(r.5.is_some())),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.5))),
        ints(&|r| r.6),
        ints(&|r| r.7),
        ints(&|_| 0),
    ];
    assert_eq!(cols.len(), user_daily_schema().fields().len());
    RecordBatch::try_new(user_daily_schema(), cols).unwrap()
}
