//! Criterion benchmarks of the churn hot paths; run `cargo bench -p churn-benches`.
