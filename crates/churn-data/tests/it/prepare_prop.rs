//! Property test: prepare equals an obvious per-user, per-day loop on random inputs with
//! unknown users, unknown types, missing scores and any event order.

use std::sync::Arc;

use arrow::array::{
    Array, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use churn_data::config::{PrepareConfig, ValidateConfig};
use churn_data::prepare::prepare_batches;
use churn_data::schema::{EVENT_TYPES, user_daily as ud};
use proptest::prelude::*;

const DAY: i64 = 86_400_000_000;
const BASE_DAY: i32 = 20_089; // 2025-01-01

#[derive(Debug, Clone)]
struct Ev {
    user: usize, // index into users; == n means an unknown user
    day: i32,
    kind: usize, // index into EVENT_TYPES; == 7 means an unknown type
    value: Option<f64>,
}

fn batches(signups: &[i32], evs: &[Ev]) -> (RecordBatch, RecordBatch) {
    let users = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("signup_date", DataType::Date32, false),
            Field::new("plan", DataType::Utf8, false),
            Field::new("is_paid", DataType::Int32, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..signups.len()).map(|i| format!("u{i}")),
            )),
            Arc::new(Date32Array::from_iter_values(
                signups.iter().map(|s| BASE_DAY + s),
            )),
            Arc::new(StringArray::from_iter_values(
                signups.iter().map(|_| "free"),
            )),
            Arc::new(Int32Array::from_iter_values(signups.iter().map(|_| 0))),
        ],
    )
    .unwrap();
    let types: Vec<&str> = evs
        .iter()
        .map(|e| EVENT_TYPES.get(e.kind).copied().unwrap_or("teleport"))
        .collect();
    let events = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Int64, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("watch_minutes", DataType::Float64, true),
            Field::new("quiz_score", DataType::Float64, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..evs.len() as i64)),
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| format!("u{}", e.user)),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                evs.iter()
                    .enumerate()
                    .map(|(i, e)| i64::from(BASE_DAY + e.day) * DAY + i as i64),
            )),
            Arc::new(StringArray::from_iter_values(types)),
            Arc::new(Float64Array::from_iter(
                evs.iter()
                    .map(|e| (e.kind == 2).then_some(e.value).flatten()),
            )),
            Arc::new(Float64Array::from_iter(
                evs.iter()
                    .map(|e| (e.kind == 3).then_some(e.value).flatten()),
            )),
        ],
    )
    .unwrap();
    (users, events)
}

/// (user, day, total, logins, watch, quiz attempts, quiz average) by the obvious loop.
type Row = (String, i32, i32, i32, f64, i32, Option<f64>);

fn naive(signups: &[i32], evs: &[Ev]) -> Vec<Row> {
    let kept: Vec<&Ev> = evs
        .iter()
        .filter(|e| e.user < signups.len() && e.kind < 7)
        .collect();
    let Some(first) = evs.iter().map(|e| e.day).min() else {
        return vec![];
    };
    let last = evs.iter().map(|e| e.day).max().unwrap();
    let mut rows = Vec::new();
    for (u, &signup) in signups.iter().enumerate() {
        for day in signup.max(first)..=last {
            let today: Vec<&&Ev> = kept
                .iter()
                .filter(|e| e.user == u && e.day == day)
                .collect();
            let of = |k: usize| today.iter().filter(|e| e.kind == k).count() as i32;
            let watch: f64 = today
                .iter()
                .filter(|e| e.kind == 2)
                .map(|e| e.value.unwrap_or(0.0))
                .sum();
            let scores: Vec<f64> = today
                .iter()
                .filter(|e| e.kind == 3)
                .filter_map(|e| e.value)
                .collect();
            let avg =
                (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
            rows.push((
                format!("u{u}"),
                BASE_DAY + day,
                today.len() as i32,
                of(0),
                watch,
                of(3),
                avg,
            ));
        }
    }
    rows
}

fn actual(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in batches {
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let (id, day, total, logins, watch, quiz, avg) = (
            c(ud::USER_ID),
            c(ud::AS_OF_DATE),
            c(ud::TOTAL_EVENTS),
            c(ud::LOGINS_COUNT),
            c(ud::WATCH_MINUTES_SUM),
            c(ud::QUIZ_ATTEMPTS_COUNT),
            c(ud::QUIZ_AVG_SCORE),
        );
        let id = id.as_any().downcast_ref::<StringArray>().unwrap();
        let day = day.as_any().downcast_ref::<Date32Array>().unwrap();
        let i32s = |a: &Arc<dyn Array>| a.as_any().downcast_ref::<Int32Array>().unwrap().clone();
        let (total, logins, quiz) = (i32s(&total), i32s(&logins), i32s(&quiz));
        let watch = watch.as_any().downcast_ref::<Float64Array>().unwrap();
        let avg = avg.as_any().downcast_ref::<Float64Array>().unwrap();
        for r in 0..b.num_rows() {
            rows.push((
                id.value(r).to_string(),
                day.value(r),
                total.value(r),
                logins.value(r),
                watch.value(r),
                quiz.value(r),
                avg.is_valid(r).then(|| avg.value(r)),
            ));
        }
    }
    rows
}

fn close(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let f = |p: f64, q: f64| (p - q).abs() < 1e-9;
            x.0 == y.0
                && x.1 == y.1
                && x.2 == y.2
                && x.3 == y.3
                && f(x.4, y.4)
                && x.5 == y.5
                && match (x.6, y.6) {
                    (Some(p), Some(q)) => f(p, q),
                    (None, None) => true,
                    _ => false,
                }
        })
}

fn inputs() -> impl Strategy<Value = (Vec<i32>, Vec<Ev>, u64)> {
    (1usize..5).prop_flat_map(|n| {
        let signups = proptest::collection::vec(-3i32..6, n);
        let ev = (
            0..=n,
            0i32..10,
            0usize..8,
            proptest::option::of(0.0f64..100.0),
        )
            .prop_map(|(user, day, kind, value)| Ev {
                user,
                day,
                kind,
                value,
            });
        (signups, proptest::collection::vec(ev, 1..60), any::<u64>())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prepare_equals_the_naive_loop_in_any_event_order((signups, mut evs, seed) in inputs()) {
        // Shuffle deterministically from the seed: grouped and ungrouped orders both occur.
        if seed % 2 == 0 {
            evs.sort_by_key(|e| (e.user, e.day));
        } else {
            let k = evs.len();
            for i in 0..k {
                evs.swap(i, ((seed >> (i % 32)) as usize + i * 7) % k);
            }
        }
        let want = naive(&signups, &evs);
        let (users, events) = batches(&signups, &evs);
        let prepared = prepare_batches(&[users], &[events], &ValidateConfig::default(), &PrepareConfig::default());
        // No user-day at all (every user signed up after the last event) is an error.
        if want.is_empty() {
            let err = prepared.unwrap_err().to_string();
            prop_assert!(err.contains("no user-day"), "{err}");
            return Ok(());
        }
        let got = actual(&prepared.unwrap().0);
        prop_assert!(close(&got, &want), "got {got:?}\nwant {want:?}");
    }
}
