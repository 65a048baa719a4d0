//! Features and labels throughput (user-days/s) over a size ladder of users × 120 days.
//! Set CHURN_BENCH_LARGE=1 to add the 100k-user rung.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use arrow::array::RecordBatch;
use churn_benches::ladder;
use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::groups::UserGroups;
use churn_data::prepare::prepare_batches;
use churn_features::{FeatureParams, compute_batches};
use churn_labels::LabelParams;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn user_days(n: u64) -> Vec<RecordBatch> {
    let sim = Simulator::new(&GenerateConfig {
        n_users: n,
        ..GenerateConfig::default()
    })
    .expect("valid config");
    let (u, e) = sim.chunk(0..n, 1).expect("generation succeeds");
    prepare_batches(
        &[u],
        &[e],
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .expect("prepare succeeds")
    .0
}

fn bench_features(c: &mut Criterion) {
    let mut group = c.benchmark_group("features");
    group.sample_size(10);
    let set = FeatureParams::default()
        .check()
        .expect("default windows are valid");
    for n in ladder() {
        let daily = user_days(n);
        let rows: usize = daily.iter().map(|b| b.num_rows()).sum();
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                black_box(
                    compute_batches(&set, daily.iter().cloned().map(Ok)).expect("features succeed"),
                )
            })
        });
    }
    group.finish();
}

fn bench_labels(c: &mut Criterion) {
    let mut group = c.benchmark_group("labels");
    group.sample_size(10);
    let labeler = LabelParams::default()
        .check()
        .expect("default label params are valid");
    for n in ladder() {
        let daily = user_days(n);
        let rows: usize = daily.iter().map(|b| b.num_rows()).sum();
        let last = 20_089 + 119;
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut summary = churn_labels::LabelSummary::default();
                for chunk in UserGroups::new("bench", daily.iter().cloned().map(Ok), 65_536) {
                    let chunk = chunk.expect("grouped input");
                    black_box(
                        labeler
                            .labels_batch(&chunk, last, &mut summary)
                            .expect("labels succeed"),
                    );
                }
                summary
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_features, bench_labels);
criterion_main!(benches);
