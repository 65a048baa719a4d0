//! Decisions as Arrow record batches, and candidates read from a predictions file.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::days::{date_saturating, day_of};

use crate::error::{Error, Result};
use crate::rules::{Candidate, Decision};

/// The columns of the decisions table, in order.
pub fn decisions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("churn_risk", DataType::Float64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("params", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("model_name", DataType::Utf8, false),
        Field::new("model_version", DataType::UInt32, false),
        Field::new(
            "decided_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]))
}

/// Decisions as one record batch (`params` as a JSON object).
pub fn to_batch(decisions: &[Decision]) -> Result<RecordBatch> {
    let strings = |f: &dyn Fn(&Decision) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(decisions.iter().map(f)))
    };
    let params: Vec<String> = decisions
        .iter()
        .map(|d| serde_json::to_string(&d.params).unwrap_or_else(|_| "{}".into()))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        strings(&|d| &d.user_id),
        Arc::new(Date32Array::from_iter_values(
            decisions.iter().map(|d| day_of(d.as_of_date)),
        )),
        Arc::new(Float64Array::from_iter_values(
            decisions.iter().map(|d| d.churn_risk),
        )),
        Arc::new(Float64Array::from_iter_values(
            decisions.iter().map(|d| d.score),
        )),
        strings(&|d| &d.action),
        Arc::new(StringArray::from_iter_values(params)),
        strings(&|d| &d.reason),
        strings(&|d| &d.rule),
        strings(&|d| &d.model_name),
        Arc::new(UInt32Array::from_iter_values(
            decisions.iter().map(|d| d.model_version),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                decisions.iter().map(|d| d.decided_at.timestamp_micros()),
            )
            .with_timezone("+00:00"),
        ),
    ];
    RecordBatch::try_new(decisions_schema(), columns)
        .map_err(|e| churn_data::Error::arrow("building the decisions batch", e).into())
}

fn column(path: &Path, b: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let c = b.column_by_name(name).ok_or_else(|| Error::Input {
        path: path.to_path_buf(),
        column: name.to_string(),
        rule: "required column is missing".into(),
        examples: vec![],
    })?;
    cast(c, to).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        column: name.to_string(),
        rule: format!("must be {to}: {e}"),
        examples: vec![],
    })
}

/// A decisions batch with exactly the columns and types of [`decisions_schema`] (cast by
/// name), or an error naming the file and the column.
pub(crate) fn conform(path: &Path, b: &RecordBatch) -> Result<RecordBatch> {
    let schema = decisions_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| column(path, b, f.name(), f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        column: "*".into(),
        rule: format!("not a decisions table: {e}"),
        examples: vec![],
    })
}

fn optional(b: &RecordBatch, name: &str, to: &DataType) -> Option<ArrayRef> {
    b.column_by_name(name).and_then(|c| cast(c, to).ok())
}

/// Reads decisions written by [`to_batch`] (the Parquet sink's file).
pub fn from_batches(path: &Path, batches: &[RecordBatch]) -> Result<Vec<Decision>> {
    let mut out = Vec::new();
    for b in batches {
        let s = |n: &str| column(path, b, n, &DataType::Utf8);
        let (user, action, params, reason, rule, model) = (
            s("user_id")?,
            s("action")?,
            s("params")?,
            s("reason")?,
            s("rule")?,
            s("model_name")?,
        );
        let dates = column(path, b, "as_of_date", &DataType::Date32)?;
        let risk = column(path, b, "churn_risk", &DataType::Float64)?;
        let score = column(path, b, "score", &DataType::Float64)?;
        let version = column(path, b, "model_version", &DataType::UInt32)?;
        let at = column(
            path,
            b,
            "decided_at",
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        )?;
        let text = |a: &ArrayRef, i: usize| a.as_string::<i32>().value(i).to_string();
        for i in 0..b.num_rows() {
            let params: BTreeMap<String, f64> =
                serde_json::from_str(&text(&params, i)).map_err(|e| Error::Input {
                    path: path.to_path_buf(),
                    column: "params".into(),
                    rule: format!("must be a JSON object of numbers: {e}"),
                    examples: vec![text(&params, i)],
                })?;
            out.push(Decision {
                user_id: text(&user, i),
                as_of_date: date_saturating(dates.as_primitive::<Date32Type>().value(i)),
                churn_risk: risk
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(i),
                score: score
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(i),
                action: text(&action, i),
                params,
                reason: text(&reason, i),
                rule: text(&rule, i),
                model_name: text(&model, i),
                model_version: version
                    .as_primitive::<arrow::datatypes::UInt32Type>()
                    .value(i),
                decided_at: DateTime::<Utc>::from_timestamp_micros(
                    at.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .value(i),
                )
                .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Reads the candidates of a predictions file (as `churn score` writes it): one per
/// (user_id, as_of_date); churn_risk must be a probability; an empty file is an error.
pub fn read_predictions(path: &Path) -> Result<Vec<Candidate>> {
    // Batch by batch (each dropped once converted), into a vector sized for the file: a
    // million candidates never wait beside the table they came from or a doubled vector.
    let reader = churn_data::io::TableReader::open(path, None, churn_data::io::DEFAULT_BATCH_SIZE)?;
    let rows = churn_data::io::parquet_row_count(path).unwrap_or(0);
    let mut out = Vec::with_capacity(usize::try_from(rows).unwrap_or(0));
    let mut bad_risk = Vec::new();
    for b in reader {
        let b = &b?;
        let user = column(path, b, "user_id", &DataType::Utf8)?;
        let dates = column(path, b, "as_of_date", &DataType::Date32)?;
        let risk = column(path, b, "churn_risk", &DataType::Float64)?;
        let model = column(path, b, "model_name", &DataType::Utf8)?;
        let version = column(path, b, "model_version", &DataType::UInt32)?;
        let plan = optional(b, "plan", &DataType::Utf8);
        let paid = optional(b, "is_paid", &DataType::Boolean);
        let country = optional(b, "country", &DataType::Utf8);
        let source = optional(b, "marketing_source", &DataType::Utf8);
        let signup = optional(b, "days_since_signup", &DataType::Int64);
        let inactive = optional(b, "days_since_last_activity", &DataType::Int64);
        let reasons: Vec<ArrayRef> = (1..=3)
            .filter_map(|i| optional(b, &format!("reason_{i}"), &DataType::Utf8))
            .collect();
        let text = |a: &Option<ArrayRef>, i: usize| {
            a.as_ref()
                .filter(|a| a.is_valid(i))
                .map(|a| a.as_string::<i32>().value(i).to_string())
        };
        let int = |a: &Option<ArrayRef>, i: usize| {
            a.as_ref()
                .filter(|a| a.is_valid(i))
                .map(|a| a.as_primitive::<arrow::datatypes::Int64Type>().value(i))
        };
        for i in 0..b.num_rows() {
            let (user_id, d) = (
                (user.is_valid(i)).then(|| user.as_string::<i32>().value(i).to_string()),
                (dates.is_valid(i))
                    .then(|| date_saturating(dates.as_primitive::<Date32Type>().value(i))),
            );
            let (Some(user_id), Some(d)) = (user_id, d) else {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    column: "user_id".into(),
                    rule: "every row needs a user_id and an as_of_date".into(),
                    examples: vec![format!("row {}", out.len() + 1)],
                });
            };
            let r = risk.as_primitive::<arrow::datatypes::Float64Type>();
            let p = if r.is_valid(i) { r.value(i) } else { f64::NAN };
            if !(0.0..=1.0).contains(&p) {
                bad_risk.push(format!("{user_id}: {p}"));
                continue;
            }
            out.push(Candidate {
                user_id,
                as_of_date: d,
                churn_risk: p,
                plan: text(&plan, i),
                is_paid: paid
                    .as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.as_boolean().value(i)),
                country: text(&country, i),
                marketing_source: text(&source, i),
                days_since_signup: int(&signup, i),
                days_since_last_activity: int(&inactive, i),
                reasons: reasons
                    .iter()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.as_string::<i32>().value(i).to_string())
                    .collect(),
                model_name: model.as_string::<i32>().value(i).to_string(),
                model_version: version
                    .as_primitive::<arrow::datatypes::UInt32Type>()
                    .value(i),
            });
        }
    }
    let fail = |column: &str, rule: &str, bad: Vec<String>| Error::Input {
        path: path.to_path_buf(),
        column: column.into(),
        rule: format!("{} rows: {rule}", bad.len()),
        examples: bad.into_iter().take(3).collect(),
    };
    if !bad_risk.is_empty() {
        return Err(fail(
            "churn_risk",
            "must be a probability in [0, 1]",
            bad_risk,
        ));
    }
    // Ids are borrowed from the candidates, not copied.
    let mut seen: HashSet<(&str, NaiveDate)> = HashSet::with_capacity(out.len());
    let duplicates: Vec<String> = out
        .iter()
        .filter(|c| !seen.insert((c.user_id.as_str(), c.as_of_date)))
        .map(|c| format!("{} {}", c.user_id, c.as_of_date))
        .collect();
    drop(seen);
    if !duplicates.is_empty() {
        return Err(fail(
            "user_id",
            "duplicate (user_id, as_of_date): a user is decided once per date",
            duplicates,
        ));
    }
    if out.is_empty() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            column: "user_id".into(),
            rule: "the predictions file has no rows: nothing to decide".into(),
            examples: vec![],
        });
    }
    Ok(out)
}
