//! Calendar days as Arrow stores them (`Date32`: days since 1970-01-01) and the range of
//! dates churn accepts.
//!
//! A `Date32` or timestamp column of a Parquet file can hold any 32- or 64-bit value, far
//! beyond any calendar (`Date32` 2,000,000,000 is about 5.5 million years from now). Every
//! table read through [`crate::io::TableReader`] is checked against
//! [`MIN_DAY`]`..=`[`MAX_DAY`] (0001-01-01 to 9999-12-31, the years a `YYYY-MM-DD` text
//! round-trips), so code downstream can turn any day it reads into a date, and add a
//! label window or a look-back to it, without overflowing.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use chrono::NaiveDate;

/// 0001-01-01 as days since 1970-01-01.
pub const MIN_DAY: i32 = -719_162;

/// 9999-12-31 as days since 1970-01-01.
pub const MAX_DAY: i32 = 2_932_896;

/// The rule of [`MIN_DAY`]`..=`[`MAX_DAY`], in words.
pub const RANGE_RULE: &str = "dates must lie between 0001-01-01 and 9999-12-31";

/// 1970-01-01, day 0.
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date");

/// Days since 1970-01-01 of a date.
pub fn day_of(date: NaiveDate) -> i32 {
    // Every NaiveDate is within ±2^27 days of 1970.
    (date - EPOCH).num_days() as i32
}

/// The date `day` days after 1970-01-01, or `None` outside [`MIN_DAY`]`..=`[`MAX_DAY`].
pub fn date_of(day: i32) -> Option<NaiveDate> {
    if !(MIN_DAY..=MAX_DAY).contains(&day) {
        return None;
    }
    EPOCH.checked_add_signed(chrono::Duration::days(i64::from(day)))
}

/// The date `day` days after 1970-01-01, for days already checked (every day read through
/// [`crate::io::TableReader`] is): never panics, a day beyond chrono's calendar (about
/// ±262,000 years) gives its first or last date.
pub fn date_saturating(day: i32) -> NaiveDate {
    EPOCH
        .checked_add_signed(chrono::Duration::days(i64::from(day)))
        .unwrap_or(if day < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// `day` as `YYYY-MM-DD`, or `day N since 1970-01-01` when it is outside the range, so
/// an error message can always show the value it is about.
pub fn display(day: i64) -> String {
    match i32::try_from(day).ok().and_then(date_of) {
        Some(d) => d.to_string(),
        None => format!("day {day} since 1970-01-01"),
    }
}

/// The first date or timestamp column of `batch` holding a value outside the accepted
/// range, with up to three such values (as stored, with their unit): `None` when every
/// date is in range.
pub fn out_of_range(batch: &RecordBatch) -> Option<(String, Vec<String>)> {
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        // Each value as days since 1970-01-01 (rounded towards -inf), and its unit.
        let per_day: Option<(i64, &str)> = match field.data_type() {
            DataType::Date32 => Some((1, "days")),
            DataType::Date64 => Some((86_400_000, "ms")),
            DataType::Timestamp(unit, _) => Some(match unit {
                TimeUnit::Second => (86_400, "s"),
                TimeUnit::Millisecond => (86_400_000, "ms"),
                TimeUnit::Microsecond => (86_400_000_000, "µs"),
                TimeUnit::Nanosecond => (86_400_000_000_000, "ns"),
            }),
            _ => None,
        };
        let Some((per_day, unit)) = per_day else {
            continue;
        };
        // The first and last instants of the range; nanoseconds cannot reach either end.
        let (lo, hi) = (
            i64::from(MIN_DAY).saturating_mul(per_day),
            (i64::from(MAX_DAY) + 1)
                .checked_mul(per_day)
                .map_or(i64::MAX, |end| end - 1),
        );
        let Some((min, max)) = min_max(column.as_ref()) else {
            continue;
        };
        if lo <= min && max <= hi {
            continue;
        }
        let examples = raw_values(column.as_ref())
            .filter(|&v| v < lo || v > hi)
            .map(|v| {
                if per_day == 1 {
                    display(v)
                } else {
                    format!(
                        "{v} {unit} since 1970-01-01 ({})",
                        display(v.div_euclid(per_day))
                    )
                }
            })
            .fold(Vec::new(), |mut out: Vec<String>, text| {
                if out.len() < 3 && !out.contains(&text) {
                    out.push(text);
                }
                out
            });
        return Some((field.name().clone(), examples));
    }
    None
}

/// Applies `$body` to the column as its primitive array type (`$a`), for the date and
/// timestamp types; `$other` for any other type.
macro_rules! with_temporal {
    ($column:expr, $a:ident => $body:expr, $other:expr) => {
        match $column.data_type() {
            DataType::Date32 => {
                let $a = $column.as_primitive::<Date32Type>();
                $body
            }
            DataType::Date64 => {
                let $a = $column.as_primitive::<Date64Type>();
                $body
            }
            DataType::Timestamp(TimeUnit::Second, _) => {
                let $a = $column.as_primitive::<TimestampSecondType>();
                $body
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                let $a = $column.as_primitive::<TimestampMillisecondType>();
                $body
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let $a = $column.as_primitive::<TimestampMicrosecondType>();
                $body
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                let $a = $column.as_primitive::<TimestampNanosecondType>();
                $body
            }
            _ => $other,
        }
    };
}

/// The smallest and largest valid value of a date or timestamp column (`None` when it has
/// none or is another type).
// `Date32` values are i32, the others i64: the conversion is needed in one arm only.
#[allow(clippy::useless_conversion)]
fn min_max(column: &dyn Array) -> Option<(i64, i64)> {
    with_temporal!(
        column,
        a => {
            let (min, max) = (arrow::compute::min(a)?, arrow::compute::max(a)?);
            Some((i64::from(min), i64::from(max)))
        },
        None
    )
}

/// The valid values of a date or timestamp column as i64 (none for another type).
#[allow(clippy::useless_conversion)]
fn raw_values(column: &dyn Array) -> Box<dyn Iterator<Item = i64> + '_> {
    with_temporal!(
        column,
        a => Box::new(a.iter().flatten().map(i64::from)),
        Box::new(std::iter::empty())
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Int32Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn the_range_ends_are_the_first_and_last_four_digit_years() {
        assert_eq!(date_of(MIN_DAY), NaiveDate::from_ymd_opt(1, 1, 1));
        assert_eq!(date_of(MAX_DAY), NaiveDate::from_ymd_opt(9999, 12, 31));
        assert_eq!(date_of(MIN_DAY - 1), None);
        assert_eq!(date_of(MAX_DAY + 1), None);
        assert_eq!(date_of(i32::MAX), None);
        assert_eq!(date_of(i32::MIN), None);
        let d = NaiveDate::from_ymd_opt(2025, 4, 30).unwrap();
        assert_eq!(date_of(day_of(d)), Some(d));
        assert_eq!(display(i64::from(day_of(d))), "2025-04-30");
        assert_eq!(display(2_000_000_000), "day 2000000000 since 1970-01-01");
        assert_eq!(date_saturating(day_of(d)), d);
        assert_eq!(date_saturating(i32::MAX), NaiveDate::MAX);
        assert_eq!(date_saturating(i32::MIN), NaiveDate::MIN);
    }

    fn batch(dates: Vec<Option<i32>>, times: Vec<Option<i64>>) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("n", DataType::Int32, false),
                Field::new("as_of_date", DataType::Date32, true),
                Field::new(
                    "event_time",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    true,
                ),
            ])),
            vec![
                Arc::new(Int32Array::from(vec![i32::MAX; dates.len()])),
                Arc::new(Date32Array::from(dates)),
                Arc::new(TimestampMicrosecondArray::from(times)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn dates_beyond_the_calendar_are_named_with_examples() {
        let ok = batch(
            vec![Some(MIN_DAY), None, Some(MAX_DAY)],
            vec![Some(0), None, Some(i64::from(MAX_DAY) * 86_400_000_000)],
        );
        assert_eq!(out_of_range(&ok), None);

        let bad = batch(
            vec![Some(20_000), Some(2_000_000_000), Some(i32::MIN)],
            vec![Some(0), Some(1), Some(2)],
        );
        let (column, examples) = out_of_range(&bad).unwrap();
        assert_eq!(column, "as_of_date");
        assert_eq!(
            examples,
            [
                "day 2000000000 since 1970-01-01",
                "day -2147483648 since 1970-01-01"
            ]
        );

        // Nanoseconds span 1677..2262: every value is in range.
        let nanos = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            )])),
            vec![Arc::new(arrow::array::TimestampNanosecondArray::from(
                vec![i64::MIN, i64::MAX],
            ))],
        )
        .unwrap();
        assert_eq!(out_of_range(&nanos), None);

        let late = batch(vec![Some(1)], vec![Some(i64::MAX)]);
        let (column, examples) = out_of_range(&late).unwrap();
        assert_eq!(column, "event_time");
        assert_eq!(
            examples,
            ["9223372036854775807 µs since 1970-01-01 (day 106751991 since 1970-01-01)"]
        );
    }
}
