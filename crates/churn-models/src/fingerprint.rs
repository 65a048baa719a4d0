//! A stable fingerprint of a table's rows, whatever their order: 64-bit FNV-1a and
//! splitmix64 over the schema and every value, the same on every platform and Rust version
//! (unlike `std`'s hasher).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use churn_data::hash::{Fnv1a, mix64};

/// A running FNV-1a hash ([`churn_data::hash::Fnv1a`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fingerprint(Fnv1a);

impl Fingerprint {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0.finish()
    }

    /// The hash of a seed and a string (used to draw per-user offsets).
    pub fn of_str(seed: u64, s: &str) -> u64 {
        let mut f = Fingerprint::default();
        f.write(&seed.to_le_bytes());
        f.write(s.as_bytes());
        f.finish()
    }

    /// `rows64:<hex>` of the schema (names and types) and the rows as a multiset: each
    /// row's values are hashed in column order, and the row hashes are added up. The same
    /// rows give the same fingerprint in any order and split over any batches or files (the
    /// parts of a partitioned run, an export re-sorted); a changed, added or removed row
    /// changes it. A missing value hashes differently from every present one.
    pub fn of_batches(batches: &[RecordBatch]) -> String {
        let mut f = Fingerprint::default();
        if let Some(b) = batches.first() {
            for field in b.schema().fields() {
                f.write(field.name().as_bytes());
                f.write(field.data_type().to_string().as_bytes());
            }
        }
        let (mut rows, mut sum) = (0u64, 0u64);
        for batch in batches {
            let mut row_hashes = vec![f.finish(); batch.num_rows()];
            for col in batch.columns() {
                hash_column(col, &mut row_hashes);
            }
            rows += batch.num_rows() as u64;
            sum = row_hashes
                .iter()
                .fold(sum, |s, &h| s.wrapping_add(mix64(h)));
        }
        f.write(&rows.to_le_bytes());
        f.write(&sum.to_le_bytes());
        format!("rows64:{:016x}", f.finish())
    }
}

/// Folds each value of `col` into its row's hash.
fn hash_column(col: &ArrayRef, rows: &mut [u64]) {
    const NULL: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut fold = |i: usize, v: Option<u64>| {
        rows[i] = mix64(rows[i] ^ v.unwrap_or(NULL));
    };
    match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            if let Ok(s) = cast(col, &DataType::Utf8) {
                for (i, v) in s.as_string::<i32>().iter().enumerate() {
                    fold(i, v.map(|v| Fnv1a::of(v.as_bytes())));
                }
            }
        }
        t if t.is_floating() => {
            if let Ok(a) = cast(col, &DataType::Float64) {
                for (i, v) in a.as_primitive::<Float64Type>().iter().enumerate() {
                    fold(i, v.map(f64::to_bits));
                }
            }
        }
        _ => {
            let ints = cast(col, &DataType::Int64)
                .or_else(|_| cast(col, &DataType::Int32).and_then(|a| cast(&a, &DataType::Int64)));
            if let Ok(a) = ints {
                for (i, v) in a.as_primitive::<Int64Type>().iter().enumerate() {
                    fold(i, v.map(|v| v as u64));
                }
            }
        }
    }
}
