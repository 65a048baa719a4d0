//! A scoring job (one model, one feature table, one or more dates) from the registry to
//! files, idempotent per date; and multi-model runs from a TOML plan with per-model status
//! and an overall SUCCESS / PARTIAL / FAILED.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use churn_data::clock::Clock;
use churn_models::ModelKind;
use churn_registry::{ModelRef, Registry};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::output::{DayManifest, DayPaths, InputStamp, Latest, update_latest, write_day};
use crate::score::{ModelIdentity, OutputKind, ScoreParams, ScoreSummary, Scorer};
use crate::table::{FeatureTable, IdColumns};

/// One model scoring one feature table.
#[derive(Debug, Clone)]
pub struct ScoreJob {
    /// The registered model.
    pub model: ModelRef,
    /// The feature table.
    pub features: PathBuf,
    /// Keys-only scoring: a file of (user_id, as_of_date) rows.
    pub keys: Option<PathBuf>,
    /// Key column names of the feature table and the keys file.
    pub ids: IdColumns,
    /// The date (default: the latest in the table); ignored with keys.
    pub date: Option<NaiveDate>,
    /// With `date`: score every date from `date` through this one (a backfill); ignored
    /// with keys.
    pub to_date: Option<NaiveDate>,
    /// Output folder.
    pub output_dir: PathBuf,
    /// Size of the top list.
    pub top_k: usize,
    /// Score again even when the outputs are up to date.
    pub force: bool,
    /// Scoring settings.
    pub params: ScoreParams,
}

/// Whether a date was scored or found up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// Scored and written now.
    Scored,
    /// The outputs of an identical earlier run were kept.
    UpToDate,
}

/// One date of a job.
#[derive(Debug, Clone, Serialize)]
pub struct DayOutcome {
    /// Scored or up to date.
    pub status: DayStatus,
    /// The files.
    pub paths: DayPaths,
    /// Counts.
    pub summary: ScoreSummary,
    /// Whether `latest.json` now points at this date.
    pub latest_moved: bool,
}

/// What a job did.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    /// The model that scored.
    pub model: ModelIdentity,
    /// Its kind.
    pub kind: ModelKind,
    /// One entry per date.
    pub days: Vec<DayOutcome>,
}

impl JobOutcome {
    /// Rows scored over all dates.
    pub fn rows_scored(&self) -> u64 {
        self.days.iter().map(|d| d.summary.scored).sum()
    }
}

/// Checks, before anything is scored or written, that the feature table covers every date
/// the keys file names: a date the table does not cover would otherwise give
/// empty outputs with every key "missing", which reads like a lookup problem rather than
/// features not yet built for that date.
fn keys_within_table(table: &FeatureTable, keys: &KeySet) -> Result<()> {
    let column = churn_data::schema::user_daily::AS_OF_DATE;
    let Some((first, last)) = table.date_range()? else {
        return Err(Error::Input {
            path: table.path().to_path_buf(),
            column: column.into(),
            rule: "the feature table has no rows".into(),
            examples: vec![],
        });
    };
    let outside: Vec<String> = keys
        .dates()
        .into_iter()
        .filter(|d| *d < first || *d > last)
        .map(|d| d.to_string())
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(Error::Input {
        path: keys.source().to_path_buf(),
        column: column.into(),
        rule: format!(
            "{} date(s) not covered by the feature table {} ({first} .. {last}); \
             build the features for them or drop those keys",
            outside.len(),
            table.path().display()
        ),
        examples: outside.into_iter().take(5).collect(),
    })
}

/// Takes the exclusive lock on writing into the output folder `dir` (`.churn-score.lock`,
/// held until the returned file is dropped). A date's files, its manifest and `latest.json`
/// are written under it, so two runs into one folder at once (an overlapping schedule, a
/// backfill beside the daily run) leave one run's complete set of files, not a mix, and
/// `latest.json` never moves back to an older date. Scoring itself runs unlocked.
fn lock_outputs(dir: &Path) -> Result<std::fs::File> {
    Ok(churn_data::io::lock_exclusive(
        &dir.join(".churn-score.lock"),
    )?)
}

/// Runs a job: loads the model, picks the dates, and scores each one not already up to date.
pub fn run_job(registry: &Registry, job: &ScoreJob, clock: &dyn Clock) -> Result<JobOutcome> {
    let (info, artifact) = registry.load(&job.model)?;
    let identity = ModelIdentity {
        name: info.name.clone(),
        version: info.version,
    };
    let table = FeatureTable::open(&job.features, job.ids.clone())?;
    let keys = job
        .keys
        .as_deref()
        .map(|k| KeySet::read(k, job.ids.clone()))
        .transpose()?;
    // The keys name their dates; otherwise the table's range checks or picks the dates.
    let dates = match (&keys, job.date) {
        (Some(k), _) => {
            keys_within_table(&table, k)?;
            k.dates()
        }
        (None, date) => table.dates_through(date, job.to_date)?,
    };
    let scorer = Scorer::new(&artifact, identity.clone(), job.params.clone())?;
    let settings = serde_json::json!({
        "active_within_days": job.params.active_within_days,
        "reasons": job.params.reasons,
        "kind": job.params.kind,
        "threshold": job.params.threshold,
        "top_k": job.top_k,
    });
    let features_stamp = InputStamp::of(&job.features)?;
    let keys_stamp = job.keys.as_deref().map(InputStamp::of).transpose()?;
    let mut days: Vec<Option<DayOutcome>> = Vec::with_capacity(dates.len());
    // The dates to score: each with its files, its manifest and its keys.
    let mut todo = Vec::new();
    for date in dates {
        let paths = DayPaths::new(&job.output_dir, date, job.top_k);
        let manifest = DayManifest {
            as_of_date: date,
            model: identity.clone(),
            artifact_fingerprint: info.artifact_fingerprint.clone(),
            features: features_stamp.clone(),
            keys: keys_stamp.clone(),
            settings: settings.clone(),
            // Microseconds, as the rows' scored_at holds it.
            scored_at: clock.now().trunc_subsecs(6),
            outputs: paths.files(),
            summary: ScoreSummary::new(date),
        };
        if !job.force
            && let Some(previous) = paths.previous().filter(|p| p.same_run(&manifest))
        {
            tracing::info!(%date, "outputs are up to date; skipped (use --force to score again)");
            days.push(Some(DayOutcome {
                status: DayStatus::UpToDate,
                paths,
                summary: previous.summary,
                latest_moved: false,
            }));
            continue;
        }
        todo.push(Pending {
            slot: days.len(),
            paths,
            manifest,
            users: keys.as_ref().and_then(|k| k.users_on(date)),
        });
        days.push(None);
    }
    // Dates whose rows fit in `max_rows_per_read` are scored from one read of the table.
    let per_date = table.rows_per_date();
    let estimates: Vec<Option<u64>> = todo
        .iter()
        .map(|p| p.users.map_or(per_date, |u| Some(u.len() as u64)))
        .collect();
    let mut todo = todo.into_iter();
    for size in read_groups(&estimates, job.params.max_rows_per_read as u64) {
        let group: Vec<_> = todo.by_ref().take(size).collect();
        let asked: Vec<_> = group
            .iter()
            .map(|p| (p.manifest.as_of_date, p.users))
            .collect();
        // One instant per read: the scored_at of its rows and of its dates' manifests.
        let at = churn_data::clock::FixedClock(group[0].manifest.scored_at);
        let scored = scorer.score_dates(&table, &asked, &at)?;
        for (pending, day) in group.into_iter().zip(scored) {
            let Pending {
                slot,
                paths,
                mut manifest,
                ..
            } = pending;
            manifest.scored_at = at.0;
            let _writing = lock_outputs(&job.output_dir)?;
            write_day(&day.batch, &paths, job.top_k, job.params.batch_rows)?;
            manifest.summary = day.summary.clone();
            churn_data::io::write_json(&paths.manifest, &manifest)?;
            // A keys-only run scores some users, not the day's list: it does not become
            // latest.
            let latest_moved = job.keys.is_none()
                && update_latest(
                    &job.output_dir,
                    &Latest {
                        as_of_date: manifest.as_of_date,
                        model: identity.clone(),
                        scored_at: manifest.scored_at,
                        predictions: paths.parquet.clone(),
                        predictions_csv: paths.csv.clone(),
                        top: paths.top_csv.clone(),
                    },
                )?;
            days[slot] = Some(DayOutcome {
                status: DayStatus::Scored,
                paths,
                summary: day.summary,
                latest_moved,
            });
        }
    }
    let days = days
        .into_iter()
        .map(|d| d.expect("every date is scored or up to date"))
        .collect();
    Ok(JobOutcome {
        model: identity,
        kind: artifact.kind,
        days,
    })
}

/// A date to score: its place among the job's dates, its files, its manifest and, in
/// keys-only scoring, its users.
struct Pending<'k> {
    slot: usize,
    paths: DayPaths,
    manifest: DayManifest,
    users: Option<&'k std::collections::HashMap<String, usize>>,
}

/// How many dates (in order) each read of the table scores: as many as fit `budget` rows
/// by their estimates, at least one; a date without an estimate is read alone.
fn read_groups(estimates: &[Option<u64>], budget: u64) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut rows: Option<u64> = None;
    for &e in estimates {
        match (rows, e) {
            (Some(r), Some(n)) if r + n <= budget => {
                rows = Some(r + n);
                *groups.last_mut().expect("a group is open") += 1;
            }
            _ => {
                groups.push(1);
                rows = e;
            }
        }
    }
    groups
}

/// A multi-model plan (TOML).
///
/// ```toml
/// as_of_date = "2025-04-30"        # optional; default: each table's latest date
/// parallel = true                  # score the models at the same time
///
/// [[model]]
/// name = "churn"
/// alias = "production"             # or: version = 3
/// feature_table = "data/features/user_features_daily.parquet"
/// id_columns = ["user_id", "as_of_date"]
/// output = "data/predictions/churn"
/// kind = "classification"          # classification | regression | anomaly
/// threshold = 0.5
/// enabled = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The date every model scores.
    #[serde(default)]
    pub as_of_date: Option<NaiveDate>,
    /// Score the models in parallel.
    #[serde(default = "yes")]
    pub parallel: bool,
    /// The models.
    #[serde(rename = "model", default)]
    pub models: Vec<PlanModel>,
}

fn yes() -> bool {
    true
}

/// One model of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanModel {
    /// Registered model name.
    pub name: String,
    /// Alias to score (default: the configured alias, `production`).
    #[serde(default)]
    pub alias: Option<String>,
    /// Version to score (instead of an alias).
    #[serde(default)]
    pub version: Option<u32>,
    /// Feature table (default: the configured features path).
    #[serde(default)]
    pub feature_table: Option<PathBuf>,
    /// Keys-only scoring input.
    #[serde(default)]
    pub keys: Option<PathBuf>,
    /// The user id and date columns of the tables.
    #[serde(default)]
    pub id_columns: Option<Vec<String>>,
    /// Output folder (default: `<predictions>/<name>`).
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// Output kind.
    #[serde(default)]
    pub kind: OutputKind,
    /// Threshold of the label or flag (default 0.5).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Top-K size (default: the configured one).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Disabled models are reported as SKIPPED.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Plan {
    /// Parses a plan; `source` names it in errors.
    pub fn from_toml_str(text: &str, source: &Path) -> Result<Self> {
        let plan: Plan = toml::from_str(text).map_err(|e| Error::Plan {
            path: source.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?;
        if plan.models.is_empty() {
            return Err(Error::Plan {
                path: source.to_path_buf(),
                message: "no [[model]] entries".into(),
            });
        }
        for (i, m) in plan.models.iter().enumerate() {
            for (what, name) in [("name", Some(&m.name)), ("alias", m.alias.as_ref())] {
                if let Some(Err(reason)) = name.map(|n| churn_data::names::check(n)) {
                    return Err(Error::Plan {
                        path: source.to_path_buf(),
                        message: format!(
                            "model {}: {what} = {:?} is not a valid name: {reason}",
                            i + 1,
                            name.map(String::as_str).unwrap_or_default()
                        ),
                    });
                }
            }
            if m.alias.is_some() && m.version.is_some() {
                return Err(Error::Plan {
                    path: source.to_path_buf(),
                    message: format!(
                        "model {} (`{}`): give alias or version, not both",
                        i + 1,
                        m.name
                    ),
                });
            }
        }
        Ok(plan)
    }

    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Plan {
            path: path.to_path_buf(),
            message: format!("cannot read the plan: {e}"),
        })?;
        Self::from_toml_str(&text, path)
    }
}

/// What plan entries fall back to.
#[derive(Debug, Clone)]
pub struct PlanDefaults {
    /// Relative plan paths are resolved against this folder.
    pub root: PathBuf,
    /// Feature table.
    pub features: PathBuf,
    /// Predictions folder; each model writes to `<predictions>/<name>` by default.
    pub predictions: PathBuf,
    /// Alias.
    pub alias: String,
    /// Top-K size.
    pub top_k: usize,
    /// Scoring settings (kind and threshold come from the entry).
    pub params: ScoreParams,
    /// Score again even when up to date.
    pub force: bool,
}

/// The status of one model of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelStatus {
    /// Scored (or up to date).
    Success,
    /// Scoring failed.
    Failed,
    /// The model, version or alias is not in the registry.
    NotFound,
    /// Disabled in the plan.
    Skipped,
}

/// The status of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Every enabled model succeeded.
    Success,
    /// Some failed.
    Partial,
    /// All failed.
    Failed,
}

impl RunStatus {
    /// The process exit code: 0, 3 or 1.
    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Success => 0,
            RunStatus::Partial => 3,
            RunStatus::Failed => 1,
        }
    }

    /// The overall status of per-model statuses (skipped models do not count).
    pub fn of(statuses: &[ModelStatus]) -> Self {
        let counted = statuses
            .iter()
            .filter(|s| **s != ModelStatus::Skipped)
            .count();
        let failed = statuses
            .iter()
            .filter(|s| matches!(s, ModelStatus::Failed | ModelStatus::NotFound))
            .count();
        if failed == 0 {
            RunStatus::Success
        } else if failed == counted {
            RunStatus::Failed
        } else {
            RunStatus::Partial
        }
    }
}

/// One model's line of a run manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRun {
    /// Registered name.
    pub name: String,
    /// The reference scored (`name@alias` or `name/version`).
    pub reference: String,
    /// Status.
    pub status: ModelStatus,
    /// Rows scored (0 when up to date or failed).
    pub rows_scored: u64,
    /// Version scored.
    pub model_version: Option<u32>,
    /// Seconds.
    pub duration_seconds: f64,
    /// The error, for FAILED and NOT_FOUND.
    pub error: Option<String>,
    /// Per date.
    pub days: Vec<DayOutcome>,
}

/// The record of a multi-model run.
#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    /// The plan file.
    pub plan: PathBuf,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Overall status.
    pub status: RunStatus,
    /// One line per model, in plan order.
    pub models: Vec<ModelRun>,
}

/// Runs every model of a plan (in parallel when the plan says so) and never stops at the
/// first failure: each model gets its own status.
pub fn run_plan(
    registry: &Registry,
    plan: &Plan,
    plan_path: &Path,
    defaults: &PlanDefaults,
    clock: &dyn Clock,
) -> RunManifest {
    let started_at = clock.now();
    let shared = shared_outputs(plan, defaults);
    let run_one = |(i, m): (usize, &PlanModel)| match &shared[i] {
        Some(why) => ModelRun {
            status: ModelStatus::Failed,
            error: Some(why.clone()),
            ..not_run(m, defaults)
        },
        None => run_plan_model(registry, plan, m, defaults, clock),
    };
    let models: Vec<ModelRun> = if plan.parallel && plan.models.len() > 1 {
        // Plain threads, not the rayon pool: a model waits for its output writers, which
        // use the pool; models running on pool workers could hold every worker while their
        // writers wait for one (with two cores, two models were enough to hang).
        let next = AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(2, usize::from)
            .min(plan.models.len());
        let mut done: Vec<(usize, ModelRun)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(m) = plan.models.get(i) else {
                                return mine;
                            };
                            mine.push((i, run_one((i, m))));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    churn_data::wait::join(h).unwrap_or_else(|p| std::panic::resume_unwind(p))
                })
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, run)| run).collect()
    } else {
        plan.models.iter().enumerate().map(run_one).collect()
    };
    let statuses: Vec<ModelStatus> = models.iter().map(|m| m.status).collect();
    RunManifest {
        plan: plan_path.to_path_buf(),
        started_at,
        finished_at: clock.now(),
        status: RunStatus::of(&statuses),
        models,
    }
}

/// For each model of the plan, why it may not run when another enabled model writes to the
/// same output folder (the same date's files would overwrite each other).
fn shared_outputs(plan: &Plan, defaults: &PlanDefaults) -> Vec<Option<String>> {
    let dirs: Vec<Option<PathBuf>> = plan
        .models
        .iter()
        .map(|m| m.enabled.then(|| output_dir(m, defaults)))
        .collect();
    dirs.iter()
        .enumerate()
        .map(|(i, dir)| {
            let dir = dir.as_ref()?;
            let others: Vec<String> = dirs
                .iter()
                .enumerate()
                .filter(|(j, d)| *j != i && d.as_ref() == Some(dir))
                .map(|(j, _)| format!("{} (`{}`)", j + 1, plan.models[j].name))
                .collect();
            (!others.is_empty()).then(|| {
                format!(
                    "model {} writes to {}, as model {} does: their files of a date would \
                     overwrite each other; give each model its own `output`",
                    i + 1,
                    dir.display(),
                    others.join(", model ")
                )
            })
        })
        .collect()
}

/// The record of a model of the plan before it runs (SKIPPED, nothing scored).
fn not_run(m: &PlanModel, defaults: &PlanDefaults) -> ModelRun {
    let reference = match m.version {
        Some(v) => format!("{}/{v}", m.name),
        None => format!("{}@{}", m.name, alias_of(m, defaults)),
    };
    ModelRun {
        name: m.name.clone(),
        reference,
        status: ModelStatus::Skipped,
        rows_scored: 0,
        model_version: None,
        duration_seconds: 0.0,
        error: None,
        days: Vec::new(),
    }
}

/// The alias a model of the plan is scored at: its own, or the plan's default.
fn alias_of<'a>(m: &'a PlanModel, defaults: &'a PlanDefaults) -> &'a str {
    m.alias.as_deref().unwrap_or(&defaults.alias)
}

/// A path of the plan, relative to the plan's root unless absolute.
fn resolve(defaults: &PlanDefaults, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        defaults.root.join(p)
    }
}

/// Where a model of the plan writes.
fn output_dir(m: &PlanModel, defaults: &PlanDefaults) -> PathBuf {
    m.output.as_deref().map_or_else(
        || defaults.predictions.join(&m.name),
        |p| resolve(defaults, p),
    )
}

fn run_plan_model(
    registry: &Registry,
    plan: &Plan,
    m: &PlanModel,
    defaults: &PlanDefaults,
    clock: &dyn Clock,
) -> ModelRun {
    let started = Instant::now();
    let mut run = not_run(m, defaults);
    let reference = run.reference.clone();
    if !m.enabled {
        return run;
    }
    let resolve = |p: &Path| resolve(defaults, p);
    let job = (|| -> Result<ScoreJob> {
        let model = match m.version {
            Some(v) => ModelRef::version(&m.name, v)?,
            None => ModelRef::alias(&m.name, alias_of(m, defaults))?,
        };
        let ids = match &m.id_columns {
            Some(list) => IdColumns::from_list(list)?,
            None => IdColumns::default(),
        };
        let mut params = defaults.params.clone();
        params.kind = m.kind;
        params.threshold = m.threshold.unwrap_or(0.5);
        Ok(ScoreJob {
            model,
            features: m
                .feature_table
                .as_deref()
                .map_or_else(|| defaults.features.clone(), resolve),
            keys: m.keys.as_deref().map(resolve),
            ids,
            date: plan.as_of_date,
            to_date: None,
            output_dir: output_dir(m, defaults),
            top_k: m.top_k.unwrap_or(defaults.top_k),
            force: defaults.force,
            params,
        })
    })();
    let outcome = job.and_then(|job| run_job(registry, &job, clock));
    run.duration_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(o) => {
            run.status = ModelStatus::Success;
            run.rows_scored = o.rows_scored();
            run.model_version = Some(o.model.version);
            run.days = o.days;
        }
        Err(e) => {
            run.status = if e.is_not_found() {
                ModelStatus::NotFound
            } else {
                ModelStatus::Failed
            };
            tracing::warn!(model = %reference, error = %e, "scoring failed");
            run.error = Some(e.to_string());
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::read_groups;

    #[test]
    fn dates_share_a_read_while_their_rows_fit() {
        let some = |v: &[u64]| v.iter().map(|&n| Some(n)).collect::<Vec<_>>();
        assert_eq!(read_groups(&some(&[10; 7]), 30), [3, 3, 1]);
        assert_eq!(read_groups(&some(&[10; 7]), 1_000), [7]);
        // A date larger than the budget is still read, alone.
        assert_eq!(read_groups(&some(&[10, 50, 10, 10]), 30), [1, 1, 2]);
        // 0 reads once per date; no estimate reads alone.
        assert_eq!(read_groups(&some(&[10; 3]), 0), [1, 1, 1]);
        assert_eq!(
            read_groups(&[Some(5), None, Some(5), Some(5)], 30),
            [1, 1, 2]
        );
        assert!(read_groups(&[], 30).is_empty());
    }
}
