//! A hand-made feature table, a model trained on it and a registry holding it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::clock::FixedClock;
use churn_models::{ModelKind, TrainParams, Trainer, TrainingData};
use churn_registry::{PromotePolicy, Registry};
use churn_scoring::table::{date, days};

pub const USERS: i32 = 120;
pub const DAYS: i32 = 8;

pub fn first_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
}

pub fn last_date() -> NaiveDate {
    date(days(first_date()) + DAYS - 1)
}

pub fn clock() -> FixedClock {
    let t: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
    FixedClock(t)
}

/// Recency of user `u` on day `d`; users 0 and 1 have identical rows on every day (a tie
/// broken by user_id), every 10th user has been inactive for 40+ days (ineligible).
fn recency(u: i32, d: i32) -> i32 {
    if u % 10 == 9 {
        40 + d
    } else {
        (u * 3 + d) % 25
    }
}

fn user_id(u: i32) -> String {
    // Not in numeric order, so ranking by id and by row differ.
    match u {
        0 => "user-b".into(),
        1 => "user-a".into(),
        _ => format!("u{:03}", (u * 37) % 1000),
    }
}

/// The feature table (and, with `labels`, a churn label) in one batch per date.
pub fn batches(labels: bool) -> Vec<RecordBatch> {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("plan", DataType::Utf8, true),
        Field::new("is_paid", DataType::Boolean, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("marketing_source", DataType::Utf8, true),
        Field::new("days_since_signup", DataType::Int32, false),
        Field::new("days_since_last_activity", DataType::Int32, false),
        Field::new("active_days_30d", DataType::Int32, false),
        Field::new("logins_7d", DataType::Float64, true),
    ];
    if labels {
        fields.push(Field::new("churn_label", DataType::Int32, false));
    }
    let schema = Arc::new(Schema::new(fields));
    (0..DAYS)
        .map(|d| {
            let us: Vec<i32> = (0..USERS).map(|u| if u == 1 { 0 } else { u }).collect();
            let rec: Vec<i32> = us.iter().map(|&u| recency(u, d)).collect();
            let logins: Vec<Option<f64>> = us
                .iter()
                .map(|&u| (u % 17 != 5).then_some(f64::from((u * 7) % 13)))
                .collect();
            let paid: Vec<bool> = us.iter().map(|&u| u % 3 == 0).collect();
            let mut columns: Vec<arrow::array::ArrayRef> = vec![
                Arc::new(StringArray::from(
                    (0..USERS).map(user_id).collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(vec![
                    days(first_date()) + d;
                    USERS as usize
                ])),
                Arc::new(StringArray::from(
                    paid.iter()
                        .map(|&p| if p { "paid" } else { "free" })
                        .collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(paid.clone())),
                Arc::new(StringArray::from(
                    us.iter()
                        .map(|&u| ["US", "DE", "IN"][(u % 3) as usize])
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec!["organic"; USERS as usize])),
                Arc::new(Int32Array::from(vec![100 + d; USERS as usize])),
                Arc::new(Int32Array::from(rec.clone())),
                Arc::new(Int32Array::from(
                    rec.iter()
                        .map(|&r| if r < 30 { 30 - r } else { 0 })
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(logins.clone())),
            ];
            if labels {
                columns.push(Arc::new(Int32Array::from(
                    rec.iter()
                        .zip(&logins)
                        .zip(&us)
                        .map(|((&r, l), &u)| {
                            i32::from(r > 15 || l.unwrap_or(0.0) < 3.0 || u % 11 == 0)
                        })
                        .collect::<Vec<_>>(),
                )));
            }
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        })
        .collect()
}

/// A project folder with the feature table and a registry whose `churn@production` is an
/// LR trained on the labelled table (version 1) and version 2 a GBM.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub features: PathBuf,
    pub registry: Registry,
}

pub fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("features.parquet");
    let b = batches(false);
    churn_data::io::write_batches(&features, b[0].schema(), &b).unwrap();
    let data = TrainingData::from_batches(batches(true)).unwrap();
    let mut params = TrainParams::default();
    params.gbm.iterations = 20;
    let trainer = Trainer::new(&data, params).unwrap();
    let registry = Registry::open(&dir.path().join("registry"));
    for kind in [ModelKind::Logistic, ModelKind::Gbm] {
        let artifact = trainer.fit(kind, &clock()).unwrap();
        registry
            .register_artifact("churn", &artifact, &clock())
            .unwrap();
    }
    registry
        .promote("churn", &PromotePolicy::default(), Some(1), &clock())
        .unwrap();
    Project {
        dir,
        features,
        registry,
    }
}

/// Writes keys as CSV.
pub fn keys_csv(path: &Path, keys: &[(String, NaiveDate)]) {
    let mut text = String::from("user_id,as_of_date\n");
    for (u, d) in keys {
        text.push_str(&format!("{u},{d}\n"));
    }
    std::fs::write(path, text).unwrap();
}

pub fn user(u: i32) -> String {
    user_id(u)
}

/// `batch` with column `name` set to `column` (replaced where it exists, else appended).
pub fn with_column(
    batch: &RecordBatch,
    name: &str,
    column: arrow::array::ArrayRef,
    nullable: bool,
) -> RecordBatch {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    let field = Field::new(name, column.data_type().clone(), nullable);
    match batch.schema().index_of(name) {
        Ok(i) => {
            fields[i] = field;
            columns[i] = column;
        }
        Err(_) => {
            fields.push(field);
            columns.push(column);
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}
