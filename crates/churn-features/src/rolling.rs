//! The rolling-window computation.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use churn_data::canonical::{
    canonicalize, missing_required, require_columns, require_parsed, require_time_types,
};
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
        // Prefix sums restarting at each user (see `Prefix`); a window sum is a difference
        // inside one user. Counts sum in i64 (exact), measures in f64.
        let starts = &chunk.starts;
        let sums: Vec<Prefix> = SUMMED
            .iter()
            .map(|(col, _, _)| prefix_sums(&chunk.batch, col, source, first_row, starts))
            .collect::<Result<_>>()?;
        let quiz = typed::<Float64Array>(&chunk.batch, ud::QUIZ_AVG_SCORE, source)?;
        let since_signup = typed::<Int32Array>(&chunk.batch, ud::DAYS_SINCE_SIGNUP, source)?;
        let before_signup: Vec<String> = (0..n)
            .filter(|&i| since_signup.is_valid(i) && since_signup.value(i) < 0)
            .take(5)
            .map(|i| {
                format!(
                    "row {}: {}",
                    first_row + i as u64 + 1,
                    since_signup.value(i)
                )
            })
            .collect();
        if !before_signup.is_empty() {
            return Err(churn_data::Error::invalid(
                source,
                ud::DAYS_SINCE_SIGNUP,
                "must not be negative: a user has no day before their signup_date (the \
                 user-day grid starts at signup)",
                before_signup,
            )
            .into());
        }
        // The sum and the number of the days with a quiz average, laid out as `Prefix`.
        let quizzes = per_user_prefix(starts, (0.0f64, 0u32), |(s, k), i| {
            if quiz.is_valid(i) {
                (s + quiz.value(i), k + 1)
            } else {
                (s, k)
            }
        });

        // spans[w][i]: the prefix entries whose difference sums the rows of i's user dated
        // within (date_i - w, date_i]: rows l..=i are entries (l + u, i + u + 1) for user u.
        let mut spans: Vec<Vec<Span>> = vec![vec![(0, 0); n]; self.windows.len()];
        let mut dsla = vec![0i32; n];
        for u in 0..chunk.users() {
            let (s, e) = (starts[u], starts[u + 1]);
            for (wi, &w) in self.windows.iter().enumerate() {
                let span = &mut spans[wi][s..e];
                let mut l = s;
                for (i, out) in (s..e).zip(span) {
                    while dates[l] <= dates[i] - w as i32 {
                        l += 1;
                    }
                    *out = ((l + u) as u32, (i + u + 1) as u32);
                }
            }
            let mut last_active: Option<i32> = None;
            for i in s..e {
                if sums[0].sum(((i + u) as u32, (i + u + 1) as u32)) > 0.0 {
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
        for span in &spans {
            for (sum, (_, _, float)) in sums.iter().zip(SUMMED) {
                columns.push(sum.window(span, float));
            }
            let mut valid = Vec::with_capacity(n);
            let avg: Vec<f64> = span
                .iter()
                .map(|&(from, to)| {
                    let ((s0, k0), (s1, k1)) = (quizzes[from as usize], quizzes[to as usize]);
                    let k = k1 - k0;
                    valid.push(k > 0);
                    if k > 0 { (s1 - s0) / f64::from(k) } else { 0.0 }
                })
                .collect();
            columns.push(Arc::new(Float64Array::new(
                avg.into(),
                Some(NullBuffer::from(valid)),
            )));
        }
        let rate_spans = &spans[self
            .windows
            .iter()
            .position(|&w| w == self.rate_window)
            .expect("rate window is one of the windows")];
        let (succ, fail) = (&sums[6], &sums[7]);
        let rate: Vec<f64> = rate_spans
            .iter()
            .map(|&span| {
                let (s, fl) = (succ.sum(span), fail.sum(span));
                if s + fl > 0.0 { fl / (s + fl) } else { 0.0 }
            })
            .collect();
        columns.push(Arc::new(Float64Array::from(rate)));
        RecordBatch::try_new(self.output_schema(), columns)
            .map_err(|e| churn_data::Error::arrow("building feature batch", e).into())
    }
}

/// Two entries of a [`Prefix`] whose difference is a window sum.
type Span = (u32, u32);

/// Prefix sums of one summed column that restart at each user: user `u` (rows `s..e` of
/// the chunk) owns the entries `s + u ..= e + u`, the first 0, so rows `l..=i` sum to
/// `p[i + u + 1] - p[l + u]`. A user's window sums then depend on that user's rows alone:
/// with one running sum over the chunk, a float window sum is a difference of two large
/// totals, and its last bits changed with the chunk's other users (a partitioned run's
/// parts, another batch size).
enum Prefix {
    /// Of an integer count: exact.
    Int(Vec<i64>),
    /// Of a measure.
    Float(Vec<f64>),
}

impl Prefix {
    /// The sum over a span, as f64 (exact for counts far below 2^53).
    fn sum(&self, (a, b): Span) -> f64 {
        match self {
            Prefix::Int(p) => (p[b as usize] - p[a as usize]) as f64,
            Prefix::Float(p) => p[b as usize] - p[a as usize],
        }
    }

    /// The window sum of every row (its span), as Int32 or Float64.
    fn window(&self, spans: &[Span], float: bool) -> ArrayRef {
        match (self, float) {
            (Prefix::Int(p), false) => Arc::new(Int32Array::from(
                spans
                    .iter()
                    // A window sum beyond i32 saturates, as the f64 path does.
                    .map(|&(a, b)| (p[b as usize] - p[a as usize]).min(i64::from(i32::MAX)) as i32)
                    .collect::<Vec<_>>(),
            )),
            (Prefix::Float(p), true) => Arc::new(Float64Array::from(
                spans
                    .iter()
                    .map(|&(a, b)| p[b as usize] - p[a as usize])
                    .collect::<Vec<_>>(),
            )),
            (_, true) => Arc::new(Float64Array::from(
                spans.iter().map(|&s| self.sum(s)).collect::<Vec<_>>(),
            )),
            (_, false) => Arc::new(Int32Array::from(
                spans
                    .iter()
                    .map(|&s| self.sum(s) as i32)
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

/// Column `name` of a canonical user-day batch as array type `A`.
fn typed<'a, A: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
    source: &str,
) -> Result<&'a A> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<A>())
        .ok_or_else(|| {
            churn_data::Error::invalid(
                source,
                name,
                "missing or not of its canonical type (read through canonicalize)",
                vec![],
            )
            .into()
        })
}

/// Prefix sums of a count (Int32) or measure (Float64) column, rejecting nulls, NaN, infinite
/// and negative values with up to five examples.
fn prefix_sums(
    batch: &RecordBatch,
    name: &str,
    source: &str,
    first_row: u64,
    starts: &[usize],
) -> Result<Prefix> {
    let col = batch.column_by_name(name).ok_or_else(|| {
        churn_data::Error::invalid(source, name, "required column is missing", vec![])
    })?;
    let bad = |value: &dyn Fn(usize) -> Option<f64>| -> Error {
        let examples = (0..col.len())
            .filter_map(|i| {
                let v = value(i);
                (!matches!(v, Some(x) if x >= 0.0 && x.is_finite())).then(|| {
                    format!(
                        "row {}: {}",
                        first_row + i as u64 + 1,
                        v.map_or("null".to_string(), |x| x.to_string())
                    )
                })
            })
            .take(5)
            .collect();
        churn_data::Error::invalid(
            source,
            name,
            "must be a non-negative number (not null)",
            examples,
        )
        .into()
    };
    if let Some(a) = col.as_any().downcast_ref::<Int32Array>() {
        if a.null_count() > 0 || a.values().iter().any(|&v| v < 0) {
            return Err(bad(&|i| a.is_valid(i).then(|| f64::from(a.value(i)))));
        }
        let v = a.values();
        return Ok(Prefix::Int(per_user_prefix(starts, 0i64, |acc, i| {
            acc + i64::from(v[i])
        })));
    }
    if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
        if a.null_count() > 0 || !a.values().iter().all(|&v| v >= 0.0 && v.is_finite()) {
            return Err(bad(&|i| a.is_valid(i).then(|| a.value(i))));
        }
        let v = a.values();
        return Ok(Prefix::Float(per_user_prefix(starts, 0.0f64, |acc, i| {
            acc + v[i]
        })));
    }
    Err(churn_data::Error::invalid(
        source,
        name,
        "must be a number (Int32 or Float64)",
        vec![format!("type {}", col.data_type())],
    )
    .into())
}

/// Running sums over each user's rows laid out as [`Prefix`]: a `zero` before each user's
/// rows, then `add(sum so far, row)` for each row (`starts`: where each user starts, then
/// the row count).
fn per_user_prefix<S: Copy>(starts: &[usize], zero: S, add: impl Fn(S, usize) -> S) -> Vec<S> {
    let rows = starts.last().copied().unwrap_or(0);
    let mut p = Vec::with_capacity(rows + starts.len());
    for w in starts.windows(2) {
        let mut acc = zero;
        p.push(acc);
        p.extend((w[0]..w[1]).map(|i| {
            acc = add(acc, i);
            acc
        }));
    }
    p
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
        require_time_types(source, &b.schema(), &USER_DAILY_COLUMNS)?;
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
    compute_user_stream(features, source, input, &mut |_, b| sink(b))
}

/// [`compute_stream`], with each output batch handed over together with the chunk of whole
/// users it was computed from (same rows, same order; `starts` delimit the users), so that
/// per-user work downstream (labels, the training set) needs no second grouping pass.
pub fn compute_user_stream(
    features: &Features,
    source: &str,
    input: impl Iterator<Item = churn_data::Result<RecordBatch>> + Send,
    sink: &mut dyn FnMut(&UserChunk, RecordBatch) -> churn_data::Result<()>,
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
                sink(c, b)?;
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
    compute_file_with(features, input, output, &mut |_, _| Ok(()))
}

/// [`compute_file`], also handing every output batch, with the users it holds (`starts` of
/// the batch's rows), to `also` in input order before it is written: stages that work on
/// whole users (labels, the training set) can ride along instead of reading the table back.
/// An error from `also` fails the run and leaves `output` untouched.
pub fn compute_file_with(
    features: &Features,
    input: &Path,
    output: &Path,
    also: &mut dyn FnMut(&UserChunk, &RecordBatch) -> churn_data::Result<()>,
) -> Result<FeatureSummary> {
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
        let mut both = |c: &UserChunk, b: RecordBatch| -> churn_data::Result<()> {
            also(c, &b)?;
            if let Some((w, day)) = snapshot.as_mut() {
                let on_day = rows_on(&b, *day)?;
                if on_day.num_rows() > 0 {
                    w.write(&on_day)?;
                }
            }
            sink(b)
        };
        let summary =
            compute_user_stream(features, &name, reader, &mut both).map_err(|e| match e {
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
