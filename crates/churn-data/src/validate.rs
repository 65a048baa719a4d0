//! Validation of raw users and events against every rule of the contract.
//!
//! All rules are checked in one streaming pass per table (not only the first failure);
//! each violation is reported with its count and a few example rows.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use arrow::array::{
    Array, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use serde::{Deserialize, Serialize};

use crate::calendar::DayCalendar;
use crate::canonical::{
    NUMERIC_TIME_RULE, canonicalize, columns_present, missing_required, numeric_times,
};
use crate::clock::Clock;
use crate::config::ValidateConfig;
use crate::idset::IdSet;
use crate::io::{DEFAULT_BATCH_SIZE, TableReader};
use crate::schema::{self, ColumnSpec, EVENTS_COLUMNS, USERS_COLUMNS, events, users};
use crate::{Error, Result};

/// How bad a violation is: errors fail validation, warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The data breaks the contract.
    Error,
    /// Suspicious but usable; cleaning handles it.
    Warning,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// "users" or "events".
    pub table: String,
    /// The file checked.
    pub file: String,
    /// The column (or "*" for the whole file).
    pub column: String,
    /// The rule, in words.
    pub rule: String,
    /// Error or warning.
    pub severity: Severity,
    /// How many rows break it; 0 for a rule about the whole file or column (a missing
    /// column, a column of the wrong type, an unreadable file).
    pub count: u64,
    /// Up to `max_examples` offending rows ("row 12: value").
    pub examples: Vec<String>,
}

/// Row counts of one checked table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    /// The file.
    pub file: String,
    /// Data rows read.
    pub rows: u64,
}

/// The result of validating users and events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// When the check ran (RFC 3339).
    pub checked_at: String,
    /// True when no rule of severity error is broken.
    pub ok: bool,
    /// Users table summary.
    pub users: TableSummary,
    /// Events table summary.
    pub events: TableSummary,
    /// Every broken rule, in the order first seen.
    pub violations: Vec<Violation>,
}

impl ValidationReport {
    /// Violations of severity error.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
    }

    /// A human-readable report.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "validation {}: users {} rows ({}), events {} rows ({})\n",
            if self.ok { "passed" } else { "FAILED" },
            self.users.rows,
            self.users.file,
            self.events.rows,
            self.events.file
        ));
        if self.violations.is_empty() {
            s.push_str("  every rule holds\n");
        }
        for v in &self.violations {
            let rows = match v.count {
                0 => String::new(),
                n => format!(" — {n} row(s)"),
            };
            s.push_str(&format!(
                "  [{}] {}: column `{}`: {}{rows}\n",
                match v.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                v.file,
                v.column,
                v.rule,
            ));
            for e in &v.examples {
                s.push_str(&format!("      e.g. {e}\n"));
            }
        }
        s
    }
}

/// Collects violations keyed by (table, column, rule).
#[derive(Debug)]
struct Tally {
    max_examples: usize,
    index: HashMap<(String, String, String), usize>,
    violations: Vec<Violation>,
}

impl Tally {
    fn new(max_examples: usize) -> Self {
        Self {
            max_examples,
            index: HashMap::new(),
            violations: Vec::new(),
        }
    }

    fn entry(
        &mut self,
        table: &str,
        file: &Path,
        column: &str,
        rule: &str,
        severity: Severity,
    ) -> &mut Violation {
        let key = (table.to_string(), column.to_string(), rule.to_string());
        let n = self.violations.len();
        let i = *self.index.entry(key).or_insert(n);
        if i == n {
            self.violations.push(Violation {
                table: table.into(),
                file: file.display().to_string(),
                column: column.into(),
                rule: rule.into(),
                severity,
                count: 0,
                examples: Vec::new(),
            });
        }
        &mut self.violations[i]
    }

    #[allow(clippy::too_many_arguments)]
    fn add_many(
        &mut self,
        table: &str,
        file: &Path,
        column: &str,
        rule: &str,
        severity: Severity,
        count: u64,
        examples: impl Iterator<Item = String>,
    ) {
        let max = self.max_examples;
        let v = self.entry(table, file, column, rule, severity);
        v.count += count;
        let room = max.saturating_sub(v.examples.len());
        v.examples.extend(examples.take(room));
    }

    /// A broken rule about a whole file or column (counted as 0 rows), with one example.
    fn add_whole(&mut self, table: &str, file: &Path, column: &str, rule: &str, example: String) {
        self.add_many(
            table,
            file,
            column,
            rule,
            Severity::Error,
            0,
            std::iter::once(example),
        );
    }

    fn add(
        &mut self,
        table: &str,
        file: &Path,
        column: &str,
        rule: &str,
        severity: Severity,
        example: impl FnOnce() -> String,
    ) {
        let max = self.max_examples;
        let v = self.entry(table, file, column, rule, severity);
        v.count += 1;
        if v.examples.len() < max {
            v.examples.push(example());
        }
    }
}

/// The rule broken by a file its format's decoder rejects.
const READABLE: &str = "file must be readable as its extension says";

/// The rule broken by a folder given as a table (see [`crate::io::data_files`]).
const ONE_TABLE: &str =
    "a folder must hold .parquet or .csv files of one format with the same columns";

/// The rule an unreadable input breaks: [`READABLE`], or [`ONE_TABLE`] for a folder.
fn unreadable(e: &Error) -> &'static str {
    if matches!(e, Error::Folder { .. }) {
        ONE_TABLE
    } else {
        READABLE
    }
}

/// Per-table context of a check pass.
struct Pass<'a> {
    table: &'static str,
    file: &'a Path,
    tally: &'a mut Tally,
    row_offset: u64,
    /// Per column, the rows of this batch whose value did not parse (reported as such).
    unparsed: Vec<(&'static str, Vec<bool>)>,
    /// Required columns the file lacks (reported once as missing, not row by row as null).
    absent: &'a [&'static str],
}

impl Pass<'_> {
    /// Reports a missing value of a required column, unless the row had a value that did
    /// not parse (already reported, with the value) or the file lacks the column.
    fn missing(&mut self, column: &'static str, row: usize) {
        if self.absent.contains(&column) {
            return;
        }
        let unparsed = self
            .unparsed
            .iter()
            .any(|(c, rows)| *c == column && rows.get(row).copied().unwrap_or(false));
        if !unparsed {
            self.error(column, &format!("{column} must not be null"), row, "null");
        }
    }

    fn error(&mut self, column: &str, rule: &str, row: usize, value: impl std::fmt::Display) {
        let row = self.row_offset + row as u64 + 1;
        self.tally
            .add(self.table, self.file, column, rule, Severity::Error, || {
                format!("row {row}: {value}")
            });
    }
    fn warn(&mut self, column: &str, rule: &str, row: usize, value: impl std::fmt::Display) {
        let row = self.row_offset + row as u64 + 1;
        self.tally.add(
            self.table,
            self.file,
            column,
            rule,
            Severity::Warning,
            || format!("row {row}: {value}"),
        );
    }
}

/// Plausible days (since 1970-01-01): from the epoch to the clock's tomorrow (one day of
/// slack for time zones). A date outside is a typo, a placeholder (1900-01-01) or a broken
/// export, and would stretch the user-day grid.
#[derive(Debug, Clone, Copy)]
struct DateBounds<'a> {
    max_day: i64,
    /// The days of `validate.day_time_zone`.
    calendar: &'a DayCalendar,
}

impl<'a> DateBounds<'a> {
    fn until(clock: &dyn Clock, calendar: &'a DayCalendar) -> Self {
        Self {
            max_day: calendar.day(clock.now().timestamp_micros()) + 1,
            calendar,
        }
    }

    fn contains(self, day: i64) -> bool {
        (0..=self.max_day).contains(&day)
    }

    fn rule(self, column: &str) -> String {
        format!(
            "{column} must be between 1970-01-01 and {} (tomorrow)",
            crate::days::display(self.max_day)
        )
    }
}

/// What validation keeps of each user to check events against it.
type KnownUsers = HashMap<String, Option<i32>>;

/// Validates a users and an events file (CSV or Parquet) against every rule.
pub fn validate_files(
    users_path: &Path,
    events_path: &Path,
    config: &ValidateConfig,
    clock: &dyn Clock,
) -> Result<ValidationReport> {
    let mut tally = Tally::new(config.examples());
    let mut known = KnownUsers::new();
    let calendar = config.day_calendar()?;
    let dates = DateBounds::until(clock, &calendar);
    let users_rows = check_table(
        users_path,
        "users",
        &USERS_COLUMNS,
        &mut tally,
        |pass, batch| check_users(pass, batch, &mut known, dates),
    )?;
    let allowed = allowed_event_types(config);
    let mut ids = IdSet::new();
    // Events per day since 1970-01-01 (every counted day is within the bounds).
    let mut per_day = vec![0u64; usize::try_from(dates.max_day).unwrap_or(0) + 1];
    let events_rows = check_table(
        events_path,
        "events",
        &EVENTS_COLUMNS,
        &mut tally,
        |pass, batch| {
            check_events(
                pass,
                batch,
                (&known, &allowed, config),
                &mut ids,
                dates,
                &mut per_day,
            )
        },
    )?;
    check_daily_volume(&per_day, config, events_path, &mut tally);
    let ok = !tally
        .violations
        .iter()
        .any(|v| v.severity == Severity::Error);
    Ok(ValidationReport {
        checked_at: clock.now().to_rfc3339(),
        ok,
        users: TableSummary {
            file: users_path.display().to_string(),
            rows: users_rows,
        },
        events: TableSummary {
            file: events_path.display().to_string(),
            rows: events_rows,
        },
        violations: tally.violations,
    })
}

/// The event types accepted: the contract's seven, plus extra and mapped ones from config.
pub fn allowed_event_types(config: &ValidateConfig) -> HashSet<String> {
    schema::EVENT_TYPES
        .iter()
        .map(|s| s.to_string())
        .chain(
            config
                .extra_event_types
                .iter()
                .map(|s| s.trim().to_lowercase()),
        )
        .collect()
}

fn check_table(
    path: &Path,
    table: &'static str,
    spec: &[ColumnSpec],
    tally: &mut Tally,
    mut check: impl FnMut(&mut Pass<'_>, &RecordBatch) -> Result<()>,
) -> Result<u64> {
    let reader = match TableReader::open(path, None, DEFAULT_BATCH_SIZE) {
        Ok(r) => r,
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => {
            tally.add_whole(table, path, "*", unreadable(&e), e.to_string());
            return Ok(0);
        }
    };
    let missing = missing_required(&reader.schema(), spec);
    let present = columns_present(&reader.schema());
    for col in &missing {
        tally.add_whole(
            table,
            path,
            col,
            "required column is missing",
            present.clone(),
        );
    }
    for (col, t) in numeric_times(&reader.schema(), spec) {
        tally.add_whole(table, path, col, NUMERIC_TIME_RULE, format!("type {t}"));
    }
    let max_examples = tally.max_examples;
    // Decoding and canonicalizing the next batches (a thread of their own) overlap checking
    // this one: the checks keep state from row to row (ids seen, the last user), so they
    // run in order on this thread.
    let decoded = reader.map(|batch| {
        batch.map(|b| {
            let canonical = canonicalize(&b, spec, max_examples);
            (b.num_rows(), canonical)
        })
    });
    let mut rows = 0u64;
    crate::io::prefetched(decoded, 2, |batches| -> Result<()> {
        for item in batches {
            let (n, canonical) = match item {
                Ok(b) => b,
                Err(e) => {
                    tally.add_whole(
                        table,
                        path,
                        "*",
                        unreadable(&e),
                        format!("after {rows} rows: {e}"),
                    );
                    break;
                }
            };
            let (canonical, failures) = canonical?;
            let mut pass = Pass {
                table,
                file: path,
                tally,
                row_offset: rows,
                unparsed: Vec::new(),
                absent: &missing,
            };
            for f in failures {
                let rule = format!("values must parse as {}", type_name(&f.expected));
                let examples = f
                    .examples
                    .iter()
                    .map(|(row, value)| format!("row {}: {value:?}", rows + *row as u64 + 1));
                pass.tally.add_many(
                    table,
                    path,
                    f.column,
                    &rule,
                    Severity::Error,
                    f.count,
                    examples,
                );
                pass.unparsed.push((f.column, f.failed));
            }
            check(&mut pass, &canonical)?;
            rows += n as u64;
        }
        Ok(())
    })?;
    if rows == 0 && missing.is_empty() {
        tally.add(
            table,
            path,
            "*",
            "table must have at least one data row",
            Severity::Error,
            || "header only or empty".into(),
        );
    }
    Ok(rows)
}

fn type_name(t: &arrow::datatypes::DataType) -> &'static str {
    use arrow::datatypes::DataType::*;
    match t {
        Date32 => "a date (YYYY-MM-DD)",
        Timestamp(..) => "a timestamp (YYYY-MM-DD HH:MM:SS)",
        Int32 | Int64 => "an integer",
        Float64 => "a number",
        _ => "text",
    }
}

fn col<'b, T: 'static>(batch: &'b RecordBatch, name: &str) -> &'b T {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .expect("canonical batches have every contract column with its canonical type")
}

fn check_users(
    pass: &mut Pass<'_>,
    b: &RecordBatch,
    known: &mut KnownUsers,
    dates: DateBounds<'_>,
) -> Result<()> {
    let id = col::<StringArray>(b, users::USER_ID);
    let signup = col::<Date32Array>(b, users::SIGNUP_DATE);
    let plan = col::<StringArray>(b, users::PLAN);
    let paid = col::<Int32Array>(b, users::IS_PAID);
    let eng = col::<Float64Array>(b, users::ENGAGEMENT_SCORE);
    for r in 0..b.num_rows() {
        if id.is_null(r) {
            pass.missing(users::USER_ID, r);
        } else {
            let key = id.value(r);
            let s = signup.is_valid(r).then(|| signup.value(r));
            if known.contains_key(key) {
                pass.error(users::USER_ID, "user_id must be unique", r, key);
            } else {
                known.insert(key.to_string(), s);
            }
        }
        if signup.is_null(r) {
            pass.missing(users::SIGNUP_DATE, r);
        } else if !dates.contains(i64::from(signup.value(r))) {
            let day = i64::from(signup.value(r));
            pass.error(
                users::SIGNUP_DATE,
                &dates.rule(users::SIGNUP_DATE),
                r,
                crate::days::display(day),
            );
        }
        let plan_norm = plan.is_valid(r).then(|| plan.value(r).to_lowercase());
        match plan_norm.as_deref() {
            None => pass.missing(users::PLAN, r),
            Some(p) if !schema::PLANS.contains(&p) => {
                pass.error(users::PLAN, "plan must be free or paid", r, plan.value(r))
            }
            Some(p) if p != plan.value(r) => {
                pass.warn(users::PLAN, "plan should be lowercase", r, plan.value(r))
            }
            _ => {}
        }
        let paid_v = paid.is_valid(r).then(|| paid.value(r));
        match paid_v {
            None => pass.missing(users::IS_PAID, r),
            Some(v) if v != 0 && v != 1 => {
                pass.error(users::IS_PAID, "is_paid must be 0 or 1", r, v)
            }
            _ => {}
        }
        if let (Some(p), Some(v)) = (plan_norm.as_deref(), paid_v) {
            let consistent =
                (p == schema::PLAN_PAID && v == 1) || (p == schema::PLAN_FREE && v == 0);
            if schema::PLANS.contains(&p) && (v == 0 || v == 1) && !consistent {
                pass.error(
                    users::IS_PAID,
                    "is_paid must agree with plan (paid = 1, free = 0)",
                    r,
                    format!("plan={p} is_paid={v}"),
                );
            }
        }
        if eng.is_valid(r) {
            let e = eng.value(r);
            if !(0.0..=1.0).contains(&e) {
                pass.error(
                    users::ENGAGEMENT_SCORE,
                    "engagement_score must be within [0, 1]",
                    r,
                    e,
                );
            }
        }
    }
    Ok(())
}

/// What each raw event_type text of a batch means (allowed? a payment?), worked out once
/// per distinct text: a table has a handful of them and millions of rows, and lowercasing
/// and looking up every row's text was a tenth of validation.
#[derive(Default)]
struct EventTypes<'a> {
    seen: Vec<(&'a str, bool, bool)>,
}

impl<'a> EventTypes<'a> {
    /// (allowed, payment) for `raw`, after lowercasing and `validate.event_type_map`.
    fn lookup(
        &mut self,
        raw: &'a str,
        config: &ValidateConfig,
        allowed: &HashSet<String>,
    ) -> (bool, bool) {
        if let Some(&(_, a, p)) = self.seen.iter().find(|(t, _, _)| *t == raw) {
            return (a, p);
        }
        let lower = raw.to_lowercase();
        let mapped = config
            .event_type_map
            .get(&lower)
            .map(|s| s.as_str())
            .unwrap_or(&lower);
        let answer = (
            allowed.contains(mapped),
            matches!(mapped, schema::PAYMENT_SUCCESS | schema::PAYMENT_FAILED),
        );
        // Many distinct texts (a broken column) would make the list slow; stop adding.
        if self.seen.len() < 32 {
            self.seen.push((raw, answer.0, answer.1));
        }
        answer
    }
}

/// Warns about days without events inside the range, and about a last date with far fewer
/// events than the days before it: the marks of a partial export, which would make every
/// user look inactive on the date that gets scored.
fn check_daily_volume(per_day: &[u64], config: &ValidateConfig, path: &Path, tally: &mut Tally) {
    let (Some(first), Some(last)) = (
        per_day.iter().position(|&n| n > 0),
        per_day.iter().rposition(|&n| n > 0),
    ) else {
        return;
    };
    let last_count = per_day[last];
    let empty: Vec<usize> = (first..=last).filter(|&d| per_day[d] == 0).collect();
    if !empty.is_empty() {
        tally.add_many(
            "events",
            path,
            events::EVENT_TIME,
            &format!(
                "every date between the first and the last event date should have events; \
                 {} date(s) have none (a day or a partition missing from the export?)",
                empty.len()
            ),
            Severity::Warning,
            0,
            empty.iter().map(|&d| crate::days::display(d as i64)),
        );
    }
    let share = config.last_day_min_share;
    // The 14 dates before the last, empty ones counted as 0.
    let mut before: Vec<u64> = per_day[first.max(last.saturating_sub(14))..last].to_vec();
    if share <= 0.0 || before.len() < 7 {
        return;
    }
    before.sort_unstable();
    let median = before[before.len() / 2];
    if (last_count as f64) < share * median as f64 {
        tally.add_many(
            "events",
            path,
            events::EVENT_TIME,
            &format!(
                "the last date's events should be at least {share} of the median of the {} \
                 dates before it (validate.last_day_min_share; a partial export would make \
                 every user look inactive on the date that gets scored)",
                before.len()
            ),
            Severity::Warning,
            0,
            std::iter::once(format!(
                "{}: {last_count} events, median {median}",
                crate::days::display(last as i64)
            )),
        );
    }
}

fn check_events(
    pass: &mut Pass<'_>,
    b: &RecordBatch,
    (known, allowed, config): (&KnownUsers, &HashSet<String>, &ValidateConfig),
    ids: &mut IdSet,
    dates: DateBounds<'_>,
    per_day: &mut [u64],
) -> Result<()> {
    let event_id = col::<Int64Array>(b, events::EVENT_ID);
    let user = col::<StringArray>(b, events::USER_ID);
    let time = col::<TimestampMicrosecondArray>(b, events::EVENT_TIME);
    let etype = col::<StringArray>(b, events::EVENT_TYPE);
    let watch = col::<Float64Array>(b, events::WATCH_MINUTES);
    let quiz = col::<Float64Array>(b, events::QUIZ_SCORE);
    let amount = col::<Float64Array>(b, events::AMOUNT);
    let mut last_user: Option<(&str, Option<Option<i32>>)> = None;
    let mut types = EventTypes::default();
    let mut days = dates.calendar.cursor();
    for r in 0..b.num_rows() {
        if event_id.is_null(r) {
            pass.missing(events::EVENT_ID, r);
        } else if !ids.insert(event_id.value(r)) {
            pass.error(
                events::EVENT_ID,
                "event_id must be unique",
                r,
                event_id.value(r),
            );
        }
        let signup = if user.is_null(r) {
            pass.missing(events::USER_ID, r);
            None
        } else {
            let u = user.value(r);
            // Events are usually grouped by user: look a user up once per run of rows.
            let found = match last_user {
                Some((prev, found)) if prev == u => found,
                _ => {
                    let found = known.get(u).copied();
                    last_user = Some((u, found));
                    found
                }
            };
            if found.is_none() {
                pass.error(
                    events::USER_ID,
                    "user_id must exist in the users table",
                    r,
                    u,
                );
            }
            found.flatten()
        };
        let day = time.is_valid(r).then(|| days.day(time.value(r)));
        if let Some(d) = day.filter(|&d| dates.contains(d)) {
            per_day[d as usize] += 1;
        }
        if time.is_null(r) {
            pass.missing(events::EVENT_TIME, r);
        } else if let Some(day) = day.filter(|&d| !dates.contains(d)) {
            pass.error(
                events::EVENT_TIME,
                &dates.rule(events::EVENT_TIME),
                r,
                format!(
                    "event_id {} at {}",
                    event_id.value(r),
                    crate::days::display(day)
                ),
            );
        } else if let (Some(s), Some(day)) = (signup, day)
            && day < i64::from(s)
        {
            pass.warn(
                events::EVENT_TIME,
                "event_time should not be before the user's signup_date",
                r,
                format!(
                    "user {} event day {}",
                    user.value(r),
                    crate::days::display(day)
                ),
            );
        }
        let kind = if etype.is_null(r) {
            pass.missing(events::EVENT_TYPE, r);
            None
        } else {
            let raw = etype.value(r);
            let (allowed_type, payment) = types.lookup(raw, config, allowed);
            if !allowed_type {
                pass.error(events::EVENT_TYPE, "event_type must be one of the allowed types (add it to validate.extra_event_types or validate.event_type_map)", r, raw);
            }
            Some(payment)
        };
        if watch.is_valid(r) && !(watch.value(r) >= 0.0 && watch.value(r).is_finite()) {
            pass.error(
                events::WATCH_MINUTES,
                "watch_minutes must be a finite number >= 0",
                r,
                watch.value(r),
            );
        }
        if quiz.is_valid(r) && !(0.0..=100.0).contains(&quiz.value(r)) {
            pass.error(
                events::QUIZ_SCORE,
                "quiz_score must be within [0, 100]",
                r,
                quiz.value(r),
            );
        }
        let is_payment = kind == Some(true);
        if amount.is_valid(r) {
            let a = amount.value(r);
            if is_payment && !(a > 0.0 && a.is_finite()) {
                pass.error(
                    events::AMOUNT,
                    "payment amount must be a finite number > 0",
                    r,
                    a,
                );
            } else if !is_payment && kind.is_some() {
                pass.warn(
                    events::AMOUNT,
                    "amount is set on a non-payment event",
                    r,
                    format!("{} amount={a}", etype.value(r)),
                );
            }
        } else if is_payment {
            pass.warn(
                events::AMOUNT,
                "payment event has no amount",
                r,
                format!("event_id {}", event_id.value(r)),
            );
        }
    }
    Ok(())
}
