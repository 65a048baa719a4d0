//! Where decisions go, and the run that fills it.
//!
//! A [`DecisionStore`] decides a batch atomically: inside one transaction it learns which
//! users of the batch are decided already (skipped, unless re-deciding) and how much of
//! each daily budget is used, lets the rules decide the rest, and writes them. So a re-run
//! decides nobody twice, budgets hold across runs, and a run that dies keeps the batches it
//! committed and nothing of the one in flight.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use churn_data::clock::Clock;
use serde::Serialize;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader, TableWriter};

use crate::error::{Error, Result};
use crate::rules::{Candidate, Decision, History, RuleSet, Used, rank};
use crate::table::{conform, decisions_schema, from_batches, to_batch};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// Decisions written.
    pub written: u64,
    /// Candidates skipped because they were decided already.
    pub already_decided: u64,
}

/// What a store calls to decide a batch: the fresh candidates, the budget used, and
/// their earlier decisions of the cooldown actions; it returns the decisions to write.
pub type Decide<'a> = dyn FnMut(&[&Candidate], &mut Used, &History) -> Vec<Decision> + 'a;

/// A sink of decisions that can decide a batch atomically.
pub trait DecisionStore {
    /// Decides `batch` (ranked) in one transaction: `decide` gets the candidates not yet
    /// decided (all of them, with `redecide`, after their old decisions are removed), the
    /// budget used per (date, action), and their earlier decisions of the `cooldowns`
    /// actions (action -> days) within the days before their dates; it returns the
    /// decisions to write.
    fn transact(
        &mut self,
        batch: &[Candidate],
        redecide: bool,
        cooldowns: &BTreeMap<String, u32>,
        decide: &mut Decide<'_>,
    ) -> Result<BatchOutcome>;

    /// Makes everything durable (the Parquet sink writes its file here).
    fn finish(&mut self) -> Result<()>;
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Decide again users decided already (replacing their decision).
    pub redecide: bool,
    /// Candidates per transaction.
    pub batch_rows: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            redecide: false,
            batch_rows: 10_000,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Candidates read.
    pub candidates: u64,
    /// Decisions written.
    pub written: u64,
    /// Candidates skipped because they were decided already.
    pub already_decided: u64,
    /// Decisions written per action.
    pub by_action: BTreeMap<String, u64>,
    /// Dates decided.
    pub dates: Vec<NaiveDate>,
    /// The first decisions written (highest risk first), for a person to look at.
    pub examples: Vec<Decision>,
}

/// Ranks `candidates` and decides them batch by batch into `store`.
pub fn run(
    store: &mut dyn DecisionStore,
    rules: &RuleSet,
    mut candidates: Vec<Candidate>,
    options: &RunOptions,
    clock: &dyn Clock,
) -> Result<RunSummary> {
    if options.batch_rows == 0 {
        return Err(Error::Params("batch_rows must be positive".into()));
    }
    rank(&mut candidates);
    let now = clock.now();
    let cooldowns = rules.cooldowns();
    let mut summary = RunSummary {
        candidates: candidates.len() as u64,
        ..RunSummary::default()
    };
    let mut dates: Vec<NaiveDate> = candidates.iter().map(|c| c.as_of_date).collect();
    dates.sort_unstable();
    dates.dedup();
    summary.dates = dates;
    // Each batch is taken out of the ranked candidates and dropped once decided: their
    // strings (ids, categories, reasons) are freed as the decisions grow, so the two never
    // peak together.
    let mut rest = candidates.into_iter();
    loop {
        let batch: Vec<Candidate> = rest.by_ref().take(options.batch_rows).collect();
        if batch.is_empty() {
            break;
        }
        let batch = batch.as_slice();
        // Counted as the batch is decided, kept only once the store has committed it.
        let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
        let mut examples = Vec::new();
        let room = 5usize.saturating_sub(summary.examples.len());
        let outcome = store.transact(
            batch,
            options.redecide,
            &cooldowns,
            &mut |fresh, used, history| {
                let d = rules.decide_with_history(fresh.iter().copied(), used, history, now);
                for x in &d {
                    *by_action.entry(x.action.clone()).or_default() += 1;
                }
                examples.extend(d.iter().take(room).cloned());
                d
            },
        )?;
        summary.written += outcome.written;
        summary.already_decided += outcome.already_decided;
        for (action, n) in by_action {
            *summary.by_action.entry(action).or_default() += n;
        }
        summary.examples.extend(examples);
        tracing::debug!(written = outcome.written, "decision batch committed");
    }
    // The candidates are all decided: their memory is not needed while the store writes.
    drop(rest);
    store.finish()?;
    Ok(summary)
}

/// Decisions appended to a Parquet file (and a CSV copy beside it), keyed by
/// (user_id, as_of_date). Only the dates a run decides are held in memory: budgets and
/// "decided already" are per date, so the file's decisions of a date are read when a batch
/// first touches it. [`DecisionStore::finish`] writes the file anew (temp + rename),
/// streaming the other dates' rows through unchanged, so memory does not grow with the
/// history the file holds. An exclusive lock beside it serialises concurrent runs.
#[derive(Debug)]
pub struct ParquetStore {
    path: PathBuf,
    /// Whether the file existed when the store was opened.
    existing: bool,
    /// The decisions of the dates in `loaded`: the file's, then this run's.
    decisions: Vec<Decision>,
    /// Dates whose decisions in the file are in `decisions`.
    loaded: HashSet<NaiveDate>,
    /// Where each decided (date, user) is in `decisions`; by date first, so a lookup
    /// borrows the user id instead of building a key.
    index: HashMap<NaiveDate, HashMap<String, usize>>,
    /// Decisions per (date, action), kept with `decisions`.
    used: Used,
    /// Positions in `decisions` replaced by this run (re-deciding), dropped on write.
    removed: HashSet<usize>,
    /// The actions with a cooldown (action -> days), as the run's rules say.
    cooldowns: BTreeMap<String, u32>,
    /// Who was given a cooldown action when: from the dates in `loaded` and `scanned`.
    history: History,
    /// Dates not in `loaded` whose cooldown actions were read into `history`.
    scanned: HashSet<NaiveDate>,
    dirty: bool,
    _lock: File,
}

impl ParquetStore {
    /// Opens (or starts) the decisions file, waiting for other runs to finish. Only the
    /// file's columns are checked here; rows are read per date as batches need them.
    pub fn open(path: &Path) -> Result<Self> {
        let lock = churn_data::io::lock_exclusive(&path.with_extension("lock"))?;
        let existing = path.exists();
        if existing {
            let schema = TableReader::open(path, None, DEFAULT_BATCH_SIZE)?.schema();
            let wanted = decisions_schema();
            let missing: Vec<&str> = wanted
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|name| schema.field_with_name(name).is_err())
                .collect();
            if !missing.is_empty() {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    column: missing.join(", "),
                    rule: format!(
                        "not a decisions file: required column missing (columns: {})",
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    examples: vec![],
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            existing,
            decisions: Vec::new(),
            loaded: HashSet::new(),
            index: HashMap::new(),
            used: Used::new(),
            removed: HashSet::new(),
            cooldowns: BTreeMap::new(),
            history: History::default(),
            scanned: HashSet::new(),
            dirty: false,
            _lock: lock,
        })
    }

    /// The decisions of the dates this store has touched (read from the file or decided),
    /// with this run's once [`DecisionStore::finish`] ran. [`read_decisions`] reads a
    /// whole file.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// Reads the file's decisions of `dates` not read yet and, for cooldowns, the user and
    /// action of the cooldown actions on the dates before them (up to the longest cooldown)
    /// that neither this run holds nor an earlier batch read: one streaming pass over the
    /// file, keeping only those rows.
    fn load(&mut self, dates: &HashSet<NaiveDate>) -> Result<()> {
        let new: HashSet<NaiveDate> = dates
            .iter()
            .copied()
            .filter(|d| !self.loaded.contains(d))
            .collect();
        let longest = self.cooldowns.values().max().copied().unwrap_or(0);
        let before: HashSet<NaiveDate> = dates
            .iter()
            .flat_map(|&d| {
                (1..i64::from(longest))
                    .filter_map(move |k| d.checked_sub_signed(chrono::Duration::days(k)))
            })
            .filter(|d| !self.loaded.contains(d) && !self.scanned.contains(d) && !new.contains(d))
            .collect();
        if new.is_empty() && before.is_empty() {
            return Ok(());
        }
        if self.existing {
            for b in TableReader::open(&self.path, None, DEFAULT_BATCH_SIZE)? {
                let b = conform(&self.path, &b?)?;
                let full = filter_dates(&b, |d| new.contains(&d))?;
                for d in from_batches(&self.path, std::slice::from_ref(&full))? {
                    self.add(d);
                }
                if before.is_empty() {
                    continue;
                }
                let earlier = filter_dates(&b, |d| before.contains(&d))?;
                let (users, days, actions) = (
                    earlier.column(0).as_string::<i32>(),
                    earlier
                        .column(1)
                        .as_primitive::<arrow::datatypes::Date32Type>(),
                    earlier.column(4).as_string::<i32>(),
                );
                for i in 0..earlier.num_rows() {
                    let day = churn_data::days::date_saturating(days.value(i));
                    remember(
                        &mut self.history,
                        &self.cooldowns,
                        users.value(i),
                        day,
                        actions.value(i),
                    );
                }
            }
        }
        self.loaded.extend(new);
        self.scanned.extend(before);
        Ok(())
    }

    /// Appends a decision and indexes it.
    fn add(&mut self, d: Decision) {
        remember(
            &mut self.history,
            &self.cooldowns,
            &d.user_id,
            d.as_of_date,
            &d.action,
        );
        self.index
            .entry(d.as_of_date)
            .or_default()
            .insert(d.user_id.clone(), self.decisions.len());
        *self
            .used
            .entry((d.as_of_date, d.action.clone()))
            .or_default() += 1;
        self.decisions.push(d);
    }
}

/// Every decision in a decisions file (as [`ParquetStore`] writes it).
pub fn read_decisions(path: &Path) -> Result<Vec<Decision>> {
    let mut out = Vec::new();
    for b in TableReader::open(path, None, DEFAULT_BATCH_SIZE)? {
        out.extend(from_batches(path, &[b?])?);
    }
    Ok(out)
}

/// The rows of a decisions batch whose as_of_date satisfies `keep`, with the columns and
/// types of [`decisions_schema`].
fn select_dates(
    path: &Path,
    b: &RecordBatch,
    keep: impl Fn(NaiveDate) -> bool,
) -> Result<RecordBatch> {
    filter_dates(&conform(path, b)?, keep)
}

/// Records in `history` that `user` was given `action` on `day`, when the action has a
/// cooldown (the only decisions cooldowns look at): for a decision this run adds, one it
/// holds when the rules' cooldowns change, and one read from earlier dates of the file.
fn remember(
    history: &mut History,
    cooldowns: &BTreeMap<String, u32>,
    user: &str,
    day: NaiveDate,
    action: &str,
) {
    if cooldowns.contains_key(action) {
        history.add(user, day, action);
    }
}

/// The rows of a conformed decisions batch whose as_of_date satisfies `keep`.
fn filter_dates(b: &RecordBatch, keep: impl Fn(NaiveDate) -> bool) -> Result<RecordBatch> {
    let dates = b
        .column(1)
        .as_primitive::<arrow::datatypes::Date32Type>()
        .values();
    let mask: BooleanArray = dates
        .iter()
        .map(|&d| Some(keep(churn_data::days::date_saturating(d))))
        .collect();
    arrow::compute::filter_record_batch(b, &mask)
        .map_err(|e| churn_data::Error::arrow("selecting decisions by date", e).into())
}

impl DecisionStore for ParquetStore {
    fn transact(
        &mut self,
        batch: &[Candidate],
        redecide: bool,
        cooldowns: &BTreeMap<String, u32>,
        decide: &mut Decide<'_>,
    ) -> Result<BatchOutcome> {
        let dates: HashSet<NaiveDate> = batch.iter().map(|c| c.as_of_date).collect();
        if self.cooldowns != *cooldowns {
            // Rules with other cooldowns: what was read is not what they need.
            self.cooldowns = cooldowns.clone();
            self.history = History::default();
            self.scanned.clear();
            let kept = self
                .decisions
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.removed.contains(i));
            for (_, d) in kept {
                remember(
                    &mut self.history,
                    &self.cooldowns,
                    &d.user_id,
                    d.as_of_date,
                    &d.action,
                );
            }
        }
        self.load(&dates)?;
        if redecide {
            // Old decisions of the batch's users are tombstoned (dropped when the file is
            // written) and their budget given back: O(batch), not O(file).
            for c in batch {
                let removed = self
                    .index
                    .get_mut(&c.as_of_date)
                    .and_then(|users| users.remove(c.user_id.as_str()));
                if let Some(i) = removed {
                    let d = &self.decisions[i];
                    self.history.remove(&d.user_id, d.as_of_date);
                    if let Some(n) = self.used.get_mut(&(d.as_of_date, d.action.clone())) {
                        *n = n.saturating_sub(1);
                    }
                    self.removed.insert(i);
                    self.dirty = true;
                }
            }
        }
        let fresh: Vec<&Candidate> = batch
            .iter()
            .filter(|c| {
                !self
                    .index
                    .get(&c.as_of_date)
                    .is_some_and(|users| users.contains_key(c.user_id.as_str()))
            })
            .collect();
        let already = (batch.len() - fresh.len()) as u64;
        let mut used: Used = self
            .used
            .iter()
            .filter(|((day, _), _)| dates.contains(day))
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        let new = decide(&fresh, &mut used, &self.history);
        let written = new.len() as u64;
        for d in new {
            self.add(d);
            self.dirty = true;
        }
        Ok(BatchOutcome {
            written,
            already_decided: already,
        })
    }

    fn finish(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if !self.removed.is_empty() {
            let removed = std::mem::take(&mut self.removed);
            let kept: Vec<Decision> = std::mem::take(&mut self.decisions)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !removed.contains(i))
                .map(|(_, d)| d)
                .collect();
            self.index.clear();
            self.used.clear();
            for d in kept {
                self.add(d);
            }
        }
        // Both files are committed only when everything was written; until then the old
        // ones stay (and the old Parquet file is what the other dates are read from).
        let mut parquet = TableWriter::create(&self.path, decisions_schema())?;
        let mut csv = TableWriter::create(&self.path.with_extension("csv"), decisions_schema())?;
        if self.existing {
            for b in TableReader::open(&self.path, None, DEFAULT_BATCH_SIZE)? {
                let b = select_dates(&self.path, &b?, |d| !self.loaded.contains(&d))?;
                if b.num_rows() > 0 {
                    parquet.write(&b)?;
                    csv.write(&b)?;
                }
            }
        }
        // A slice at a time: the decisions are not held a second time as one Arrow batch.
        // With none, one empty batch still gives the CSV its header.
        let none = std::iter::once(&[][..]).filter(|_| self.decisions.is_empty());
        for slice in none.chain(self.decisions.chunks(DEFAULT_BATCH_SIZE)) {
            let batch = to_batch(slice)?;
            parquet.write(&batch)?;
            csv.write(&batch)?;
        }
        parquet.finish()?;
        csv.finish()?;
        self.existing = true;
        self.dirty = false;
        Ok(())
    }
}
