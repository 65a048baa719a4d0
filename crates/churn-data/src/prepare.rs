//! Cleaning and aggregation of raw users and events to one row per user and calendar day.
//!
//! Cleaning: categories are trimmed (plan, event types and marketing sources lowercased,
//! country codes uppercased), types coerced (values that do not parse become null), rows
//! missing identity fields dropped (users: user_id; events: event_id, user_id, event_time,
//! event_type), duplicate ids dropped (first kept), and only events of known users with an
//! allowed type kept.
//!
//! Aggregation runs in one streaming pass when the events are grouped by user in the order
//! of the users table (what the generator and most exports produce): memory then holds one
//! user's days. Otherwise it falls back to passes over contiguous ranges of users whose
//! day accumulators fit `prepare.memory_budget_mib`, re-reading the events each pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Float64Builder, Int32Array, Int32Builder,
    Int64Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use arrow::datatypes::DataType;
use serde::Serialize;

use crate::calendar::{DayCalendar, DayCursor};
use crate::canonical::{
    canonicalize, coerce_columns, missing_required, require_columns, require_time_types,
};
use crate::config::{PrepareConfig, ValidateConfig};
use crate::idset::IdSet;
use crate::io::{DEFAULT_BATCH_SIZE, TableReader, TableWriter};
use crate::partition::Partition;
use crate::schema::{
    self, EVENTS_COLUMNS, USERS_COLUMNS, event_code, events, user_daily_schema, users,
};
use crate::{Error, Result};

/// Type code of an allowed event type outside the contract's seven (counts as activity).
const OTHER_TYPE: u8 = schema::EVENT_TYPES.len() as u8;

/// Counts of what cleaning kept and dropped, and what was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrepareSummary {
    /// Users rows read.
    pub users_in: u64,
    /// Users kept after cleaning.
    pub users_kept: u64,
    /// Users rows without a user_id.
    pub users_dropped_missing_id: u64,
    /// Users rows repeating an earlier user_id.
    pub users_dropped_duplicate: u64,
    /// Events rows read (in the pass that produced the output).
    pub events_in: u64,
    /// Events aggregated.
    pub events_kept: u64,
    /// Events without event_id, user_id, event_time or event_type.
    pub events_dropped_missing_identity: u64,
    /// Events repeating an earlier event_id.
    pub events_dropped_duplicate: u64,
    /// Events of users not in the users table.
    pub events_dropped_unknown_user: u64,
    /// Users of other partitions, skipped by a partitioned run (see [`crate::partition`]).
    pub users_other_partition: u64,
    /// Events of other partitions' users, skipped by a partitioned run (after the duplicate
    /// check, which sees every event, so the parts add up to the unpartitioned table).
    pub events_other_partition: u64,
    /// Events whose type is neither allowed nor mapped.
    pub events_dropped_unknown_type: u64,
    /// Events dated before their user's grid starts (before signup).
    pub events_outside_grid: u64,
    /// First data date.
    pub first_date: Option<chrono::NaiveDate>,
    /// Last data date.
    pub last_date: Option<chrono::NaiveDate>,
    /// User-day rows written.
    pub user_days: u64,
    /// Passes over the events (1 when they were grouped by user).
    pub passes: u32,
}

/// A re-readable source of raw event batches.
pub trait EventSource {
    /// Starts a fresh read of the events, keeping at least `columns` when they exist.
    fn batches(
        &self,
        columns: &[&str],
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + '_>>;
    /// A name for messages.
    fn name(&self) -> String;
    /// The event_time range in microseconds when known without a scan (file statistics).
    fn time_range_hint(&self) -> Option<(i64, i64)> {
        None
    }
}

impl EventSource for PathBuf {
    fn batches(
        &self,
        columns: &[&str],
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + '_>> {
        let r = TableReader::open(self, Some(columns), DEFAULT_BATCH_SIZE)?;
        let required: Vec<&str> = missing_required(&r.schema(), &EVENTS_COLUMNS)
            .into_iter()
            .filter(|c| columns.contains(c))
            .collect();
        require_columns(self, &r.schema(), &required)?;
        require_time_types(self, &r.schema(), &EVENTS_COLUMNS)?;
        Ok(Box::new(r))
    }
    fn name(&self) -> String {
        self.display().to_string()
    }
    fn time_range_hint(&self) -> Option<(i64, i64)> {
        crate::io::parquet_time_range(self, events::EVENT_TIME)
    }
}

/// Events already in memory.
#[derive(Debug, Clone, Copy)]
pub struct InMemoryEvents<'a>(pub &'a [RecordBatch]);

impl EventSource for InMemoryEvents<'_> {
    fn batches(
        &self,
        _columns: &[&str],
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + '_>> {
        Ok(Box::new(self.0.iter().cloned().map(Ok)))
    }
    fn name(&self) -> String {
        "events (in memory)".into()
    }
}

/// The cleaned users table, in first-seen order.
#[derive(Debug, Default)]
pub struct UserTable {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    signup: Vec<Option<i32>>,
    plan: Vec<Option<&'static str>>,
    is_paid: Vec<Option<i32>>,
    country: Vec<Option<String>>,
    source: Vec<Option<String>>,
    partition: Option<Partition>,
}

impl UserTable {
    /// Number of users.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// Dense index of a user id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// Where an event's user id goes: its dense index, `OTHER_PARTITION` for a user of
    /// another partition, or `UNKNOWN_USER`.
    fn lookup(&self, id: &str) -> u32 {
        match self.index.get(id) {
            Some(&i) => i,
            None if self.partition.is_some_and(|p| !p.contains(id)) => OTHER_PARTITION,
            None => UNKNOWN_USER,
        }
    }

    /// Cleans raw users batches (any reasonable types) into a table, counting what it drops.
    pub fn from_batches(
        batches: impl Iterator<Item = Result<RecordBatch>>,
        summary: &mut PrepareSummary,
    ) -> Result<Self> {
        Self::from_batches_in(batches, summary, None)
    }

    /// [`UserTable::from_batches`] keeping only the users of `partition` (all when `None`);
    /// events of the others are then skipped, not counted as unknown.
    pub fn from_batches_in(
        batches: impl Iterator<Item = Result<RecordBatch>>,
        summary: &mut PrepareSummary,
        partition: Option<Partition>,
    ) -> Result<Self> {
        let mut t = UserTable {
            partition,
            ..UserTable::default()
        };
        for batch in batches {
            let (b, _) = canonicalize(&batch?, &USERS_COLUMNS, 0)?;
            let id = typed::<StringArray>(&b, users::USER_ID);
            let signup = typed::<Date32Array>(&b, users::SIGNUP_DATE);
            let plan = typed::<StringArray>(&b, users::PLAN);
            let paid = typed::<Int32Array>(&b, users::IS_PAID);
            let country = typed::<StringArray>(&b, users::COUNTRY);
            let source = typed::<StringArray>(&b, users::MARKETING_SOURCE);
            for r in 0..b.num_rows() {
                summary.users_in += 1;
                if id.is_null(r) {
                    summary.users_dropped_missing_id += 1;
                    continue;
                }
                let key = id.value(r);
                if partition.is_some_and(|p| !p.contains(key)) {
                    summary.users_other_partition += 1;
                    continue;
                }
                if t.index.contains_key(key) {
                    summary.users_dropped_duplicate += 1;
                    continue;
                }
                let (plan_v, paid_v) = resolve_plan(
                    plan.is_valid(r).then(|| plan.value(r)),
                    paid.is_valid(r).then(|| paid.value(r)),
                );
                t.index.insert(key.to_string(), t.ids.len() as u32);
                t.ids.push(key.to_string());
                t.signup.push(signup.is_valid(r).then(|| signup.value(r)));
                t.plan.push(plan_v);
                t.is_paid.push(paid_v);
                t.country
                    .push(country.is_valid(r).then(|| country.value(r).to_uppercase()));
                t.source
                    .push(source.is_valid(r).then(|| source.value(r).to_lowercase()));
            }
        }
        summary.users_kept = t.ids.len() as u64;
        Ok(t)
    }
}

/// is_paid (the billing flag) wins when valid; otherwise the plan decides.
fn resolve_plan(plan: Option<&str>, paid: Option<i32>) -> (Option<&'static str>, Option<i32>) {
    match (paid, plan.map(str::to_lowercase).as_deref()) {
        (Some(1), _) => (Some(schema::PLAN_PAID), Some(1)),
        (Some(0), _) => (Some(schema::PLAN_FREE), Some(0)),
        (_, Some(schema::PLAN_PAID)) => (Some(schema::PLAN_PAID), Some(1)),
        (_, Some(schema::PLAN_FREE)) => (Some(schema::PLAN_FREE), Some(0)),
        _ => (None, None),
    }
}

fn typed<'b, T: 'static>(batch: &'b RecordBatch, name: &str) -> &'b T {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .expect("canonical batches have every contract column with its canonical type")
}

/// Per-user-day accumulators for `users` consecutive users × `days` days.
#[derive(Debug)]
struct DayAgg {
    days: usize,
    counts: Vec<[u32; 8]>,
    watch: Vec<f64>,
    quiz_sum: Vec<f64>,
    quiz_scored: Vec<u32>,
}

/// Slots of `DayAgg::counts`: the seven contract types, then the total.
const TOTAL: usize = 7;
const BYTES_PER_USER_DAY: usize = 8 * 4 + 8 + 8 + 4;

impl DayAgg {
    fn new(users: usize, days: usize) -> Self {
        let n = users * days;
        Self {
            days,
            counts: vec![[0; 8]; n],
            watch: vec![0.0; n],
            quiz_sum: vec![0.0; n],
            quiz_scored: vec![0; n],
        }
    }
    fn reset(&mut self) {
        self.counts.fill([0; 8]);
        self.watch.fill(0.0);
        self.quiz_sum.fill(0.0);
        self.quiz_scored.fill(0);
    }
    fn add(&mut self, slot: usize, kind: u8, watch: Option<f64>, quiz: Option<f64>) {
        let c = &mut self.counts[slot];
        c[TOTAL] += 1;
        if kind == OTHER_TYPE {
            return;
        }
        c[kind as usize] += 1;
        match kind {
            event_code::VIDEO_WATCH => self.watch[slot] += watch.unwrap_or(0.0),
            event_code::QUIZ_ATTEMPT => {
                if let Some(q) = quiz {
                    self.quiz_sum[slot] += q;
                    self.quiz_scored[slot] += 1;
                }
            }
            _ => {}
        }
    }
}

/// One cleaned event ready to aggregate.
#[derive(Debug, Clone, Copy)]
struct CleanEvent {
    user: u32,
    day: i64,
    kind: u8,
    watch: Option<f64>,
    quiz: Option<f64>,
}

/// Turns parsed event batches ([`parse_events`]) into clean events, applying every
/// cleaning rule.
struct EventCleaner<'a> {
    types: HashMap<String, u8>,
    ids: IdSet,
    /// The days of `validate.day_time_zone`.
    days: DayCursor<'a>,
}

impl<'a> EventCleaner<'a> {
    fn new(config: &ValidateConfig, calendar: &'a DayCalendar) -> Self {
        let mut types: HashMap<String, u8> = schema::EVENT_TYPES
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u8))
            .collect();
        for extra in &config.extra_event_types {
            types
                .entry(extra.trim().to_lowercase())
                .or_insert(OTHER_TYPE);
        }
        for (from, to) in &config.event_type_map {
            let code = types
                .get(to.trim().to_lowercase().as_str())
                .copied()
                .unwrap_or(OTHER_TYPE);
            types.insert(from.trim().to_lowercase(), code);
        }
        Self {
            types,
            ids: IdSet::new(),
            days: calendar.cursor(),
        }
    }

    fn clean(
        &mut self,
        raw: &(Vec<u32>, RecordBatch),
        summary: &mut PrepareSummary,
        out: &mut Vec<CleanEvent>,
    ) -> Result<()> {
        out.clear();
        let (user_idx, b) = raw;
        let event_id = typed::<Int64Array>(b, events::EVENT_ID);
        let time = typed::<TimestampMicrosecondArray>(b, events::EVENT_TIME);
        let etype = typed::<StringArray>(b, events::EVENT_TYPE);
        let watch = typed::<Float64Array>(b, events::WATCH_MINUTES);
        let quiz = typed::<Float64Array>(b, events::QUIZ_SCORE);
        let mut lowered = String::new();
        for (r, &user) in user_idx.iter().enumerate() {
            summary.events_in += 1;
            if event_id.is_null(r) || time.is_null(r) || etype.is_null(r) || user == MISSING_ID {
                summary.events_dropped_missing_identity += 1;
                continue;
            }
            if !self.ids.insert(event_id.value(r)) {
                summary.events_dropped_duplicate += 1;
                continue;
            }
            if user == UNKNOWN_USER {
                summary.events_dropped_unknown_user += 1;
                continue;
            }
            if user == OTHER_PARTITION {
                summary.events_other_partition += 1;
                continue;
            }
            let t = etype.value(r);
            let code = match contract_type_code(t).or_else(|| self.types.get(t).copied()) {
                Some(c) => Some(c),
                None => {
                    lowered.clear();
                    lowered.push_str(&t.to_lowercase());
                    self.types.get(lowered.as_str()).copied()
                }
            };
            let Some(kind) = code else {
                summary.events_dropped_unknown_type += 1;
                continue;
            };
            let finite =
                |a: &Float64Array| (a.is_valid(r) && a.value(r).is_finite()).then(|| a.value(r));
            out.push(CleanEvent {
                user,
                day: self.days.day(time.value(r)),
                kind,
                watch: finite(watch).filter(|w| *w >= 0.0),
                quiz: finite(quiz).filter(|q| (0.0..=100.0).contains(q)),
            });
        }
        Ok(())
    }
}

/// What can be done with a raw events batch before the cleaning that keeps state across
/// batches (duplicate ids): each row's user index and the columns in their canonical types
/// (event times parsed). Runs ahead, on the reading thread.
fn parse_events(users: &UserTable, raw: &RecordBatch) -> Result<(Vec<u32>, RecordBatch)> {
    let user_idx = lookup_users(users, raw)?;
    let (b, _) = canonicalize(raw, &CLEAN_SPEC, 0)?;
    Ok((user_idx, b))
}

/// Maps the user_id column to dense user indexes, looking each run of equal ids up once.
fn lookup_users(users: &UserTable, raw: &RecordBatch) -> Result<Vec<u32>> {
    let col = raw.column_by_name(events::USER_ID).ok_or_else(|| {
        Error::invalid(
            "events",
            events::USER_ID,
            "required column is missing",
            vec![],
        )
    })?;
    if col.data_type().is_integer() {
        return lookup_integer_users(users, col);
    }
    let text: ArrayRef = match col.data_type() {
        DataType::Utf8 => col.clone(),
        _ => cast_with_options(col, &DataType::Utf8, &CastOptions::default())
            .map_err(|e| Error::arrow("reading events.user_id as text", e))?,
    };
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8 yields a StringArray");
    let mut out = Vec::with_capacity(text.len());
    let mut last: Option<(&str, u32)> = None;
    for v in text.iter() {
        let idx = match v.map(str::trim) {
            None | Some("") => MISSING_ID,
            Some(s) => match last {
                Some((prev, i)) if prev == s => i,
                _ => {
                    let i = users.lookup(s);
                    last = Some((s, i));
                    i
                }
            },
        };
        out.push(idx);
    }
    Ok(out)
}

/// Integer ids are compared as integers and formatted only when the id changes.
fn lookup_integer_users(users: &UserTable, col: &ArrayRef) -> Result<Vec<u32>> {
    let ints = cast_with_options(col, &DataType::Int64, &CastOptions::default())
        .map_err(|e| Error::arrow("reading events.user_id as integers", e))?;
    let ints = ints
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64 yields an Int64Array");
    let mut out = Vec::with_capacity(ints.len());
    let mut last: Option<(i64, u32)> = None;
    for v in ints.iter() {
        let idx = match (v, last) {
            (None, _) => MISSING_ID,
            (Some(x), Some((prev, i))) if prev == x => i,
            (Some(x), _) => {
                let i = users.lookup(&x.to_string());
                last = Some((x, i));
                i
            }
        };
        out.push(idx);
    }
    Ok(out)
}

/// The code of a contract event type spelled exactly (the common case, no hashing).
fn contract_type_code(t: &str) -> Option<u8> {
    schema::EVENT_TYPES
        .iter()
        .position(|k| *k == t)
        .map(|i| i as u8)
}

/// The event columns cleaning needs besides user_id (which is looked up separately).
const CLEAN_SPEC: [schema::ColumnSpec; 5] = [
    EVENTS_COLUMNS[0],
    EVENTS_COLUMNS[2],
    EVENTS_COLUMNS[3],
    EVENTS_COLUMNS[5],
    EVENTS_COLUMNS[6],
];

const MISSING_ID: u32 = u32::MAX;
const UNKNOWN_USER: u32 = u32::MAX - 1;
const OTHER_PARTITION: u32 = u32::MAX - 2;

/// Builds user-day batches.
struct DailyBuilder {
    rows: usize,
    user_id: StringBuilder,
    as_of: Vec<i32>,
    signup: Vec<Option<i32>>,
    since: Vec<Option<i32>>,
    plan: StringBuilder,
    paid: Int32Builder,
    country: StringBuilder,
    source: StringBuilder,
    counts: [Vec<i32>; 9],
    watch: Vec<f64>,
    quiz_avg: Float64Builder,
}

impl DailyBuilder {
    fn new() -> Self {
        Self {
            rows: 0,
            user_id: StringBuilder::new(),
            as_of: Vec::new(),
            signup: Vec::new(),
            since: Vec::new(),
            plan: StringBuilder::new(),
            paid: Int32Builder::new(),
            country: StringBuilder::new(),
            source: StringBuilder::new(),
            counts: Default::default(),
            watch: Vec::new(),
            quiz_avg: Float64Builder::new(),
        }
    }

    /// Appends the grid rows of user `u`, reading its days from `agg` at `base`.
    fn push_user(
        &mut self,
        users: &UserTable,
        u: usize,
        agg: &DayAgg,
        base: usize,
        (first_day, last_day): (i32, i32),
        summary: &mut PrepareSummary,
    ) {
        let signup = users.signup[u];
        let start = signup.map_or(first_day, |s| s.max(first_day));
        for slot in 0..(start - first_day).max(0).min(agg.days as i32) as usize {
            summary.events_outside_grid += u64::from(agg.counts[base + slot][TOTAL]);
        }
        for day in start..=last_day {
            let slot = base + (day - first_day) as usize;
            let c = &agg.counts[slot];
            self.user_id.append_value(&users.ids[u]);
            self.as_of.push(day);
            self.signup.push(signup);
            self.since.push(signup.map(|s| day - s));
            self.plan.append_option(users.plan[u]);
            self.paid.append_option(users.is_paid[u]);
            self.country.append_option(users.country[u].as_deref());
            self.source.append_option(users.source[u].as_deref());
            let count = |code: u8| c[code as usize] as i32;
            let values = [
                i32::from(c[TOTAL] > 0),
                c[TOTAL] as i32,
                count(event_code::LOGIN),
                count(event_code::COURSE_ENROLL),
                count(event_code::QUIZ_ATTEMPT),
                count(event_code::PAYMENT_SUCCESS),
                count(event_code::PAYMENT_FAILED),
                count(event_code::SUPPORT_TICKET),
                0,
            ];
            for (v, col) in values.iter().zip(self.counts.iter_mut()) {
                col.push(*v);
            }
            self.watch.push(agg.watch[slot]);
            let n = agg.quiz_scored[slot];
            self.quiz_avg
                .append_option((n > 0).then(|| agg.quiz_sum[slot] / f64::from(n)));
            self.rows += 1;
        }
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let take_i32 = |v: &mut Vec<i32>| Int32Array::from(std::mem::take(v));
        let [
            active,
            total,
            logins,
            enroll,
            quiz,
            pay_s,
            pay_f,
            support,
            _,
        ] = &mut self.counts;
        let cols: Vec<ArrayRef> = vec![
            std::sync::Arc::new(self.user_id.finish()),
            std::sync::Arc::new(Date32Array::from(std::mem::take(&mut self.as_of))),
            std::sync::Arc::new(Date32Array::from(std::mem::take(&mut self.signup))),
            std::sync::Arc::new(Int32Array::from(std::mem::take(&mut self.since))),
            std::sync::Arc::new(self.plan.finish()),
            std::sync::Arc::new(self.paid.finish()),
            std::sync::Arc::new(self.country.finish()),
            std::sync::Arc::new(self.source.finish()),
            std::sync::Arc::new(take_i32(active)),
            std::sync::Arc::new(take_i32(total)),
            std::sync::Arc::new(take_i32(logins)),
            std::sync::Arc::new(take_i32(enroll)),
            std::sync::Arc::new(Float64Array::from(std::mem::take(&mut self.watch))),
            std::sync::Arc::new(take_i32(quiz)),
            std::sync::Arc::new(self.quiz_avg.finish()),
            std::sync::Arc::new(take_i32(pay_s)),
            std::sync::Arc::new(take_i32(pay_f)),
            std::sync::Arc::new(take_i32(support)),
        ];
        self.rows = 0;
        RecordBatch::try_new(user_daily_schema(), cols)
            .map_err(|e| Error::arrow("building user_daily batch", e))
    }
}

/// The first and last data dates (days since the epoch) over the events' timestamps.
fn date_range(source: &dyn EventSource, calendar: &DayCalendar) -> Result<Option<(i32, i32)>> {
    // Days never go back in time (crate::calendar), so the first and last instants give
    // the first and last days.
    let mut range: Option<(i64, i64)> = source
        .time_range_hint()
        .map(|(lo, hi)| (calendar.day(lo), calendar.day(hi)));
    let scan: Box<dyn Iterator<Item = Result<RecordBatch>>> = if range.is_some() {
        Box::new(std::iter::empty())
    } else {
        source.batches(&[events::EVENT_TIME])?
    };
    for batch in scan {
        let batch = batch?;
        if batch.column_by_name(events::EVENT_TIME).is_none() {
            continue;
        }
        let (b, _) = coerce_columns(&batch, &[EVENTS_COLUMNS[2]], 0)?;
        let t = typed::<TimestampMicrosecondArray>(&b, events::EVENT_TIME);
        if let (Some(lo), Some(hi)) = (arrow::compute::min(t), arrow::compute::max(t)) {
            let (lo, hi) = (calendar.day(lo), calendar.day(hi));
            range = Some(match range {
                None => (lo, hi),
                Some((a, z)) => (a.min(lo), z.max(hi)),
            });
        }
    }
    range
        .map(|(lo, hi)| {
            let fit = |d: i64| {
                i32::try_from(d).map_err(|_| {
                    Error::invalid(
                        source.name(),
                        events::EVENT_TIME,
                        "event_time must be a plausible date",
                        vec![d.to_string()],
                    )
                })
            };
            Ok((fit(lo)?, fit(hi)?))
        })
        .transpose()
}

/// Signals that events are not grouped by user in users-table order.
struct NotGrouped;

/// Aggregates users `[lo, hi)` in one pass; `streaming` holds one user at a time and fails
/// with [`NotGrouped`] when the order does not allow it.
#[allow(clippy::too_many_arguments)]
fn aggregate_pass(
    users: &UserTable,
    source: &dyn EventSource,
    (vcfg, calendar): (&ValidateConfig, &DayCalendar),
    pcfg: &PrepareConfig,
    (first_day, last_day): (i32, i32),
    (lo, hi): (usize, usize),
    streaming: bool,
    summary: &mut PrepareSummary,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<std::result::Result<(), NotGrouped>> {
    let days = (last_day - first_day + 1) as usize;
    let mut agg = DayAgg::new(if streaming { 1 } else { hi - lo }, days);
    let mut cleaner = EventCleaner::new(vcfg, calendar);
    let mut builder = DailyBuilder::new();
    let mut clean = Vec::new();
    let mut next_user = lo; // first user not yet emitted (streaming)
    let mut current: Option<usize> = None;
    let columns = [
        events::EVENT_ID,
        events::USER_ID,
        events::EVENT_TIME,
        events::EVENT_TYPE,
        events::WATCH_MINUTES,
        events::QUIZ_SCORE,
    ];
    let mut flush = |builder: &mut DailyBuilder, force: bool| -> Result<()> {
        if builder.rows > 0 && (force || builder.rows >= pcfg.batch_rows) {
            sink(builder.finish()?)?;
        }
        Ok(())
    };
    // Reading the next batches, looking their users up and parsing their columns run on
    // a thread of their own, ahead of the cleaning and aggregation here (which keep state
    // from batch to batch: ids seen, the current user).
    let parsed = source
        .batches(&columns)?
        .map(|b| b.and_then(|b| parse_events(users, &b)));
    let grouped = crate::io::prefetched(parsed, 2, |batches| -> Result<bool> {
        for batch in batches {
            cleaner.clean(&batch?, summary, &mut clean)?;
            for e in &clean {
                let u = e.user as usize;
                if u < lo || u >= hi {
                    continue;
                }
                let d = e.day - i64::from(first_day);
                if d < 0 || d >= days as i64 {
                    continue;
                }
                let slot = if streaming {
                    if current != Some(u) {
                        if u < next_user {
                            return Ok(false);
                        }
                        if let Some(c) = current {
                            builder.push_user(users, c, &agg, 0, (first_day, last_day), summary);
                            agg.reset();
                        }
                        for empty in next_user.max(current.map_or(0, |c| c + 1))..u {
                            builder.push_user(
                                users,
                                empty,
                                &agg,
                                0,
                                (first_day, last_day),
                                summary,
                            );
                        }
                        current = Some(u);
                        next_user = u + 1;
                        flush(&mut builder, false)?;
                    }
                    d as usize
                } else {
                    (u - lo) * days + d as usize
                };
                summary.events_kept += 1;
                agg.add(slot, e.kind, e.watch, e.quiz);
            }
        }
        Ok(true)
    })?;
    if !grouped {
        return Ok(Err(NotGrouped));
    }
    if streaming {
        if let Some(c) = current {
            builder.push_user(users, c, &agg, 0, (first_day, last_day), summary);
            agg.reset();
        }
        for empty in next_user..hi {
            builder.push_user(users, empty, &agg, 0, (first_day, last_day), summary);
            flush(&mut builder, false)?;
        }
    } else {
        for u in lo..hi {
            builder.push_user(
                users,
                u,
                &agg,
                (u - lo) * days,
                (first_day, last_day),
                summary,
            );
            flush(&mut builder, false)?;
        }
    }
    flush(&mut builder, true)?;
    Ok(Ok(()))
}

/// Cleans and aggregates; `sink` receives user-day batches in users-table order. `restart`
/// is called before a fallback to partitioned passes so the caller can discard what the
/// streaming attempt produced.
pub fn prepare_with(
    users: &UserTable,
    source: &dyn EventSource,
    vcfg: &ValidateConfig,
    pcfg: &PrepareConfig,
    mut summary: PrepareSummary,
    restart: &mut dyn FnMut() -> Result<()>,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<PrepareSummary> {
    let calendar = vcfg.day_calendar()?;
    let Some((first_day, last_day)) = date_range(source, &calendar)? else {
        return Err(Error::invalid(
            source.name(),
            events::EVENT_TIME,
            "events must contain at least one parseable event_time",
            vec![],
        ));
    };
    if i64::from(last_day) - i64::from(first_day) + 1 > i64::from(pcfg.max_span_days) {
        return Err(Error::invalid(
            source.name(),
            events::EVENT_TIME,
            format!(
                "event times must span at most prepare.max_span_days = {} days; fix or drop the stray timestamps",
                pcfg.max_span_days
            ),
            vec![format!(
                "first {} .. last {}",
                crate::days::display(i64::from(first_day)),
                crate::days::display(i64::from(last_day))
            )],
        ));
    }
    summary.first_date = crate::days::date_of(first_day);
    summary.last_date = crate::days::date_of(last_day);
    let range = (first_day, last_day);
    let n = users.len();
    let base = summary.clone();
    let mut attempt = base.clone();
    attempt.passes = 1;
    if aggregate_pass(
        users,
        source,
        (vcfg, &calendar),
        pcfg,
        range,
        (0, n),
        true,
        &mut attempt,
        sink,
    )?
    .is_ok()
    {
        summary = attempt;
        summary.user_days = 0;
        return Ok(summary);
    }
    tracing::info!(
        "events are not grouped by user in users order; falling back to partitioned passes"
    );
    restart()?;
    let days = (last_day - first_day + 1) as usize;
    let per_pass = ((pcfg.memory_budget_mib << 20) / (BYTES_PER_USER_DAY * days)).max(1);
    let mut lo = 0;
    let mut passes = 0;
    let mut totals = base;
    while lo < n || passes == 0 {
        let hi = (lo + per_pass).min(n);
        let mut pass_summary = totals.clone();
        let outcome = aggregate_pass(
            users,
            source,
            (vcfg, &calendar),
            pcfg,
            range,
            (lo, hi),
            false,
            &mut pass_summary,
            sink,
        )?;
        debug_assert!(outcome.is_ok(), "partitioned passes accept any order");
        // Reading counts are the same every pass; keep the first pass's, add the rest.
        if passes == 0 {
            totals = pass_summary;
        } else {
            totals.events_kept = pass_summary.events_kept;
            totals.events_outside_grid = pass_summary.events_outside_grid;
        }
        passes += 1;
        lo = hi;
    }
    totals.passes = passes;
    Ok(totals)
}

/// Fails when preparing gave no user-day at all: each user's grid runs from their signup
/// to the last event date, so events that all end before every signup (epoch seconds read
/// as a later unit, a wrong year, the wrong users file) would otherwise leave an empty
/// table that only the next stage rejects.
fn require_user_days(users: &UserTable, summary: &PrepareSummary, events: &str) -> Result<()> {
    if summary.user_days > 0 {
        return Ok(());
    }
    let show = |d: Option<chrono::NaiveDate>| d.map_or("-".to_string(), |d| d.to_string());
    let first_signup = users.signup.iter().flatten().min().copied();
    Err(Error::invalid(
        events,
        events::EVENT_TIME,
        "no user-day to prepare: a user's days run from their signup_date to the last event \
         date, and every user signed up after it; check event_time (its unit or year) and \
         that the users file belongs to these events",
        vec![
            format!(
                "events {} .. {}",
                show(summary.first_date),
                show(summary.last_date)
            ),
            format!(
                "earliest signup_date {}",
                show(first_signup.and_then(crate::days::date_of))
            ),
            format!(
                "{} users, {} events kept",
                summary.users_kept, summary.events_kept
            ),
        ],
    ))
}

/// Prepares files: reads users and events (CSV or Parquet), writes the user-day table to
/// `out` (format by extension) atomically.
pub fn prepare_files(
    users_path: &Path,
    events_path: &Path,
    out: &Path,
    vcfg: &ValidateConfig,
    pcfg: &PrepareConfig,
) -> Result<PrepareSummary> {
    prepare_files_in(users_path, events_path, out, vcfg, pcfg, None)
}

/// [`prepare_files`] for the users of one partition (see [`crate::partition`]), or all
/// when `partition` is `None`. The date range is the events' whole range, so every part's
/// grid ends on the same last date, and the parts of every partition together hold exactly
/// the rows of the unpartitioned table. `out` is the file written (a part's path, for a
/// partitioned table).
pub fn prepare_files_in(
    users_path: &Path,
    events_path: &Path,
    out: &Path,
    vcfg: &ValidateConfig,
    pcfg: &PrepareConfig,
    partition: Option<Partition>,
) -> Result<PrepareSummary> {
    let mut summary = PrepareSummary::default();
    let reader = TableReader::open(users_path, None, DEFAULT_BATCH_SIZE)?;
    require_columns(
        users_path,
        &reader.schema(),
        &missing_required(&reader.schema(), &USERS_COLUMNS),
    )?;
    require_time_types(users_path, &reader.schema(), &USERS_COLUMNS)?;
    let users = UserTable::from_batches_in(reader, &mut summary, partition)?;
    if users.is_empty() {
        return Err(match partition {
            Some(p) => Error::invalid(
                users_path,
                users::USER_ID,
                format!(
                    "partition {p} holds none of the users (each holds those whose id hashes \
                     to it); use fewer partitions than {}",
                    p.count()
                ),
                vec![format!(
                    "{} users in other partitions",
                    summary.users_other_partition
                )],
            ),
            None => Error::invalid(
                users_path,
                users::USER_ID,
                "users table must have at least one user with a user_id",
                vec![],
            ),
        });
    }
    let source = events_path.to_path_buf();
    // Parquet encoding runs on its own thread, overlapping decoding and aggregation.
    enum Msg {
        Batch(RecordBatch),
        Restart,
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(4);
        let writer = scope.spawn(move || -> Result<TableWriter> {
            let mut w = TableWriter::create(out, user_daily_schema())?;
            for msg in rx {
                match msg {
                    Msg::Batch(b) => w.write(&b)?,
                    Msg::Restart => w = TableWriter::create(out, user_daily_schema())?,
                }
            }
            Ok(w)
        });
        let gone = || Error::invalid(out, "*", "the output writer stopped", vec![]);
        let result = {
            let tx = tx;
            let mut restart = || crate::wait::send(&tx, Msg::Restart).map_err(|_| gone());
            let mut sink =
                |b: RecordBatch| crate::wait::send(&tx, Msg::Batch(b)).map_err(|_| gone());
            prepare_with(
                &users,
                &source,
                vcfg,
                pcfg,
                summary,
                &mut restart,
                &mut sink,
            )
        };
        let written = crate::wait::join(writer).unwrap_or_else(|p| std::panic::resume_unwind(p));
        // A writer error explains a failed send better than the send itself.
        let w = written?;
        let mut summary = result?;
        summary.user_days = w.rows();
        require_user_days(&users, &summary, &source.name())?;
        w.finish()?;
        Ok(summary)
    })
}

/// Prepares in-memory batches (users and events of any reasonable column types).
pub fn prepare_batches(
    users: &[RecordBatch],
    events: &[RecordBatch],
    vcfg: &ValidateConfig,
    pcfg: &PrepareConfig,
) -> Result<(Vec<RecordBatch>, PrepareSummary)> {
    let mut summary = PrepareSummary::default();
    let table = UserTable::from_batches(users.iter().cloned().map(Ok), &mut summary)?;
    let out = std::cell::RefCell::new(Vec::new());
    let mut restart = || -> Result<()> {
        out.borrow_mut().clear();
        Ok(())
    };
    let mut sink = |b: RecordBatch| -> Result<()> {
        out.borrow_mut().push(b);
        Ok(())
    };
    let mut summary = prepare_with(
        &table,
        &InMemoryEvents(events),
        vcfg,
        pcfg,
        summary,
        &mut restart,
        &mut sink,
    )?;
    let out = out.into_inner();
    summary.user_days = out.iter().map(|b| b.num_rows() as u64).sum();
    require_user_days(&table, &summary, &InMemoryEvents(events).name())?;
    Ok((out, summary))
}
