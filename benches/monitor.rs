//! PSI over 40 features (36 numeric, 4 categorical) of a 5M-row baseline and a 1M-row
//! current sample, in memory. CHURN_BENCH_SMALL=1 divides the rows by 10.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use churn_monitor::{Column, PsiParams, drift_columns};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};

fn numeric(rows: usize, j: usize, shift: f64, rng: &mut rand_chacha::ChaCha8Rng) -> Column {
    let scale = 1.0 + (j % 7) as f64;
    Column::Numeric(
        (0..rows)
            .map(|_| match rng.random_range(0..20) {
                0 => f64::NAN,
                // Zero-inflated like the window counts.
                1..=6 => 0.0,
                _ => (rng.random_range(0.0..scale) * 10.0 * shift).floor(),
            })
            .collect(),
    )
}

fn categorical(rows: usize, shift: f64, rng: &mut rand_chacha::ChaCha8Rng) -> Column {
    let cats: Vec<std::sync::Arc<str>> = ["US", "DE", "IN", "BR", "UK", "FR"]
        .into_iter()
        .map(Into::into)
        .collect();
    Column::Categorical(
        (0..rows)
            .map(|_| {
                let r: f64 = rng.random_range(0.0..1.0) * shift;
                (r < 0.98).then(|| cats[((r * 6.0) as usize).min(5)].clone())
            })
            .collect(),
    )
}

fn bench_psi(c: &mut Criterion) {
    let divide = if std::env::var_os("CHURN_BENCH_SMALL").is_some() {
        10
    } else {
        1
    };
    let (base_rows, cur_rows) = (5_000_000 / divide, 1_000_000 / divide);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let features: Vec<(String, Column, Column)> = (0..40)
        .map(|j| {
            let name = format!("f{j}");
            if j < 36 {
                let b = numeric(base_rows, j, 1.0, &mut rng);
                let c = numeric(cur_rows, j, 1.1, &mut rng);
                (name, b, c)
            } else {
                let b = categorical(base_rows, 1.0, &mut rng);
                let c = categorical(cur_rows, 1.02, &mut rng);
                (name, b, c)
            }
        })
        .collect();
    let mut group = c.benchmark_group("psi");
    group.sample_size(10);
    group.throughput(Throughput::Elements(((base_rows + cur_rows) * 40) as u64));
    let params = PsiParams::default();
    group.bench_function(format!("40_features_{base_rows}x{cur_rows}"), |b| {
        b.iter(|| black_box(drift_columns(&features, &params)))
    });
    group.finish();
}

criterion_group!(benches, bench_psi);
criterion_main!(benches);
