//! Scoring one date: look the model's features up by key, keep eligible users, predict
//! with reasons, rank by risk (ties broken by user_id) and stamp the model and time.
//!
//! The feature table is streamed batch by batch; only the rows of the date are kept, and
//! of those only the output columns (keys, context, risk, reasons), so memory grows with
//! the users of one date, never with the table's history.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, UInt32Array, new_null_array,
};
use arrow::compute::{cast, concat, concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use churn_data::clock::Clock;
use churn_data::schema::features as f;
use churn_data::schema::predictions as p;
use churn_data::schema::user_daily as ud;
use churn_labels::eligible_from_recency;
use churn_models::ModelArtifact;
use churn_models::preprocess::{Design, FeatureKind, Preprocessor};
use churn_models::reasons::{REASONS, TopReasons};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seen::{Rejected, SeenUsers};
use crate::table::{FeatureTable, days, keep};

/// What a scoring run's output means, and the columns it adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A probability and a label at a threshold (`predicted_label`).
    #[default]
    Classification,
    /// A value: the model's raw output (`predicted_value`).
    Regression,
    /// A score and a flag at a threshold (`anomaly_flag`).
    Anomaly,
}

/// How to score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreParams {
    /// Eligibility: active within this many days (0 = everyone).
    pub active_within_days: u32,
    /// Compute reason_1..3.
    pub reasons: bool,
    /// Rows per batch read.
    pub batch_rows: usize,
    /// Output kind.
    pub kind: OutputKind,
    /// Threshold of the label or flag.
    pub threshold: f64,
    /// Days of observed history a row's look-back needs (the longest feature window or
    /// eligibility look-back, as in training; 0 = no check). A user who signed up before the
    /// table's first date has days in the windows of its first `min_history_days - 1` dates
    /// that the data does not show, so their counts read low and the risk high. Such rows
    /// are still scored, and counted in [`ScoreSummary::partial_history`].
    pub min_history_days: u32,
    /// Most rows of the dates scored from one read of the feature table. A table ordered
    /// by user holds every date in every row group, so each read decompresses all of it:
    /// a backfill of several dates reads it once per group of dates whose rows (as
    /// estimated from the footers, or the keys asked) fit, and holds those rows until
    /// they are ranked. 0 reads once per date.
    pub max_rows_per_read: usize,
}

impl Default for ScoreParams {
    fn default() -> Self {
        Self {
            active_within_days: 30,
            reasons: true,
            batch_rows: churn_data::io::DEFAULT_BATCH_SIZE,
            kind: OutputKind::Classification,
            threshold: 0.5,
            min_history_days: 30,
            max_rows_per_read: 2_000_000,
        }
    }
}

/// Which registered model scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// Registered name.
    pub name: String,
    /// Registered version.
    pub version: u32,
}

/// What happened to the rows and keys of one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// The date scored.
    pub as_of_date: NaiveDate,
    /// Rows read from the table: every row of a CSV table; of a Parquet table, only the
    /// rows of the date (row groups are skipped by statistics, other rows by a filter on
    /// the date column), or of every date of a backfill that shared the read.
    pub rows_read: u64,
    /// Rows of the date (of the requested keys, in keys-only scoring).
    pub rows_on_date: u64,
    /// Rows scored and written.
    pub scored: u64,
    /// Rows left out because the user was not active within `active_within_days`.
    pub ineligible: u64,
    /// A few ineligible user ids.
    pub ineligible_examples: Vec<String>,
    /// Rows scored whose look-back reaches before the table's first date for a user who
    /// signed up before it (see [`ScoreParams::min_history_days`]): their window features
    /// undercount.
    #[serde(default)]
    pub partial_history: u64,
    /// A few of their user ids.
    #[serde(default)]
    pub partial_history_examples: Vec<String>,
    /// Keys asked for (keys-only scoring).
    pub keys_requested: Option<u64>,
    /// Keys found in the feature table.
    pub keys_found: Option<u64>,
    /// Keys not in the feature table.
    pub keys_missing: Option<u64>,
    /// A few missing user ids.
    pub missing_examples: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
}

impl ScoreSummary {
    /// All counts zero.
    pub fn new(as_of_date: NaiveDate) -> Self {
        Self {
            as_of_date,
            rows_read: 0,
            rows_on_date: 0,
            scored: 0,
            ineligible: 0,
            ineligible_examples: Vec::new(),
            partial_history: 0,
            partial_history_examples: Vec::new(),
            keys_requested: None,
            keys_found: None,
            keys_missing: None,
            missing_examples: Vec::new(),
            seconds: 0.0,
        }
    }
}

/// One scored date: the ranked rows and what happened.
#[derive(Debug, Clone)]
pub struct ScoredDay {
    /// Ranked predictions (risk descending, user_id ascending), contract columns.
    pub batch: RecordBatch,
    /// Counts.
    pub summary: ScoreSummary,
}

/// The context columns carried from the feature table, with their output types.
const CONTEXT: [(&str, DataType); 8] = [
    (ud::USER_ID, DataType::Utf8),
    (ud::AS_OF_DATE, DataType::Date32),
    (ud::PLAN, DataType::Utf8),
    (ud::IS_PAID, DataType::Boolean),
    (ud::COUNTRY, DataType::Utf8),
    (ud::MARKETING_SOURCE, DataType::Utf8),
    (ud::DAYS_SINCE_SIGNUP, DataType::Int32),
    (f::DAYS_SINCE_LAST_ACTIVITY, DataType::Int32),
];

/// The schema of a predictions file for an output kind.
pub fn predictions_schema(kind: OutputKind) -> SchemaRef {
    let mut fields: Vec<Field> = CONTEXT
        .iter()
        .map(|(name, t)| {
            Field::new(
                *name,
                t.clone(),
                *name != ud::USER_ID && *name != ud::AS_OF_DATE,
            )
        })
        .collect();
    fields.extend([
        Field::new(p::CHURN_RISK, DataType::Float64, false),
        Field::new(p::RISK_RANK, DataType::UInt32, false),
        Field::new(p::MODEL_NAME, DataType::Utf8, false),
        Field::new(p::MODEL_VERSION, DataType::UInt32, false),
        Field::new(
            p::SCORED_AT,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]);
    fields.push(match kind {
        OutputKind::Classification => Field::new(p::PREDICTED_LABEL, DataType::Boolean, false),
        OutputKind::Regression => Field::new(p::PREDICTED_VALUE, DataType::Float64, false),
        OutputKind::Anomaly => Field::new(p::ANOMALY_FLAG, DataType::Boolean, false),
    });
    for i in 1..=REASONS {
        fields.push(Field::new(p::reason(i), DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// Scores dates of a feature table with one model.
#[derive(Debug)]
pub struct Scorer<'a> {
    pub(crate) artifact: &'a ModelArtifact,
    pub(crate) identity: ModelIdentity,
    pub(crate) params: ScoreParams,
}

/// Rows of one date gathered so far (unranked).
struct Gathered {
    parts: Vec<RecordBatch>,
    raw: Vec<f64>,
    seen: SeenUsers,
    summary: ScoreSummary,
}

impl<'a> Scorer<'a> {
    /// A scorer of `artifact`, registered as `identity`.
    pub fn new(
        artifact: &'a ModelArtifact,
        identity: ModelIdentity,
        params: ScoreParams,
    ) -> Result<Self> {
        if params.batch_rows == 0 {
            return Err(Error::Params("batch_rows must be positive".into()));
        }
        if !(0.0..=1.0).contains(&params.threshold) && params.kind != OutputKind::Regression {
            return Err(Error::Params(format!(
                "threshold must be within [0, 1] (got {})",
                params.threshold
            )));
        }
        Ok(Self {
            artifact,
            identity,
            params,
        })
    }

    /// Scores `date` of `table`: every row of the date, or only the users of `keys`
    /// (user id → row of the keys file).
    pub fn score_date(
        &self,
        table: &FeatureTable,
        date: NaiveDate,
        keys: Option<&HashMap<String, usize>>,
        clock: &dyn Clock,
    ) -> Result<ScoredDay> {
        let mut days = self.score_dates(table, &[(date, keys)], clock)?;
        Ok(days.pop().expect("one date asked, one scored"))
    }

    /// Scores several dates of `table` in one read of it, each date as
    /// [`Scorer::score_date`] would (every row of the date, or only its keys' users), in
    /// the order asked. A table ordered by user holds every date in every row group, so
    /// each date read alone decompresses the whole table again: a backfill of many dates
    /// reads it once per call instead. The rows of every date asked are held until they
    /// are ranked; the caller bounds how many dates go in one call
    /// ([`ScoreParams::max_rows_per_read`]).
    pub fn score_dates(
        &self,
        table: &FeatureTable,
        dates: &[(NaiveDate, Option<&HashMap<String, usize>>)],
        clock: &dyn Clock,
    ) -> Result<Vec<ScoredDay>> {
        if dates.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let eligibility = eligibility_column(table, self.params.active_within_days)?;
        let empty = RecordBatch::new_empty(table.schema());
        self.artifact
            .preprocessing
            .check_schema(&self.conform(table, &empty)?.schema())
            .map_err(|source| Error::Features {
                path: table.path().to_path_buf(),
                source,
            })?;
        let mut columns: Vec<&str> = CONTEXT.iter().map(|(c, _)| *c).collect();
        columns.extend(
            self.artifact
                .preprocessing
                .features
                .iter()
                .map(|s| s.name.as_str()),
        );
        columns.extend(eligibility.as_deref());
        let history_from = self.history_check(table, dates)?;
        if history_from.iter().any(Option::is_some) {
            columns.push(ud::SIGNUP_DATE);
        }
        let schema = table.schema();
        columns.retain(|c| schema.field_with_name(c).is_ok());
        columns.sort_unstable();
        columns.dedup();
        let mut acc: Vec<Gathered> = dates
            .iter()
            .map(|&(date, keys)| Gathered {
                parts: Vec::new(),
                raw: Vec::new(),
                seen: SeenUsers::new(),
                summary: ScoreSummary {
                    keys_requested: keys.map(|k| k.len() as u64),
                    ..ScoreSummary::new(date)
                },
            })
            .collect();
        let wanted: Vec<NaiveDate> = dates.iter().map(|&(d, _)| d).collect();
        // Decoding and date-filtering the next batches (one thread) overlaps predicting
        // this one (the rest).
        let reader = table.read_on_days(&columns, self.params.batch_rows, &wanted)?;
        type Selected = Result<(Vec<RecordBatch>, usize)>;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Selected>(2);
            scope.spawn(move || {
                for batch in reader {
                    let item = batch.and_then(|b| {
                        let on_dates = dates
                            .iter()
                            .map(|&(date, keys)| select_date(&b, days(date), keys))
                            .collect::<Result<Vec<_>>>()?;
                        Ok((on_dates, b.num_rows()))
                    });
                    let failed = item.is_err();
                    // A closed channel means the consumer failed; stop reading.
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            });
            for item in churn_data::wait::iter(&rx) {
                let (on_dates, rows) = item?;
                for ((on_date, acc), &from) in on_dates.into_iter().zip(&mut acc).zip(&history_from)
                {
                    acc.summary.rows_read += rows as u64;
                    if on_date.num_rows() > 0 {
                        self.gather(table, on_date, eligibility.as_deref(), from, acc)?;
                    }
                }
            }
            Ok(())
        })?;
        let mut scored = Vec::with_capacity(dates.len());
        for (mut acc, &(date, keys)) in acc.into_iter().zip(dates) {
            if let Some(keys) = keys {
                let found = acc.seen.len() as u64;
                acc.summary.keys_found = Some(found);
                acc.summary.keys_missing = Some(keys.len() as u64 - found);
                let mut missing: Vec<(&usize, &String)> = keys
                    .iter()
                    .filter(|(u, _)| !acc.seen.contains(u))
                    .map(|(u, r)| (r, u))
                    .collect();
                missing.sort_unstable();
                acc.summary.missing_examples =
                    missing.iter().take(5).map(|(_, u)| (*u).clone()).collect();
            }
            if acc.summary.rows_on_date == 0 && keys.is_none() {
                let (first, last) = table.date_range()?.unwrap_or((date, date));
                return Err(Error::UnknownDate {
                    path: table.path().to_path_buf(),
                    date,
                    first,
                    last,
                });
            }
            let batch = self.rank(acc.parts, acc.raw, clock)?;
            acc.summary.scored = batch.num_rows() as u64;
            acc.summary.seconds = started.elapsed().as_secs_f64();
            scored.push(ScoredDay {
                batch,
                summary: acc.summary,
            });
        }
        Ok(scored)
    }

    /// For each date asked, the table's first date when rows of that date may have
    /// look-backs reaching before it (the date is within `min_history_days - 1` days of it
    /// and the table has signup dates); `None` when every row's history is complete or there
    /// is nothing to check with. The table's date range is looked up once for all dates (a
    /// CSV table is scanned for it).
    fn history_check(
        &self,
        table: &FeatureTable,
        dates: &[(NaiveDate, Option<&HashMap<String, usize>>)],
    ) -> Result<Vec<Option<i32>>> {
        let m = self.params.min_history_days;
        let first = if m <= 1 || table.schema().field_with_name(ud::SIGNUP_DATE).is_err() {
            None
        } else {
            table.date_range()?.map(|(first, _)| first)
        };
        Ok(dates
            .iter()
            .map(|&(date, _)| {
                first.and_then(|first| {
                    let complete_from = first + chrono::Days::new(u64::from(m - 1));
                    (date < complete_from).then(|| days(first))
                })
            })
            .collect())
    }

    /// Counts the rows of users who signed up before `first` (or whose signup is unknown):
    /// their look-back reaches before the data.
    fn count_partial_history(
        table: &FeatureTable,
        batch: &RecordBatch,
        first: i32,
        summary: &mut ScoreSummary,
    ) -> Result<()> {
        let Some(signup) = batch.column_by_name(ud::SIGNUP_DATE) else {
            return Ok(());
        };
        let signup = cast(signup, &DataType::Date32).map_err(|e| Error::Input {
            path: table.path().to_path_buf(),
            column: ud::SIGNUP_DATE.into(),
            rule: format!("not a date: {e}"),
            examples: vec![],
        })?;
        let signup = signup.as_primitive::<Date32Type>();
        let users = batch
            .column_by_name(ud::USER_ID)
            .expect("the key column was read")
            .as_string::<i32>();
        for i in (0..batch.num_rows()).filter(|&i| signup.is_null(i) || signup.value(i) < first) {
            summary.partial_history += 1;
            if summary.partial_history_examples.len() < 5 {
                summary
                    .partial_history_examples
                    .push(users.value(i).to_string());
            }
        }
        Ok(())
    }

    /// Checks duplicates, applies eligibility and predicts one batch of the date.
    fn gather(
        &self,
        table: &FeatureTable,
        batch: RecordBatch,
        eligibility: Option<&str>,
        history_from: Option<i32>,
        acc: &mut Gathered,
    ) -> Result<()> {
        acc.summary.rows_on_date += batch.num_rows() as u64;
        let users = batch
            .column_by_name(ud::USER_ID)
            .expect("the key column was read")
            .as_string::<i32>()
            .clone();
        acc.seen.extend(&users).map_err(|rejected| {
            let (rule, example) = match rejected {
                Rejected::Missing(i) => (
                    "missing user id".to_string(),
                    format!(
                        "row {} of the date",
                        acc.summary.rows_on_date as usize - batch.num_rows() + i + 1
                    ),
                ),
                Rejected::Repeated(u) => (
                    format!(
                        "duplicate (user_id, as_of_date) rows: a key must have one row of features on {}",
                        acc.summary.as_of_date
                    ),
                    u,
                ),
            };
            Error::Input {
                path: table.path().to_path_buf(),
                column: ud::USER_ID.into(),
                rule,
                examples: vec![example],
            }
        })?;
        let batch = match eligibility {
            Some(column) => {
                let mask =
                    eligible_rows(table.path(), &batch, column, self.params.active_within_days)?;
                let dropped = batch.num_rows() - mask.true_count();
                if dropped > 0 {
                    acc.summary.ineligible += dropped as u64;
                    let room = 5usize.saturating_sub(acc.summary.ineligible_examples.len());
                    acc.summary.ineligible_examples.extend(
                        (0..batch.num_rows())
                            .filter(|&i| !mask.value(i))
                            .take(room)
                            .map(|i| users.value(i).to_string()),
                    );
                }
                keep(&batch, &mask)?
            }
            None => batch,
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(first) = history_from {
            Self::count_partial_history(table, &batch, first, &mut acc.summary)?;
        }
        let design = self
            .artifact
            .design(std::slice::from_ref(&self.conform(table, &batch)?))?;
        let predictions = self
            .artifact
            .predict_design_coded(&design, self.params.reasons)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(CONTEXT.len() + 1 + REASONS);
        for (name, t) in &CONTEXT {
            columns.push(match batch.column_by_name(name) {
                Some(a) => cast(a, t).map_err(|e| Error::arrow(format!("column `{name}`"), e))?,
                None => new_null_array(t, batch.num_rows()),
            });
        }
        columns.push(Arc::new(Float64Array::from(predictions.churn_risk)));
        columns.extend(reason_columns(
            &self.artifact.preprocessing,
            &design,
            &predictions.reasons,
        )?);
        acc.raw.extend(predictions.raw_logit);
        acc.parts.push(
            RecordBatch::try_new(gathered_schema(), columns)
                .map_err(|e| Error::arrow("assembling predictions", e))?,
        );
        Ok(())
    }

    /// Text columns (a CSV table) that the model reads as numbers or booleans are parsed;
    /// a value that does not parse is an error, never a silent missing value.
    pub(crate) fn conform(&self, table: &FeatureTable, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns = batch.columns().to_vec();
        for spec in &self.artifact.preprocessing.features {
            let Ok(i) = schema.index_of(&spec.name) else {
                continue;
            };
            if spec.kind != FeatureKind::Numeric || !matches!(fields[i].data_type(), DataType::Utf8)
            {
                continue;
            }
            let to = if spec.arrow_type == "Boolean" {
                DataType::Boolean
            } else {
                DataType::Float64
            };
            let source = columns[i].clone();
            let parsed = cast(&source, &to)
                .map_err(|e| Error::arrow(format!("column `{}`", spec.name), e))?;
            let bad: Vec<String> = (0..parsed.len())
                .filter(|&r| {
                    parsed.is_null(r)
                        && !source.is_null(r)
                        && !source.as_string::<i32>().value(r).is_empty()
                })
                .take(3)
                .map(|r| source.as_string::<i32>().value(r).to_string())
                .collect();
            if !bad.is_empty() {
                return Err(Error::Input {
                    path: table.path().to_path_buf(),
                    column: spec.name.clone(),
                    rule: format!(
                        "values that do not parse as {to} (the model reads it as {})",
                        spec.arrow_type
                    ),
                    examples: bad,
                });
            }
            fields[i] = Field::new(&spec.name, to, true);
            columns[i] = parsed;
        }
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| Error::arrow("parsing text columns", e))
    }

    /// Sorts by risk (descending, ties by user_id) and adds rank, model, time and the
    /// kind's column.
    fn rank(
        &self,
        parts: Vec<RecordBatch>,
        raw: Vec<f64>,
        clock: &dyn Clock,
    ) -> Result<RecordBatch> {
        let all = concat_batches(&gathered_schema(), &parts)
            .map_err(|e| Error::arrow("concatenating predictions", e))?;
        drop(parts);
        let risk = all
            .column(CONTEXT.len())
            .as_primitive::<arrow::datatypes::Float64Type>()
            .clone();
        let users = all.column(0).as_string::<i32>().clone();
        let order = rank_order(risk.values(), &users);
        let indices = UInt32Array::from(order.clone());
        let sorted = take_record_batch(&all, &indices).map_err(|e| Error::arrow("ranking", e))?;
        drop(all);
        let n = sorted.num_rows();
        let risk_sorted = sorted
            .column(CONTEXT.len())
            .as_primitive::<arrow::datatypes::Float64Type>()
            .clone();
        let at = clock.now().timestamp_micros();
        let mut columns: Vec<ArrayRef> = sorted.columns()[..=CONTEXT.len()].to_vec();
        columns.push(Arc::new(UInt32Array::from_iter_values(1..=n as u32)));
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.identity.name, n),
        )));
        columns.push(Arc::new(UInt32Array::from_iter_values(
            std::iter::repeat_n(self.identity.version, n),
        )));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(at, n))
                .with_timezone("+00:00"),
        ));
        let t = self.params.threshold;
        columns.push(match self.params.kind {
            OutputKind::Classification | OutputKind::Anomaly => Arc::new(
                risk_sorted
                    .values()
                    .iter()
                    .map(|&r| Some(r >= t))
                    .collect::<BooleanArray>(),
            ),
            OutputKind::Regression => Arc::new(Float64Array::from_iter_values(
                order.iter().map(|&i| raw[i as usize]),
            )),
        });
        columns.extend(sorted.columns()[CONTEXT.len() + 1..].iter().cloned());
        RecordBatch::try_new(predictions_schema(self.params.kind), columns)
            .map_err(|e| Error::arrow("assembling ranked predictions", e))
    }
}

/// The column eligibility is computed from: `active_days_{w}d` with the smallest `w ≥ n`
/// (`None` when `n = 0`, everyone is eligible). An error names the windows the table has.
pub fn eligibility_column(table: &FeatureTable, n: u32) -> Result<Option<String>> {
    if n == 0 {
        return Ok(None);
    }
    let schema = table.schema();
    let windows: Vec<u32> = schema
        .fields()
        .iter()
        .filter_map(|fl| {
            fl.name()
                .strip_prefix(f::ACTIVE_DAYS)?
                .strip_prefix('_')?
                .strip_suffix('d')?
                .parse()
                .ok()
        })
        .collect();
    match windows.iter().filter(|&&w| w >= n).min() {
        Some(&w) if schema.field_with_name(f::DAYS_SINCE_LAST_ACTIVITY).is_ok() => {
            Ok(Some(f::windowed(f::ACTIVE_DAYS, w)))
        }
        _ => Err(Error::Input {
            path: table.path().to_path_buf(),
            column: f::windowed(f::ACTIVE_DAYS, n),
            rule: format!(
                "eligibility (active within {n} days) needs {} and active_days_<w>d with \
                 w >= {n}; the table has windows {windows:?} (set labels.active_within_days \
                 to at most the largest window, or 0 to score everyone)",
                f::DAYS_SINCE_LAST_ACTIVITY
            ),
            examples: vec![],
        }),
    }
}

/// Which rows of a feature batch (of the table at `path`) are eligible (active within `n`
/// days), from `days_since_last_activity` and the window column of [`eligibility_column`].
/// A missing value makes a row ineligible; a value that is not a whole number (text in a CSV
/// table) is an error naming it, never a silently ineligible user.
pub fn eligible_rows(
    path: &Path,
    batch: &RecordBatch,
    column: &str,
    n: u32,
) -> Result<BooleanArray> {
    let int = |name: &str| -> Result<Int32Array> {
        let a = batch.column_by_name(name).expect("the column was read");
        let c =
            cast(a, &DataType::Int32).map_err(|e| Error::arrow(format!("column `{name}`"), e))?;
        let c = c.as_primitive::<Int32Type>().clone();
        let shown = arrow::util::display::ArrayFormatter::try_new(a.as_ref(), &Default::default())
            .map_err(|e| Error::arrow(format!("column `{name}`"), e))?;
        let mut bad: Vec<String> = Vec::new();
        for i in (0..c.len()).filter(|&i| c.is_null(i) && a.is_valid(i)) {
            let v = shown.value(i).to_string();
            if !bad.contains(&v) {
                bad.push(v);
            }
            if bad.len() == 3 {
                break;
            }
        }
        if !bad.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                column: name.to_string(),
                rule: format!(
                    "values that are not whole numbers of days (eligibility reads it, active \
                     within {n} days)"
                ),
                examples: bad,
            });
        }
        Ok(c)
    };
    let (recency, active) = (int(f::DAYS_SINCE_LAST_ACTIVITY)?, int(column)?);
    Ok((0..batch.num_rows())
        .map(|i| {
            Some(
                !recency.is_null(i)
                    && !active.is_null(i)
                    && eligible_from_recency(recency.value(i), active.value(i), n),
            )
        })
        .collect())
}

/// Row order by risk descending, ties broken by user_id ascending.
pub fn rank_order(risk: &[f64], users: &StringArray) -> Vec<u32> {
    let mut order: Vec<u32> = (0..risk.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        risk[b]
            .total_cmp(&risk[a])
            .then_with(|| users.value(a).cmp(users.value(b)))
    });
    order
}

fn gathered_schema() -> SchemaRef {
    let mut fields: Vec<Field> = CONTEXT
        .iter()
        .map(|(name, t)| Field::new(*name, t.clone(), true))
        .collect();
    fields.push(Field::new(p::CHURN_RISK, DataType::Float64, false));
    for i in 1..=REASONS {
        fields.push(Field::new(p::reason(i), DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// The rows of `day` (days since 1970-01-01) and, with keys, of the requested users.
pub fn select_date(
    batch: &RecordBatch,
    day: i32,
    keys: Option<&HashMap<String, usize>>,
) -> Result<RecordBatch> {
    let dates = batch
        .column_by_name(ud::AS_OF_DATE)
        .expect("the key column was read")
        .as_primitive::<Date32Type>();
    let mask: BooleanArray = match keys {
        None => dates.iter().map(|d| Some(d == Some(day))).collect(),
        Some(keys) => {
            let users = batch
                .column_by_name(ud::USER_ID)
                .expect("the key column was read")
                .as_string::<i32>();
            dates
                .iter()
                .zip(users.iter())
                .map(|(d, u)| {
                    Some(d == Some(day) && u.is_some_and(|u| keys.contains_key(u.trim())))
                })
                .collect()
        }
    };
    if mask.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    keep(batch, &mask)
}

/// The reason_1..reason_N label columns of `rows` rows (null where a row has fewer reasons,
/// or none were computed). Formatting millions of labels is a good part of scoring with
/// reasons: pieces of rows are formatted in parallel straight into Arrow buffers, with no
/// string per label.
fn reason_columns(pre: &Preprocessor, x: &Design, reasons: &[TopReasons]) -> Result<Vec<ArrayRef>> {
    const PIECE: usize = 8192;
    let rows = x.rows;
    let pieces: Vec<Vec<StringArray>> = (0..rows.div_ceil(PIECE))
        .into_par_iter()
        .map(|p| {
            let range = p * PIECE..((p + 1) * PIECE).min(rows);
            let mut label = String::new();
            (0..REASONS)
                .map(|r| {
                    let mut b = StringBuilder::with_capacity(range.len(), range.len() * 32);
                    for i in range.clone() {
                        match reasons.get(i).and_then(|rs| rs.as_slice().get(r)) {
                            Some(reason) => {
                                label.clear();
                                reason.push_label(pre, x, i, &mut label);
                                b.append_value(&label);
                            }
                            None => b.append_null(),
                        }
                    }
                    b.finish()
                })
                .collect()
        })
        .collect();
    (0..REASONS)
        .map(|r| {
            let parts: Vec<&dyn Array> = pieces.iter().map(|p| &p[r] as &dyn Array).collect();
            if parts.is_empty() {
                return Ok(Arc::new(StringArray::from(Vec::<Option<&str>>::new())) as ArrayRef);
            }
            concat(&parts).map_err(|e| Error::arrow("assembling reason columns", e))
        })
        .collect()
}
