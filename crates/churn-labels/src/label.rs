//! Forward-looking labels and the eligibility rule, per user, by date.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use churn_data::canonical::{coerce_columns, require_columns, require_parsed};
use churn_data::groups::{UserChunk, UserGroups};
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader, write_threaded};
use churn_data::schema::{USER_DAILY_COLUMNS, labels as l, user_daily as ud};
use serde::Serialize;

use crate::{Error, Result};

/// Label settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LabelParams {
    /// Days after the as-of date that decide the label (default 30).
    pub window: u32,
    /// A user-day is eligible only if the user was active within this many days, today
    /// included (default 30; 0 turns the filter off).
    pub active_within_days: u32,
}

impl Default for LabelParams {
    fn default() -> Self {
        Self {
            window: 30,
            active_within_days: 30,
        }
    }
}

impl LabelParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<Labeler> {
        if self.window == 0 || self.window > 3660 {
            return Err(Error::Params(format!(
                "window must be 1..=3660 days (got {})",
                self.window
            )));
        }
        if self.active_within_days > 3660 {
            return Err(Error::Params(format!(
                "active_within_days must be 0..=3660 (got {})",
                self.active_within_days
            )));
        }
        Ok(Labeler { params: *self })
    }
}

/// Active days in (d, d + window] for each day d of one user (dates strictly increasing).
pub fn future_active_days(dates: &[i32], active: &[bool], window: u32) -> Vec<i32> {
    let n = dates.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0i32);
    for &a in active {
        prefix.push(prefix.last().copied().unwrap_or(0) + i32::from(a));
    }
    let mut out = Vec::with_capacity(n);
    let mut right = 0; // first row dated after d + window
    for i in 0..n {
        right = right.max(i + 1);
        while right < n && dates[right] <= dates[i] + window as i32 {
            right += 1;
        }
        out.push(prefix[right] - prefix[i + 1]);
    }
    out
}

/// Whether each day of one user is eligible: active at least once in [d − n + 1, d]
/// (today included); `n = 0` makes every day eligible.
pub fn eligible(dates: &[i32], active: &[bool], n: u32) -> Vec<bool> {
    if n == 0 {
        return vec![true; dates.len()];
    }
    let mut last: Option<i32> = None;
    dates
        .iter()
        .zip(active)
        .map(|(&d, &a)| {
            if a {
                last = Some(d);
            }
            last.is_some_and(|x| d - x < n as i32)
        })
        .collect()
}

/// [`eligible`] from one feature row, for scoring without the user's history: active at
/// least once in the last `n` days (today included) ⇔ `active_days_w > 0` and
/// `days_since_last_activity < n`, where `active_days_w` counts active days over a trailing
/// window of `w ≥ n` days. (A user never active has `active_days_w = 0`; a user last active
/// `k < n ≤ w` days ago has that day inside the window.) `n = 0` makes every row eligible.
pub fn eligible_from_recency(days_since_last_activity: i32, active_days_w: i32, n: u32) -> bool {
    n == 0 || (active_days_w > 0 && i64::from(days_since_last_activity) < i64::from(n))
}

/// Checked label settings; computes labels for chunks of whole users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labeler {
    params: LabelParams,
}

/// Schema of the labels table.
pub fn labels_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ud::USER_ID, DataType::Utf8, false),
        Field::new(ud::AS_OF_DATE, DataType::Date32, false),
        Field::new(l::FUTURE_ACTIVE_DAYS, DataType::Int32, false),
        Field::new(l::CHURN_LABEL, DataType::Int32, false),
        Field::new(l::ELIGIBLE, DataType::Boolean, false),
    ]))
}

/// Counts of a labels run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelSummary {
    /// User-day rows read.
    pub rows_in: u64,
    /// Labelled rows written (the last `window` days have no label).
    pub rows_labelled: u64,
    /// Labelled rows that are eligible.
    pub rows_eligible: u64,
    /// Eligible rows with churn_label = 1.
    pub churned_eligible: u64,
    /// Last data date; rows after `last_date − window` are unlabelled.
    pub last_date: Option<chrono::NaiveDate>,
}

impl Labeler {
    /// The settings.
    pub fn params(&self) -> LabelParams {
        self.params
    }

    /// Labels and eligibility of one chunk, full length (unlabelled rows included, with
    /// `labelled[i] = false`).
    pub fn chunk_labels(&self, chunk: &UserChunk) -> Result<ChunkLabels> {
        let dates = chunk.dates().values();
        let active = active_flags(&chunk.batch)?;
        let n = dates.len();
        let (mut future, mut elig) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for u in 0..chunk.users() {
            let (s, e) = (chunk.starts[u], chunk.starts[u + 1]);
            future.extend(future_active_days(
                &dates[s..e],
                &active[s..e],
                self.params.window,
            ));
            elig.extend(eligible(
                &dates[s..e],
                &active[s..e],
                self.params.active_within_days,
            ));
        }
        Ok(ChunkLabels {
            future,
            eligible: elig,
        })
    }

    /// Rows of `chunk` that carry a label given the data's last date.
    pub fn labelled(&self, date: i32, last_date: i32) -> bool {
        date + self.params.window as i32 <= last_date
    }

    /// The labels table of one chunk: labelled rows only.
    pub fn labels_batch(
        &self,
        chunk: &UserChunk,
        last_date: i32,
        summary: &mut LabelSummary,
    ) -> Result<RecordBatch> {
        let cl = self.chunk_labels(chunk)?;
        self.labels_from(chunk, &cl, last_date, summary)
    }

    /// [`Labeler::labels_batch`] from labels already computed for `chunk`.
    pub fn labels_from(
        &self,
        chunk: &UserChunk,
        cl: &ChunkLabels,
        last_date: i32,
        summary: &mut LabelSummary,
    ) -> Result<RecordBatch> {
        let dates = chunk.dates();
        let ids = chunk.user_ids();
        let keep: Vec<usize> = (0..dates.len())
            .filter(|&i| self.labelled(dates.value(i), last_date))
            .collect();
        summary.rows_in += dates.len() as u64;
        summary.rows_labelled += keep.len() as u64;
        for &i in &keep {
            if cl.eligible[i] {
                summary.rows_eligible += 1;
                summary.churned_eligible += u64::from(cl.future[i] == 0);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                keep.iter().map(|&i| ids.value(i)),
            )),
            Arc::new(Date32Array::from_iter_values(
                keep.iter().map(|&i| dates.value(i)),
            )),
            Arc::new(Int32Array::from_iter_values(
                keep.iter().map(|&i| cl.future[i]),
            )),
            Arc::new(Int32Array::from_iter_values(
                keep.iter().map(|&i| i32::from(cl.future[i] == 0)),
            )),
            Arc::new(BooleanArray::from(
                keep.iter().map(|&i| cl.eligible[i]).collect::<Vec<_>>(),
            )),
        ];
        RecordBatch::try_new(labels_schema(), cols)
            .map_err(|e| churn_data::Error::arrow("building labels batch", e).into())
    }

    /// Reads a user-day (or features) table and writes the labels table atomically.
    pub fn label_file(&self, input: &Path, output: &Path) -> Result<LabelSummary> {
        let name = input.display().to_string();
        let (last, mut summary) = start_labels(input)?;
        let reader = key_stream(input)?;
        let (_, _) = write_threaded(output, labels_schema(), |sink| {
            for chunk in UserGroups::new(&name, reader, DEFAULT_BATCH_SIZE) {
                let b = self
                    .labels_batch(&chunk?, last, &mut summary)
                    .map_err(into_data)?;
                sink(b)?;
            }
            Ok(())
        })?;
        Ok(summary)
    }
}

/// The last date of `input` (an error when it has no rows) and an empty summary for it.
pub(crate) fn start_labels(input: &Path) -> Result<(i32, LabelSummary)> {
    let Some(last) = last_date(input)? else {
        return Err(churn_data::Error::invalid(
            input,
            ud::AS_OF_DATE,
            "the table has no rows to label",
            vec![],
        )
        .into());
    };
    let summary = LabelSummary {
        last_date: churn_data::days::date_of(last),
        ..LabelSummary::default()
    };
    Ok((last, summary))
}

/// Labels of every row of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLabels {
    /// future_active_days per row.
    pub future: Vec<i32>,
    /// Eligibility per row.
    pub eligible: Vec<bool>,
}

pub(crate) fn into_data(e: Error) -> churn_data::Error {
    match e {
        Error::Data(d) => d,
        other => churn_data::Error::invalid("labels", "*", other.to_string(), vec![]),
    }
}

/// The is_active_day column as flags, rejecting nulls and values other than 0/1.
fn active_flags(batch: &RecordBatch) -> Result<Vec<bool>> {
    let col = batch.column_by_name(ud::IS_ACTIVE_DAY).ok_or_else(|| {
        churn_data::Error::invalid(
            "user-day rows",
            ud::IS_ACTIVE_DAY,
            "required column is missing",
            vec![],
        )
    })?;
    let ints = arrow::compute::cast(col, &DataType::Int32)
        .map_err(|e| churn_data::Error::arrow("reading is_active_day", e))?;
    let ints = ints
        .as_any()
        .downcast_ref::<Int32Array>()
        .expect("cast to Int32");
    let bad: Vec<String> = ints
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Some(0) | Some(1)))
        .take(5)
        .map(|(i, v)| format!("row {i}: {v:?}"))
        .collect();
    if !bad.is_empty() {
        return Err(churn_data::Error::invalid(
            "user-day rows",
            ud::IS_ACTIVE_DAY,
            "must be 0 or 1",
            bad,
        )
        .into());
    }
    Ok(ints.values().iter().map(|&v| v == 1).collect())
}

/// Batches of (user_id, as_of_date, is_active_day) with canonical types.
pub(crate) fn key_stream(
    input: &Path,
) -> Result<impl Iterator<Item = churn_data::Result<RecordBatch>>> {
    let cols = [ud::USER_ID, ud::AS_OF_DATE, ud::IS_ACTIVE_DAY];
    let reader = TableReader::open(input, Some(&cols), DEFAULT_BATCH_SIZE)?;
    let name = input.display().to_string();
    require_columns(input, &reader.schema(), &cols)?;
    Ok(reader.map(move |b| canonical_keys(&b?, &name)))
}

/// user_id as text, as_of_date as a date and is_active_day (when present) as 0/1, keeping
/// the other columns; a value that does not parse, or an is_active_day other than 0 or 1, is
/// an error naming `source` with examples.
pub(crate) fn canonical_keys(b: &RecordBatch, source: &str) -> churn_data::Result<RecordBatch> {
    let spec: Vec<_> = USER_DAILY_COLUMNS
        .iter()
        .filter(|c| [ud::USER_ID, ud::AS_OF_DATE, ud::IS_ACTIVE_DAY].contains(&c.name))
        .cloned()
        .collect();
    let (out, failures) = coerce_columns(b, &spec, 5)?;
    require_parsed(source, &failures)?;
    if let Some(active) = out
        .column_by_name(ud::IS_ACTIVE_DAY)
        .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
    {
        let bad: Vec<String> = active
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, Some(0) | Some(1)))
            .take(5)
            .map(|(i, v)| {
                let key = |name: &str| {
                    out.column_by_name(name)
                        .and_then(|c| arrow::util::display::array_value_to_string(c, i).ok())
                        .unwrap_or_default()
                };
                let v = v.map_or("null".to_string(), |v| v.to_string());
                format!("user {} on {}: {v}", key(ud::USER_ID), key(ud::AS_OF_DATE))
            })
            .collect();
        if !bad.is_empty() {
            return Err(churn_data::Error::invalid(
                source,
                ud::IS_ACTIVE_DAY,
                "must be 0 or 1",
                bad,
            ));
        }
    }
    Ok(out)
}

/// The last as_of_date of a table (days since the epoch).
pub fn last_date(input: &Path) -> Result<Option<i32>> {
    let reader = TableReader::open(input, Some(&[ud::AS_OF_DATE]), DEFAULT_BATCH_SIZE)?;
    require_columns(input, &reader.schema(), &[ud::AS_OF_DATE])?;
    let name = input.display().to_string();
    let mut last: Option<i32> = None;
    for b in reader {
        let b = canonical_keys(&b?, &name)?;
        let Some(col) = b.column_by_name(ud::AS_OF_DATE) else {
            return Err(churn_data::Error::invalid(
                input,
                ud::AS_OF_DATE,
                "required column is missing",
                vec![],
            )
            .into());
        };
        let d = col
            .as_any()
            .downcast_ref::<Date32Array>()
            .expect("canonical date");
        if let Some(m) = arrow::compute::max(d) {
            last = Some(last.map_or(m, |x| x.max(m)));
        }
    }
    Ok(last)
}
