//! Model training and prediction throughput (rows/s) on synthetic design matrices of 60
//! columns. Set CHURN_BENCH_LARGE=1 to add 10M-row logistic regression fits.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use churn_benches::synthetic_design;
use churn_models::gbm::GbmParams;
use churn_models::logistic::LogisticParams;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const COLS: usize = 60;

fn large() -> bool {
    std::env::var_os("CHURN_BENCH_LARGE").is_some()
}

fn bench_predict(c: &mut Criterion) {
    let mut group = c.benchmark_group("predict");
    group.sample_size(10);
    let (train, y) = synthetic_design(100_000, COLS, 1);
    // The default boosting shape: 250 trees of depth 6.
    let gbm = GbmParams::default()
        .fit(&train, &y, None, None)
        .expect("gbm fits");
    let lr = LogisticParams::default()
        .fit(&train, &y, None)
        .expect("lr fits");
    let (x, _) = synthetic_design(200_000, COLS, 2);
    group.throughput(Throughput::Elements(x.rows as u64));
    group.bench_with_input(BenchmarkId::new("gbm_flat", x.rows), &x, |b, x| {
        b.iter(|| black_box(gbm.decision_function(x)))
    });
    group.bench_with_input(
        BenchmarkId::new("gbm_flat_contributions", x.rows),
        &x,
        |b, x| b.iter(|| black_box(gbm.decision_function_with_contributions(x))),
    );
    group.bench_with_input(BenchmarkId::new("gbm_forust", x.rows), &x, |b, x| {
        b.iter(|| black_box(gbm.forust_decision_function(x)))
    });
    group.bench_with_input(BenchmarkId::new("lr", x.rows), &x, |b, x| {
        b.iter(|| black_box(lr.decision_function(x).expect("same width")))
    });
    group.finish();
}

fn bench_fit(c: &mut Criterion) {
    let mut group = c.benchmark_group("fit");
    group.sample_size(10);
    let mut sizes = vec![100_000, 1_000_000];
    if large() {
        sizes.push(10_000_000);
    }
    for rows in sizes {
        let (x, y) = synthetic_design(rows, COLS, 3);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("lr", rows), &(x, y), |b, (x, y)| {
            b.iter(|| black_box(LogisticParams::default().fit(x, y, None).expect("fits")))
        });
    }
    let (x, y) = synthetic_design(100_000, COLS, 4);
    group.throughput(Throughput::Elements(x.rows as u64));
    group.bench_with_input(BenchmarkId::new("gbm", x.rows), &(x, y), |b, (x, y)| {
        b.iter(|| black_box(GbmParams::default().fit(x, y, None, None).expect("fits")))
    });
    group.finish();
}

criterion_group!(benches, bench_predict, bench_fit);
criterion_main!(benches);
