//! A stable fingerprint of a table: 64-bit FNV-1a over the schema and every value, the same
//! on every platform and Rust version (unlike `std`'s hasher).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use churn_data::hash::Fnv1a;

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

    /// `fnv1a64:<hex>` of the schema (names and types) and every value, row order included.
    /// A missing value hashes differently from every present one.
    pub fn of_batches(batches: &[RecordBatch]) -> String {
        let mut f = Fingerprint::default();
        if let Some(b) = batches.first() {
            for field in b.schema().fields() {
                f.write(field.name().as_bytes());
                f.write(field.data_type().to_string().as_bytes());
            }
        }
        for batch in batches {
            for col in batch.columns() {
                f.hash_column(col);
            }
        }
        format!("fnv1a64:{:016x}", f.finish())
    }

    fn hash_column(&mut self, col: &arrow::array::ArrayRef) {
        let null = |f: &mut Fingerprint| f.write(&[0xff, 0x00]);
        match col.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _) => {
                if let Ok(s) = cast(col, &DataType::Utf8) {
                    for v in s.as_string::<i32>() {
                        match v {
                            Some(v) => {
                                self.write(&(v.len() as u64).to_le_bytes());
                                self.write(v.as_bytes());
                            }
                            None => null(self),
                        }
                    }
                }
            }
            t if t.is_floating() => {
                if let Ok(a) = cast(col, &DataType::Float64) {
                    for v in a.as_primitive::<Float64Type>() {
                        match v {
                            Some(v) => self.write(&v.to_bits().to_le_bytes()),
                            None => null(self),
                        }
                    }
                }
            }
            _ => {
                let ints = cast(col, &DataType::Int64).or_else(|_| {
                    cast(col, &DataType::Int32).and_then(|a| cast(&a, &DataType::Int64))
                });
                if let Ok(a) = ints {
                    for v in a.as_primitive::<Int64Type>() {
                        match v {
                            Some(v) => self.write(&v.to_le_bytes()),
                            None => null(self),
                        }
                    }
                }
            }
        }
    }
}
