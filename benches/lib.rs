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

/// A design matrix of `rows` × `cols` with values like engagement counts (a tenth of them
/// missing) and 0/1 labels from a logistic model over them, about 10% positive.
pub fn synthetic_design(
    rows: usize,
    cols: usize,
    seed: u64,
) -> (churn_models::preprocess::Design, Vec<f64>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(rows * cols);
    for j in 0..cols {
        let scale = 1.0 + j as f64 % 7.0;
        data.extend((0..rows).map(|_| {
            if rng.random_range(0..10) == 0 {
                f64::NAN
            } else {
                (rng.random_range(0.0..scale) * 4.0).floor()
            }
        }));
    }
    let mut y = vec![0.0; rows];
    for (i, yi) in y.iter_mut().enumerate() {
        let mut z = -2.5;
        for j in 0..cols.min(8) {
            let v = data[j * rows + i];
            if !v.is_nan() {
                z += if j % 2 == 0 { 0.15 } else { -0.1 } * v;
            }
        }
        *yi = f64::from(rng.random_range(0.0..1.0) < 1.0 / (1.0 + (-z).exp()));
    }
    (churn_models::preprocess::Design { rows, cols, data }, y)
}
