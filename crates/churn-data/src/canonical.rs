//! Coercion of raw batches (CSV text or Parquet of any reasonable type) to the canonical
//! column types of a table contract, recording every value that could not be converted.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::schema::{ColumnSpec, schema_of};
use crate::{Error, Result};

/// A value that could not be converted to its column's type.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailures {
    /// Column name.
    pub column: &'static str,
    /// The canonical type the column needed.
    pub expected: DataType,
    /// How many values failed in this batch.
    pub count: u64,
    /// Up to `max_examples` of them, with their row number within the batch.
    pub examples: Vec<(usize, String)>,
    /// Every row of the batch whose value failed (null in the canonical batch although the
    /// input had a value), so a check for missing values need not report it again.
    pub failed: Vec<bool>,
}

/// Checks that every required column of `spec` is in `schema`; returns the missing ones.
pub fn missing_required(schema: &Schema, spec: &[ColumnSpec]) -> Vec<&'static str> {
    spec.iter()
        .filter(|c| c.required && schema.index_of(c.name).is_err())
        .map(|c| c.name)
        .collect()
}

/// "columns present: a, b, c" — the example every missing-column message carries.
/// When a CSV's header is one column holding another separator (a spreadsheet's `;` or tab
/// export), says so.
pub fn columns_present(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut text = format!("columns present: {}", names.join(", "));
    if let [only] = names.as_slice()
        && let Some(sep) = [';', '\t', '|'].into_iter().find(|c| only.contains(*c))
    {
        let shown = if sep == '\t' {
            "tab".to_string()
        } else {
            format!("'{sep}'")
        };
        text.push_str(&format!(
            " (one column whose name holds {shown}: the file looks {shown}-separated; \
             CSV inputs must be comma-separated)"
        ));
    }
    text
}

/// Fails with an error naming `path`, the first of `required` that `schema` lacks, and the
/// columns present.
pub fn require_columns(
    path: impl AsRef<std::path::Path>,
    schema: &Schema,
    required: &[&str],
) -> Result<()> {
    match required.iter().find(|c| schema.index_of(c).is_err()) {
        Some(col) => Err(Error::invalid(
            path.as_ref(),
            *col,
            "required column is missing",
            vec![columns_present(schema)],
        )),
        None => Ok(()),
    }
}

/// The rule a number in a date or timestamp column breaks.
pub const NUMERIC_TIME_RULE: &str = "a date or timestamp column must hold dates or timestamps \
     (a Parquet DATE/TIMESTAMP, or text such as 2025-01-31 or 2025-01-31 14:05:00), not numbers: \
     a number's unit (days, seconds, milliseconds or microseconds since 1970, or 20250131) \
     cannot be told; convert the column before loading it";

/// Columns of `schema` that `spec` types as a date or timestamp but that hold numbers, with
/// their type: Arrow would read an integer as days or microseconds since 1970, so epoch
/// seconds would silently land in January 1970.
pub fn numeric_times(schema: &Schema, spec: &[ColumnSpec]) -> Vec<(&'static str, DataType)> {
    spec.iter()
        .filter(|c| {
            matches!(
                (c.data_type)(),
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
            )
        })
        .filter_map(|c| {
            let field = schema.field_with_name(c.name).ok()?;
            let t = field.data_type();
            (t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..)))
                .then(|| (c.name, t.clone()))
        })
        .collect()
}

/// Fails, naming `path`, when a date or timestamp column of `spec` holds numbers (see
/// [`numeric_times`]).
pub fn require_time_types(
    path: impl AsRef<std::path::Path>,
    schema: &Schema,
    spec: &[ColumnSpec],
) -> Result<()> {
    match numeric_times(schema, spec).into_iter().next() {
        Some((column, t)) => Err(Error::invalid(
            path.as_ref(),
            column,
            NUMERIC_TIME_RULE,
            vec![format!("type {t}")],
        )),
        None => Ok(()),
    }
}

/// Fails on the first column with values that did not convert, naming `source`, the column,
/// the expected type and example values.
pub fn require_parsed(
    source: impl AsRef<std::path::Path>,
    failures: &[ParseFailures],
) -> Result<()> {
    match failures.first() {
        Some(f) => Err(Error::invalid(
            source.as_ref(),
            f.column,
            format!("values must parse as {}", f.expected),
            f.examples
                .iter()
                .map(|(r, v)| format!("batch row {}: {v:?}", r + 1))
                .collect(),
        )),
        None => Ok(()),
    }
}

/// Converts only the columns of `batch` named in `spec` to their canonical types (with the
/// same trimming and failure reporting as [`canonicalize`]), keeping every other column, and
/// the column order, as they are.
pub fn coerce_columns(
    batch: &RecordBatch,
    spec: &[ColumnSpec],
    max_examples: usize,
) -> Result<(RecordBatch, Vec<ParseFailures>)> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut failures = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match spec.iter().find(|c| c.name == field.name()) {
            Some(c) => {
                let target = (c.data_type)();
                let (array, failed) = coerce(column, &target, c.name, max_examples)?;
                failures.extend(failed);
                fields.push(Field::new(c.name, target, true));
                columns.push(array);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    let out = RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::arrow("coercing columns", e))?;
    Ok((out, failures))
}

/// The canonical schema of the columns of `spec`.
pub fn canonical_schema(spec: &[ColumnSpec]) -> SchemaRef {
    schema_of(spec)
}

/// Converts `batch` to the canonical schema of `spec`: missing optional columns become
/// nulls, extra columns are dropped, text is trimmed before parsing, and values that do not
/// convert become null and are reported in the returned failures.
pub fn canonicalize(
    batch: &RecordBatch,
    spec: &[ColumnSpec],
    max_examples: usize,
) -> Result<(RecordBatch, Vec<ParseFailures>)> {
    let schema = schema_of(spec);
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(spec.len());
    let mut failures = Vec::new();
    for c in spec {
        let target = (c.data_type)();
        let Some(raw) = batch.column_by_name(c.name) else {
            columns.push(new_null_array(&target, rows));
            continue;
        };
        let (array, failed) = coerce(raw, &target, c.name, max_examples)?;
        if let Some(f) = failed {
            failures.push(f);
        }
        columns.push(array);
    }
    let out = RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::arrow("building canonical batch", e))?;
    Ok((out, failures))
}

fn coerce(
    raw: &ArrayRef,
    target: &DataType,
    column: &'static str,
    max_examples: usize,
) -> Result<(ArrayRef, Option<ParseFailures>)> {
    if raw.data_type() == target && target != &DataType::Utf8 {
        return Ok((raw.clone(), None));
    }
    // Text is trimmed first so " 12 " parses; casting other types to text keeps ids verbatim.
    let source: ArrayRef = match raw.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast_with_options(raw, &DataType::Utf8, &CastOptions::default())
                .map_err(|e| Error::arrow(format!("reading column `{column}` as text"), e))?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8 yields a StringArray");
            if target == &DataType::Utf8 {
                return Ok((Arc::new(trim_all(text)), None));
            }
            Arc::new(trim_all(text))
        }
        _ => raw.clone(),
    };
    let options = CastOptions {
        safe: true,
        ..Default::default()
    };
    let cast = cast_with_options(&source, target, &options).map_err(|e| {
        Error::arrow(
            format!(
                "column `{column}` of type {} cannot be read as {target}",
                raw.data_type()
            ),
            e,
        )
    })?;
    let cast = if source.null_count() < cast.null_count() {
        minute_timestamps(&source, cast, target)
    } else {
        cast
    };
    let lost = source.null_count() < cast.null_count();
    let failures = lost.then(|| {
        let shown = cast_with_options(&source, &DataType::Utf8, &CastOptions::default()).ok();
        let shown = shown
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<StringArray>());
        let failed: Vec<bool> = (0..source.len())
            .map(|i| source.is_valid(i) && cast.is_null(i))
            .collect();
        let count = failed.iter().filter(|&&f| f).count() as u64;
        let examples = (0..source.len())
            .filter(|&i| failed[i])
            .take(max_examples)
            .map(|i| (i, shown.map(|s| s.value(i).to_string()).unwrap_or_default()))
            .collect();
        ParseFailures {
            column,
            expected: target.clone(),
            count,
            examples,
            failed,
        }
    });
    Ok((cast, failures))
}

/// Text timestamps without seconds (`2025-01-31 14:05`, `2025-01-31T14:05`), as spreadsheets
/// export them, which Arrow's parser rejects: for a microsecond timestamp column, the values
/// that failed to cast are parsed again in these forms; anything else is left as it was.
fn minute_timestamps(source: &ArrayRef, cast: ArrayRef, target: &DataType) -> ArrayRef {
    let (DataType::Timestamp(TimeUnit::Microsecond, tz), Some(text)) =
        (target, source.as_any().downcast_ref::<StringArray>())
    else {
        return cast;
    };
    let Some(parsed) = cast
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
    else {
        return cast;
    };
    let minutes = |s: &str| {
        ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc().timestamp_micros())
    };
    let mut changed = false;
    let values: arrow::array::TimestampMicrosecondArray = (0..parsed.len())
        .map(|i| {
            if parsed.is_valid(i) {
                Some(parsed.value(i))
            } else if text.is_valid(i) {
                let v = minutes(text.value(i));
                changed |= v.is_some();
                v
            } else {
                None
            }
        })
        .collect();
    if !changed {
        return cast;
    }
    Arc::new(values.with_timezone_opt(tz.clone()))
}

fn trim_all(text: &StringArray) -> StringArray {
    // Most values start and end with a visible ASCII byte: no need to trim them. A
    // non-ASCII end may be Unicode white space; `trim` decides.
    let untrimmed = |s: &str| match (s.as_bytes().first(), s.as_bytes().last()) {
        // The ASCII characters `char::is_whitespace` (and so `trim`) takes.
        (Some(&a), Some(&z)) if a.is_ascii() && z.is_ascii() => {
            let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
            space(a) || space(z)
        }
        (Some(_), Some(_)) => s.len() != s.trim().len(),
        _ => false,
    };
    if !text.iter().flatten().any(untrimmed) {
        return text.clone();
    }
    text.iter()
        .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `trim_all` must do: every value trimmed as `str::trim` trims, empty ones null.
    fn trim_all_naive(text: &StringArray) -> StringArray {
        text.iter()
            .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn trimming_equals_str_trim_on_any_white_space(
            values in proptest::collection::vec(
                proptest::option::of(proptest::string::string_regex(
                    "[ \t\n\x0B\x0C\r\u{85}\u{A0}\u{3000}\u{1C}ab\u{E9}]{0,4}",
                ).unwrap()),
                0..6,
            )
        ) {
            let text = StringArray::from(values.clone());
            let got = trim_all(&text);
            // Nothing to trim: the values are kept as they are (empty ones too).
            if values.iter().flatten().all(|s| s.trim() == s) {
                proptest::prop_assert_eq!(got, text);
            } else {
                proptest::prop_assert_eq!(got, trim_all_naive(&text));
            }
        }
    }
    use crate::schema::USERS_COLUMNS;
    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::Field;

    #[test]
    fn timestamps_without_seconds_parse_and_other_forms_still_fail() {
        let raw: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2025-01-31 14:05"),
            Some("2025-01-31T14:05"),
            Some("2025-01-31 14:05:30"),
            Some("31/01/2025 14:05"),
            None,
        ]));
        let target = DataType::Timestamp(TimeUnit::Microsecond, None);
        let (out, failed) = coerce(&raw, &target, "event_time", 5).unwrap();
        let out = out
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        let at = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        assert_eq!(out.value(0), at("2025-01-31 14:05:00"));
        assert_eq!(out.value(1), at("2025-01-31 14:05:00"));
        assert_eq!(out.value(2), at("2025-01-31 14:05:30"));
        assert!(out.is_null(3) && out.is_null(4));
        let failed = failed.unwrap();
        assert_eq!(failed.count, 1);
        assert_eq!(failed.examples, [(3, "31/01/2025 14:05".to_string())]);
    }

    #[test]
    fn a_header_of_one_column_holding_semicolons_or_tabs_is_explained() {
        let one = |name: &str| Schema::new(vec![Field::new(name, DataType::Utf8, true)]);
        let semi = columns_present(&one("user_id;signup_date;plan"));
        assert!(semi.contains("looks ';'-separated"), "{semi}");
        let tab = columns_present(&one("user_id\tsignup_date"));
        assert!(tab.contains("looks tab-separated"), "{tab}");
        // A real one-column file, or several columns, get the plain list.
        assert_eq!(columns_present(&one("user_id")), "columns present: user_id");
        let two = Schema::new(vec![
            Field::new("a;b", DataType::Utf8, true),
            Field::new("c", DataType::Utf8, true),
        ]);
        assert_eq!(columns_present(&two), "columns present: a;b, c");
    }

    #[test]
    fn integer_ids_become_text_and_bad_dates_are_reported() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, true),
            Field::new("signup_date", DataType::Utf8, true),
            Field::new("plan", DataType::Utf8, true),
            Field::new("is_paid", DataType::Utf8, true),
            Field::new("extra", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(StringArray::from(vec!["2025-01-02", "not-a-date"])),
                Arc::new(StringArray::from(vec![" paid ", "free"])),
                Arc::new(StringArray::from(vec!["1", "0"])),
                Arc::new(StringArray::from(vec!["x", "y"])),
            ],
        )
        .unwrap();
        let (out, failures) = canonicalize(&batch, &USERS_COLUMNS, 5).unwrap();
        assert_eq!(out.num_columns(), USERS_COLUMNS.len());
        let ids = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(ids.value(0), "7");
        let plan = out
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(plan.value(0), "paid");
        let paid = out.column(3).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(paid.value(0), 1);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].column, "signup_date");
        assert_eq!(failures[0].examples, vec![(1, "not-a-date".to_string())]);
        assert_eq!(
            out.column(6).null_count(),
            2,
            "missing optional column is null"
        );
    }

    #[test]
    fn coerce_columns_converts_only_the_named_columns_and_keeps_the_rest() {
        use crate::schema::USER_DAILY_COLUMNS;
        let schema = Arc::new(Schema::new(vec![
            Field::new("extra", DataType::Utf8, true),
            Field::new("user_id", DataType::Utf8, true),
            Field::new("as_of_date", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![" kept ", "x"])),
                Arc::new(StringArray::from(vec![" u1 ", "u2"])),
                Arc::new(StringArray::from(vec!["2025-01-02", "someday"])),
            ],
        )
        .unwrap();
        let keys = [USER_DAILY_COLUMNS[0], USER_DAILY_COLUMNS[1]];
        let (out, failures) = coerce_columns(&batch, &keys, 5).unwrap();
        let schema = out.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["extra", "user_id", "as_of_date"]);
        assert_eq!(out.column(2).data_type(), &DataType::Date32);
        let extra = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(extra.value(0), " kept ", "other columns are untouched");
        let ids = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            ids.value(0),
            "u1",
            "keys are trimmed as canonicalize trims them"
        );
        assert_eq!(failures.len(), 1);
        let err = require_parsed("t.csv", &failures).unwrap_err().to_string();
        assert!(
            err.contains("as_of_date") && err.contains("someday"),
            "{err}"
        );
    }
}
