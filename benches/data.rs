//! Generate and prepare throughput (events/s) over a size ladder of users × 120 days.
//! Set CHURN_BENCH_LARGE=1 to add the 100k-user rung.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use churn_benches::ladder;
use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::prepare::prepare_batches;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn simulator(n: u64) -> Simulator {
    Simulator::new(&GenerateConfig {
        n_users: n,
        ..GenerateConfig::default()
    })
    .expect("default config is valid")
}

fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for n in ladder() {
        let sim = simulator(n);
        let events = sim
            .chunk(0..n, 1)
            .expect("generation succeeds")
            .1
            .num_rows() as u64;
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| black_box(sim.chunk(0..n, 1).expect("generation succeeds")))
        });
    }
    group.finish();
}

fn bench_prepare(c: &mut Criterion) {
    let mut group = c.benchmark_group("prepare");
    group.sample_size(10);
    let (v, p) = (ValidateConfig::default(), PrepareConfig::default());
    for n in ladder() {
        let (users, events) = simulator(n).chunk(0..n, 1).expect("generation succeeds");
        group.throughput(Throughput::Elements(events.num_rows() as u64));
        let (users, events) = (vec![users], vec![events]);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                black_box(prepare_batches(&users, &events, &v, &p).expect("prepare succeeds"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_generate, bench_prepare);
criterion_main!(benches);
