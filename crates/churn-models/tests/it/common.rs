//! A small synthetic training table with a known signal.

use std::sync::Arc;

use arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `users` users over `days` dates: `activity` (float, some missing) lowers risk, `tickets`
/// (int) raises it, plan "free" raises it, `constant` never changes.
pub fn table(users: usize, days: i32, seed: u64) -> Vec<RecordBatch> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("signup_date", DataType::Date32, true),
        Field::new("plan", DataType::Utf8, true),
        Field::new("activity", DataType::Float64, true),
        Field::new("tickets", DataType::Int32, true),
        Field::new("constant", DataType::Int32, true),
        Field::new("engagement_score", DataType::Float64, true),
        Field::new("future_active_days", DataType::Int32, false),
        Field::new("churn_label", DataType::Int32, false),
    ]));
    let mut batches = Vec::new();
    for d in 0..days {
        let mut ids = Vec::new();
        let mut plan = Vec::new();
        let mut activity = Vec::new();
        let mut tickets = Vec::new();
        let mut label = Vec::new();
        for u in 0..users {
            ids.push(format!("u{u:05}"));
            let free = rng.random_range(0.0..1.0) < 0.6;
            plan.push(match rng.random_range(0..20) {
                0 => None,
                _ => Some(if free { "free" } else { "paid" }),
            });
            let a: f64 = rng.random_range(0.0..10.0);
            activity.push((rng.random_range(0..10) != 0).then_some(a));
            let t: i32 = rng.random_range(0..4);
            tickets.push(Some(t));
            let z = -1.0 - 0.6 * a + 0.9 * f64::from(t) + if free { 1.0 } else { 0.0 };
            let p = 1.0 / (1.0 + (-z).exp());
            label.push(i32::from(rng.random_range(0.0..1.0) < p));
        }
        let n = users;
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Date32Array::from(vec![20_000 + d; n])),
                    Arc::new(Date32Array::from(vec![19_900; n])),
                    Arc::new(StringArray::from(plan)),
                    Arc::new(Float64Array::from(activity)),
                    Arc::new(Int32Array::from(tickets)),
                    Arc::new(Int32Array::from(vec![7; n])),
                    Arc::new(Float64Array::from(vec![0.5; n])),
                    Arc::new(Int32Array::from(
                        label.iter().map(|l| 1 - l).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int32Array::from(label)),
                ],
            )
            .expect("valid batch"),
        );
    }
    batches
}
