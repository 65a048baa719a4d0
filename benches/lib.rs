//! Criterion benchmarks of the churn hot paths; run `cargo bench -p churn-benches`.
//! This library holds what the bench targets share.

/// The size ladder in users (× 120 days): 1k and 10k, plus 100k with CHURN_BENCH_LARGE=1.
pub fn ladder() -> Vec<u64> {
    let mut sizes = vec![1_000, 10_000];
    if std::env::var_os("CHURN_BENCH_LARGE").is_some() {
        sizes.push(100_000);
    }
    sizes
}
