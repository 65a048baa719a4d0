//! Integration tests of churn-data: one binary, one module per stage.

#![allow(clippy::unwrap_used)]

mod generate;
mod io;
mod prepare;
mod prepare_prop;
mod validate;

use std::path::PathBuf;

use arrow::array::RecordBatch;

/// A file under the workspace's fixtures folder.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// Batches rendered as a table, for readable comparisons.
pub fn pretty(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

/// Asserts that batches render exactly as the expected table (leading/trailing space ignored).
#[track_caller]
pub fn assert_table(batches: &[RecordBatch], expected: &str) {
    let actual = pretty(batches);
    let want: Vec<&str> = expected.trim().lines().map(str::trim).collect();
    let got: Vec<&str> = actual.trim().lines().map(str::trim).collect();
    assert_eq!(got, want, "\nactual:\n{actual}\n");
}

/// An events Parquet file whose event_time holds Unix seconds as plain Int64 (users B2 and
/// AAA-2013J-11391 of the tiny fixture, January 2025).
pub fn epoch_seconds_events(dir: &std::path::Path) -> PathBuf {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("event_time", DataType::Int64, false),
        Field::new("event_type", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["B2", "AAA-2013J-11391"])),
            // 2025-01-03 10:00:00 and 2025-01-04 10:00:00 UTC.
            Arc::new(Int64Array::from(vec![1_735_898_400, 1_735_984_800])),
            Arc::new(StringArray::from(vec!["login", "login"])),
        ],
    )
    .unwrap();
    let path = dir.join("events.parquet");
    churn_data::io::write_batches(&path, schema, &[batch]).unwrap();
    path
}
