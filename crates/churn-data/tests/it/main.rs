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
