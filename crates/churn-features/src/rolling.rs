//! The rolling-window computation.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use churn_data::canonical::{canonicalize, missing_required, require_columns, require_parsed};
use churn_data::groups::{UserChunk, UserGroups};
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader, write_threaded};
use churn_data::schema::{USER_DAILY_COLUMNS, features as f, user_daily as ud, user_daily_schema};
use rayon::prelude::*;
use serde::Serialize;

use crate::{Error, Result};

/// What the user asks for: the trailing windows in days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FeatureParams {
    /// Trailing windows in calendar days, today included (default 7, 14, 30).
    pub windows: Vec<u32>,
}

impl Default for FeatureParams {
    fn default() -> Self {
        Self {
            windows: vec![7, 14, 30],
        }
    }
}

impl FeatureParams {
    /// Checks the windows (non-empty, all positive) and returns the checked feature set.
    pub fn check(&self) -> Result<Features> {
        if self.windows.is_empty() {
            return Err(Error::Params("windows must not be empty".into()));
        }
        if let Some(w) = self.windows.iter().find(|&&w| w == 0 || w > 3660) {
            return Err(Error::Params(format!(
                "every window must be 1..=3660 days (got {w}) in {:?}",
                self.windows
            )));
        }
        let mut windows = self.windows.clone();
        windows.sort_unstable();
        windows.dedup();
        let rate_window = if windows.contains(&30) {
            30
        } else {
            *windows.last().expect("non-empty")
        };
        Ok(Features {
            windows,
            rate_window,
        })
    }
}

/// A checked feature set; only this can compute features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    windows: Vec<u32>,
    rate_window: u32,
}

/// Columns summed over each window: (input column, feature base name, is float).
const SUMMED: [(&str, &str, bool); 9] = [
    (ud::IS_ACTIVE_DAY, f::ACTIVE_DAYS, false),
    (ud::TOTAL_EVENTS, f::EVENTS, false),
    (ud::LOGINS_COUNT, f::LOGINS, false),
    (ud::ENROLL_COUNT, f::ENROLL, false),
    (ud::WATCH_MINUTES_SUM, f::WATCH_MINUTES, true),
    (ud::QUIZ_ATTEMPTS_COUNT, f::QUIZ_ATTEMPTS, false),
    (ud::PAYMENT_SUCCESS_COUNT, f::PAYMENT_SUCCESS, false),
    (ud::PAYMENT_FAILED_COUNT, f::PAYMENT_FAILED, false),
    (ud::SUPPORT_TICKET_COUNT, f::SUPPORT_TICKET, false),
];

impl Features {
    /// The windows, sorted.
    pub fn windows(&self) -> &[u32] {
        &self.windows
    }

    /// The window of `payment_fail_rate` (30 if configured, else the largest).
    pub fn rate_window(&self) -> u32 {
        self.rate_window
    }

    /// The feature columns this set adds, in output order, with their types.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = vec![Field::new(
            f::DAYS_SINCE_LAST_ACTIVITY,
            DataType::Int32,
            false,
        )];
        for &w in &self.windows {
            for (_, base, float) in SUMMED {
                let t = if float {
                    DataType::Float64
                } else {
                    DataType::Int32
                };
                out.push(Field::new(f::windowed(base, w), t, false));
            }
            out.push(Field::new(
                f::windowed(f::QUIZ_AVG_SCORE, w),
                DataType::Float64,
                true,
            ));
        }
        out.push(Field::new(
            f::windowed(f::PAYMENT_FAIL_RATE, self.rate_window),
            DataType::Float64,
            false,
        ));
        out
    }

    /// The output schema: the user-day columns followed by the features.
    pub fn output_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = user_daily_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(self.fields());
        Arc::new(Schema::new(fields))
    }

    /// Computes the features of one chunk of whole users; `first_row` numbers rows in errors.
    pub fn compute_chunk(
        &self,
        chunk: &UserChunk,
        source: &str,
        first_row: u64,
    ) -> Result<RecordBatch> {
        let n = chunk.batch.num_rows();
        let dates = chunk.dates().values();
        let inputs: Vec<Vec<f64>> = SUMMED
            .iter()
            .map(|(col, _, _)| non_negative(&chunk.batch, col, source, first_row))
            .collect::<Result<_>>()?;
        let quiz = chunk
            .batch
            .column_by_name(ud::QUIZ_AVG_SCORE)
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
            .expect("canonical user_daily has quiz_avg_score");
        let since_signup = chunk
            .batch
            .column_by_name(ud::DAYS_SINCE_SIGNUP)
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
            .expect("canonical user_daily has days_since_signup");

        // Prefix sums over the chunk; a window sum is a difference inside one user.
        let prefix = |v: &[f64]| {
            let mut p = Vec::with_capacity(v.len() + 1);
            p.push(0.0);
            let mut acc = 0.0;
            for x in v {
                acc += x;
                p.push(acc);
            }
            p
        };
        let sums: Vec<Vec<f64>> = inputs.iter().map(|v| prefix(v)).collect();
        let quiz_sum = prefix(
            &(0..n)
                .map(|i| if quiz.is_valid(i) { quiz.value(i) } else { 0.0 })
                .collect::<Vec<_>>(),
        );
        let quiz_n = prefix(
            &(0..n)
                .map(|i| f64::from(u8::from(quiz.is_valid(i))))
                .collect::<Vec<_>>(),
        );

        // left[w][i]: first row of i's user dated within (date_i - w, date_i].
        let mut lefts: Vec<Vec<usize>> = vec![vec![0; n]; self.windows.len()];
        let mut dsla = vec![0i32; n];
        let active = &inputs[0];
        for u in 0..chunk.users() {
            let (s, e) = (chunk.starts[u], chunk.starts[u + 1]);
            for (wi, &w) in self.windows.iter().enumerate() {
                let left = &mut lefts[wi];
                let mut l = s;
                for i in s..e {
                    while dates[l] <= dates[i] - w as i32 {
                        l += 1;
                    }
                    left[i] = l;
                }
            }
            let mut last_active: Option<i32> = None;
            for i in s..e {
                if active[i] > 0.0 {
                    last_active = Some(dates[i]);
                }
                dsla[i] = match last_active {
                    Some(d) => dates[i] - d,
                    None if since_signup.is_valid(i) => since_signup.value(i),
                    None => dates[i] - dates[s],
                };
            }
        }

        let mut columns: Vec<ArrayRef> = chunk.batch.columns().to_vec();
        columns.push(Arc::new(Int32Array::from(dsla)));
        let window_sum = |p: &[f64], left: &[usize], i: usize| p[i + 1] - p[left[i]];
        for (wi, _) in self.windows.iter().enumerate() {
            let left = &lefts[wi];
            for (ci, (_, _, float)) in SUMMED.iter().enumerate() {
                let p = &sums[ci];
                let col: ArrayRef = if *float {
                    Arc::new(Float64Array::from_iter_values(
                        (0..n).map(|i| window_sum(p, left, i)),
                    ))
                } else {
                    // Prefix sums of integer counts are exact in f64 (far below 2^53), so
                    // their differences are exact integers too.
                    Arc::new(Int32Array::from_iter_values(
                        (0..n).map(|i| window_sum(p, left, i) as i32),
                    ))
                };
                columns.push(col);
            }
            columns.push(Arc::new(Float64Array::from_iter((0..n).map(|i| {
                let k = window_sum(&quiz_n, left, i);
                (k > 0.0).then(|| window_sum(&quiz_sum, left, i) / k)
            }))));
        }
        let rate_left = &lefts[self
            .windows
            .iter()
            .position(|&w| w == self.rate_window)
            .expect("rate window is one of the windows")];
        let (succ, fail) = (&sums[6], &sums[7]);
        columns.push(Arc::new(Float64Array::from_iter_values((0..n).map(|i| {
            let (s, fl) = (
                window_sum(succ, rate_left, i),
                window_sum(fail, rate_left, i),
            );
            if s + fl > 0.0 { fl / (s + fl) } else { 0.0 }
        }))));
        RecordBatch::try_new(self.output_schema(), columns)
            .map_err(|e| churn_data::Error::arrow("building feature batch", e).into())
    }
}

/// A count or measure column as f64, rejecting nulls, NaN and negative values.
fn non_negative(batch: &RecordBatch, name: &str, source: &str, first_row: u64) -> Result<Vec<f64>> {
    let col = batch
        .column_by_name(name)
        .expect("canonical user_daily has every column");
    let values: Vec<Option<f64>> = match col.data_type() {
        DataType::Int32 => col
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("Int32")
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        _ => col
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("Float64")
            .iter()
            .collect(),
    };
    let bad: Vec<String> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Some(x) if *x >= 0.0 && x.is_finite()))
        .take(5)
        .map(|(i, v)| {
            format!(
                "row {}: {}",
                first_row + i as u64 + 1,
                v.map_or("null".to_string(), |x| x.to_string())
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(churn_data::Error::invalid(
            source,
            name,
            "must be a non-negative number (not null)",
            bad,
        )
        .into());
    }
    Ok(values.into_iter().map(|v| v.unwrap_or(0.0)).collect())
}

/// Counts of a features run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeatureSummary {
    /// User-day rows read and written.
    pub rows: u64,
    /// Users seen.
    pub users: u64,
    /// Windows computed.
    pub windows: Vec<u32>,
}

/// Canonical user-day batches from any reasonable input batches.
fn canonical_stream<'a>(
    source: &'a str,
    input: impl Iterator<Item = churn_data::Result<RecordBatch>> + 'a,
) -> impl Iterator<Item = churn_data::Result<RecordBatch>> + 'a {
    input.map(move |b| {
        let b = b?;
        require_columns(
            source,
            &b.schema(),
            &missing_required(&b.schema(), &USER_DAILY_COLUMNS),
        )?;
        let (c, failures) = canonicalize(&b, &USER_DAILY_COLUMNS, 5)?;
        require_parsed(source, &failures)?;
        Ok(c)
    })
}

/// Computes features over a stream of user-day batches, calling `sink` with output batches in
/// input order. Users are processed in parallel, a few chunks at a time.
pub fn compute_stream(
    features: &Features,
    source: &str,
    input: impl Iterator<Item = churn_data::Result<RecordBatch>> + Send,
    sink: &mut dyn FnMut(RecordBatch) -> churn_data::Result<()>,
) -> Result<FeatureSummary> {
    let mut summary = FeatureSummary {
        windows: features.windows.clone(),
        ..FeatureSummary::default()
    };
    let groups = UserGroups::new(source, canonical_stream(source, input), DEFAULT_BATCH_SIZE);
    let per_round = rayon::current_num_threads().max(1) * 2;
    let mut round: Vec<(UserChunk, u64)> = Vec::with_capacity(per_round);
    let mut rows_before = 0u64;
    let mut flush =
        |round: &mut Vec<(UserChunk, u64)>, summary: &mut FeatureSummary| -> Result<()> {
            let out: Vec<Result<RecordBatch>> = round
                .par_iter()
                .map(|(c, first)| features.compute_chunk(c, source, *first))
                .collect();
            for (b, (c, _)) in out.into_iter().zip(round.iter()) {
                let b = b?;
                summary.rows += b.num_rows() as u64;
                summary.users += c.users() as u64;
                sink(b)?;
            }
            round.clear();
            Ok(())
        };
    // The next round is read and cut into users while this one is computed.
    churn_data::io::prefetched(groups, per_round, |chunks| {
        for chunk in chunks {
            let chunk = chunk?;
            let rows = chunk.batch.num_rows() as u64;
            round.push((chunk, rows_before));
            rows_before += rows;
            if round.len() >= per_round {
                flush(&mut round, &mut summary)?;
            }
        }
        flush(&mut round, &mut summary)?;
        Ok(summary)
    })
}

/// Computes features for in-memory batches.
pub fn compute_batches(
    features: &Features,
    input: impl Iterator<Item = churn_data::Result<RecordBatch>> + Send,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    compute_stream(features, "user_daily (in memory)", input, &mut |b| {
        out.push(b);
        Ok(())
    })?;
    Ok(out)
}

/// Reads the user-day table at `input` (CSV or Parquet) and writes the features to `output`
/// atomically.
pub fn compute_file(features: &Features, input: &Path, output: &Path) -> Result<FeatureSummary> {
    let reader = TableReader::open(input, None, DEFAULT_BATCH_SIZE)?;
    let name = input.display().to_string();
    // The last date's rows also go to the latest-date snapshot (see
    // churn_data::io::latest_snapshot_path) when the last date is known up front.
    let snapshot_path = churn_data::io::latest_snapshot_path(output);
    let last_day = churn_data::io::parquet_date_range(input, ud::AS_OF_DATE)
        .map(|(_, hi)| hi)
        .filter(|_| {
            churn_data::io::Format::from_path(output).ok() == Some(churn_data::io::Format::Parquet)
        });
    let mut snapshot = match last_day {
        Some(day) => Some((
            churn_data::io::TableWriter::create(&snapshot_path, features.output_schema())?,
            day,
        )),
        None => None,
    };
    let (summary, _) = write_threaded(output, features.output_schema(), |sink| {
        let mut both = |b: RecordBatch| -> churn_data::Result<()> {
            if let Some((w, day)) = snapshot.as_mut() {
                let on_day = rows_on(&b, *day)?;
                if on_day.num_rows() > 0 {
                    w.write(&on_day)?;
                }
            }
            sink(b)
        };
        let summary = compute_stream(features, &name, reader, &mut both).map_err(|e| match e {
            Error::Data(d) => d,
            other => churn_data::Error::invalid(&name, "*", other.to_string(), vec![]),
        })?;
        if summary.rows == 0 {
            // Failing here keeps a previous good output in place.
            return Err(churn_data::Error::invalid(
                &name,
                "*",
                "the user-day table has no rows (run prepare first?)",
                vec![],
            ));
        }
        Ok(summary)
    })?;
    // Committed after the table, so a snapshot is never newer than a table it does not
    // belong to; without one, an old snapshot would be stale: remove it.
    match snapshot {
        Some((w, _)) => {
            w.finish()?;
        }
        None => {
            let _ = std::fs::remove_file(&snapshot_path);
        }
    }
    Ok(summary)
}

/// The rows of a features batch dated `day`.
fn rows_on(batch: &RecordBatch, day: i32) -> churn_data::Result<RecordBatch> {
    let Some(dates) = batch.column_by_name(ud::AS_OF_DATE) else {
        return Ok(batch.slice(0, 0));
    };
    let mask = arrow::compute::kernels::cmp::eq(dates, &arrow::array::Date32Array::new_scalar(day))
        .map_err(|e| churn_data::Error::arrow("selecting the last date", e))?;
    arrow::compute::filter_record_batch(batch, &mask)
        .map_err(|e| churn_data::Error::arrow("selecting the last date", e))
}

/// Every feature column name for the given windows, in output order.
pub fn feature_names(features: &Features) -> Vec<String> {
    features.fields().iter().map(|f| f.name().clone()).collect()
}
