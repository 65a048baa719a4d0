//! Feature selection and encoding on a hand-made batch.

use std::sync::Arc;

use arrow::array::{BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use churn_models::preprocess::{FeatureKind, PreprocessParams};

fn batch(plans: Vec<Option<&str>>, x: Vec<Option<f64>>) -> RecordBatch {
    let n = plans.len();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("as_of_date", DataType::Date32, false),
            Field::new("signup_date", DataType::Date32, true),
            Field::new("plan", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("same", DataType::Int32, true),
            Field::new("engagement_score", DataType::Float64, true),
            Field::new("future_active_days", DataType::Int32, false),
            Field::new("churn_label", DataType::Int32, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["a"; n])),
            Arc::new(Date32Array::from(vec![1; n])),
            Arc::new(Date32Array::from(vec![0; n])),
            Arc::new(StringArray::from(plans)),
            Arc::new(Float64Array::from(x)),
            Arc::new(BooleanArray::from(
                (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from(vec![3; n])),
            Arc::new(Float64Array::from(vec![0.9; n])),
            Arc::new(Int32Array::from(vec![0; n])),
            Arc::new(Int32Array::from(vec![1; n])),
        ],
    )
    .unwrap()
}

#[test]
fn selects_encodes_and_drops_constants() {
    let train = batch(
        vec![Some("paid"), Some("free"), None],
        vec![Some(1.0), None, Some(3.0)],
    );
    // Only the first two rows are fitting rows: x = 1 and missing there is constant.
    let pre = PreprocessParams::default()
        .fit(std::slice::from_ref(&train), Some(&[true, true, false]))
        .unwrap();
    let names: Vec<&str> = pre.features.iter().map(|f| f.name.as_str()).collect();
    // Keys, dates, labels and engagement_score are never features; x and same are constant.
    assert_eq!(names, ["plan", "flag"]);
    assert_eq!(pre.dropped, ["x", "same"]);
    assert_eq!(pre.features[0].kind, FeatureKind::Categorical);
    assert_eq!(pre.features[0].arrow_type, "Utf8");
    assert_eq!(pre.features[0].lookup_keys, ["user_id", "as_of_date"]);
    assert_eq!(pre.column_names(), ["plan=free", "plan=paid", "flag"]);

    // All fitting rows: the missing plan is a category and x varies.
    let pre = PreprocessParams::default()
        .fit(std::slice::from_ref(&train), None)
        .unwrap();
    assert_eq!(
        pre.column_names(),
        ["plan=free", "plan=missing", "plan=paid", "x", "flag"]
    );
    let new = batch(
        vec![Some("trial"), None, Some("paid")],
        vec![Some(f64::INFINITY), Some(2.5), Some(1.0)],
    );
    let d = pre.transform(&[new]).unwrap();
    // An unknown category sets no column; a missing one sets plan=missing.
    assert_eq!(d.row(0)[..3], [0.0, 0.0, 0.0]);
    assert_eq!(d.row(1)[..3], [0.0, 1.0, 0.0]);
    assert_eq!(d.row(2)[..3], [0.0, 0.0, 1.0]);
    // A non-finite number is missing.
    assert!(d.get(0, 3).is_nan());
    assert_eq!((d.get(1, 3), d.get(2, 4)), (2.5, 1.0));
}

#[test]
fn a_missing_or_mistyped_column_is_named() {
    let train = batch(vec![Some("paid"), Some("free")], vec![Some(1.0), Some(2.0)]);
    let pre = PreprocessParams::default()
        .fit(std::slice::from_ref(&train), None)
        .unwrap();
    let without_x = train.project(&[0, 1, 2, 3, 5, 6, 7, 8, 9]).unwrap();
    let err = pre.transform(&[without_x]).unwrap_err().to_string();
    assert!(err.contains("`x`") && err.contains("missing"), "{err}");
    let mut cols = train.columns().to_vec();
    cols[4] = Arc::new(StringArray::from(vec!["1", "2"]));
    let mut fields: Vec<Field> = train
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[4] = Field::new("x", DataType::Utf8, true);
    let wrong = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let err = pre.transform(&[wrong]).unwrap_err().to_string();
    assert!(
        err.contains("`x`") && err.contains("wrong type") && err.contains("Float64"),
        "{err}"
    );
}

#[test]
fn unusable_types_and_empty_selections_are_errors() {
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("tags", DataType::new_list(DataType::Utf8, true), true),
    ]);
    let err = PreprocessParams::default()
        .select(&schema)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tags`") && err.contains("exclude_features"),
        "{err}"
    );
    let only_keys = Schema::new(vec![Field::new("user_id", DataType::Utf8, false)]);
    assert!(PreprocessParams::default().select(&only_keys).is_err());
}
