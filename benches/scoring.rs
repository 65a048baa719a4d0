//! The scoring hot path: look the features of one date up in a Parquet feature table,
//! keep eligible users, predict with a 250-tree GBM, rank (users/s). 10k and 100k users;
//! CHURN_BENCH_LARGE=1 adds 1M. A second group adds the top-3 reasons.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use churn_benches::ScoringFixture;
use churn_data::clock::FixedClock;
use churn_models::ModelKind;
use churn_scoring::{FeatureTable, IdColumns, ModelIdentity, ScoreParams, Scorer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn sizes() -> Vec<usize> {
    let mut sizes = vec![10_000, 100_000];
    if std::env::var_os("CHURN_BENCH_LARGE").is_some() {
        sizes.push(1_000_000);
    }
    sizes
}

fn bench_scoring(c: &mut Criterion) {
    let fixture = ScoringFixture::new(ModelKind::Gbm);
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let identity = ModelIdentity {
        name: "churn".into(),
        version: 1,
    };
    for (group_name, reasons) in [("score_gbm", false), ("score_gbm_reasons", true)] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        let params = ScoreParams {
            reasons,
            ..ScoreParams::default()
        };
        let scorer =
            Scorer::new(&fixture.artifact, identity.clone(), params).expect("valid params");
        for n in sizes() {
            let (date, path) = fixture.one_date_table(n);
            let table = FeatureTable::open(&path, IdColumns::default()).expect("table");
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    black_box(
                        scorer
                            .score_date(&table, date, None, &clock)
                            .expect("scoring succeeds"),
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_scoring);
criterion_main!(benches);
