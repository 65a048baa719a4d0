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

use crate::error::{Error, Result};
use crate::rules::{Candidate, Decision, RuleSet, Used, rank};
use crate::table::{decisions_schema, from_batches, to_batch};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// Decisions written.
    pub written: u64,
    /// Candidates skipped because they were decided already.
    pub already_decided: u64,
}

/// A sink of decisions that can decide a batch atomically.
pub trait DecisionStore {
    /// Decides `batch` (ranked) in one transaction: `decide` gets the candidates not yet
    /// decided (all of them, with `redecide`, after their old decisions are removed) and
    /// the budget used per (date, action), and returns the decisions to write.
    fn transact(
        &mut self,
        batch: &[Candidate],
        redecide: bool,
        decide: &mut dyn FnMut(&[&Candidate], &mut Used) -> Vec<Decision>,
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
    let mut summary = RunSummary {
        candidates: candidates.len() as u64,
        ..RunSummary::default()
    };
    let mut dates: Vec<NaiveDate> = candidates.iter().map(|c| c.as_of_date).collect();
    dates.sort_unstable();
    dates.dedup();
    summary.dates = dates;
    for batch in candidates.chunks(options.batch_rows) {
        // Counted as the batch is decided, kept only once the store has committed it.
        let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
        let mut examples = Vec::new();
        let room = 5usize.saturating_sub(summary.examples.len());
        let outcome = store.transact(batch, options.redecide, &mut |fresh, used| {
            let d = rules.decide(fresh.iter().copied(), used, now);
            for x in &d {
                *by_action.entry(x.action.clone()).or_default() += 1;
            }
            examples.extend(d.iter().take(room).cloned());
            d
        })?;
        summary.written += outcome.written;
        summary.already_decided += outcome.already_decided;
        for (action, n) in by_action {
            *summary.by_action.entry(action).or_default() += n;
        }
        summary.examples.extend(examples);
        tracing::debug!(written = outcome.written, "decision batch committed");
    }
    store.finish()?;
    Ok(summary)
}

/// Decisions appended to a Parquet file (and a CSV copy beside it), keyed by
/// (user_id, as_of_date). The file is rewritten atomically (temp + rename) by
/// [`DecisionStore::finish`]; an exclusive lock beside it serialises concurrent runs.
#[derive(Debug)]
pub struct ParquetStore {
    path: PathBuf,
    decisions: Vec<Decision>,
    /// Where each decided (date, user) is in `decisions`; by date first, so a lookup
    /// borrows the user id instead of building a key.
    index: HashMap<NaiveDate, HashMap<String, usize>>,
    /// Decisions per (date, action), kept with `decisions`.
    used: Used,
    /// Positions in `decisions` replaced by this run (re-deciding), dropped on write.
    removed: HashSet<usize>,
    dirty: bool,
    _lock: File,
}

impl ParquetStore {
    /// Opens (or starts) the decisions file, waiting for other runs to finish.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| churn_data::Error::io(dir, "create the folder", e))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| churn_data::Error::io(&lock_path, "open the lock", e))?;
        lock.lock()
            .map_err(|e| churn_data::Error::io(&lock_path, "lock", e))?;
        let decisions = if path.exists() {
            let (schema, batches) = churn_data::io::read_all(path, None)?;
            if schema.field_with_name("action").is_err() {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    column: "action".into(),
                    rule: format!(
                        "not a decisions file (columns: {})",
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
            from_batches(path, &batches)?
        } else {
            Vec::new()
        };
        let mut store = Self {
            path: path.to_path_buf(),
            decisions,
            index: HashMap::new(),
            used: Used::new(),
            removed: HashSet::new(),
            dirty: false,
            _lock: lock,
        };
        store.reindex();
        Ok(store)
    }

    /// Every decision in the file (with this run's once [`DecisionStore::finish`] ran).
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, d) in self.decisions.iter().enumerate() {
            self.index
                .entry(d.as_of_date)
                .or_default()
                .insert(d.user_id.clone(), i);
        }
        self.used.clear();
        for d in &self.decisions {
            *self
                .used
                .entry((d.as_of_date, d.action.clone()))
                .or_default() += 1;
        }
    }
}

impl DecisionStore for ParquetStore {
    fn transact(
        &mut self,
        batch: &[Candidate],
        redecide: bool,
        decide: &mut dyn FnMut(&[&Candidate], &mut Used) -> Vec<Decision>,
    ) -> Result<BatchOutcome> {
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
        let dates: HashSet<NaiveDate> = fresh.iter().map(|c| c.as_of_date).collect();
        let mut used: Used = self
            .used
            .iter()
            .filter(|((day, _), _)| dates.contains(day))
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        let new = decide(&fresh, &mut used);
        let written = new.len() as u64;
        for d in new {
            self.index
                .entry(d.as_of_date)
                .or_default()
                .insert(d.user_id.clone(), self.decisions.len());
            *self
                .used
                .entry((d.as_of_date, d.action.clone()))
                .or_default() += 1;
            self.decisions.push(d);
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
            let mut i = 0;
            self.decisions.retain(|_| {
                i += 1;
                !removed.contains(&(i - 1))
            });
            self.reindex();
        }
        let batch = to_batch(&self.decisions)?;
        churn_data::io::write_batches(
            &self.path,
            decisions_schema(),
            std::slice::from_ref(&batch),
        )?;
        churn_data::io::write_batches(
            &self.path.with_extension("csv"),
            decisions_schema(),
            std::slice::from_ref(&batch),
        )?;
        self.dirty = false;
        Ok(())
    }
}
