//! The registry folder: versions, aliases, history, promotion and rollback.
//!
//! ```text
//! <registry>/.lock                         writer lock (see [`crate::lock`])
//! <registry>/<name>/versions/<N>/model.json    the artifact, byte for byte as registered
//! <registry>/<name>/versions/<N>/version.json  metrics, lineage, artifact fingerprint
//! <registry>/<name>/history.jsonl          every change, one JSON object per line
//! <registry>/<name>/aliases.json           alias -> version, for people and other tools
//! ```
//!
//! Versions are immutable: a version folder is written under a temporary name and renamed
//! into place, so it either exists whole or not at all. The history is the source of truth
//! for aliases (a write-ahead log): a change is appended and fsynced to the history
//! before `aliases.json` is rewritten (temp file + rename), and readers compute the aliases
//! from the history, so a crash between the two steps loses nothing. A torn last history
//! line (a crash mid-append) was never acknowledged; it is ignored by readers and cut off
//! by the next writer.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use churn_data::clock::Clock;
use churn_models::artifact::TrainingWindow;
use churn_models::fingerprint::Fingerprint;
use churn_models::{ModelArtifact, ModelKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lock::RegistryLock;
use crate::metric::{Metric, metrics_of};
use crate::name::{ModelRef, Selector, check_name};

const VERSIONS: &str = "versions";
const MODEL_FILE: &str = "model.json";
const VERSION_FILE: &str = "version.json";
const HISTORY_FILE: &str = "history.jsonl";
const ALIASES_FILE: &str = "aliases.json";

/// Where a version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Fingerprint of the training data.
    pub data_fingerprint: String,
    /// Dates and rows the model was trained on.
    pub training: TrainingWindow,
    /// The `production` version when this one was registered (what it would replace).
    pub parent_version: Option<u32>,
    /// When the model was trained.
    pub trained_at: DateTime<Utc>,
    /// churn-models version that trained it.
    pub crate_version: String,
}

/// The record of one registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Registered model name.
    pub name: String,
    /// Version number, from 1.
    pub version: u32,
    /// Model kind.
    pub kind: ModelKind,
    /// The artifact's own name (e.g. `churn_gbm`).
    pub artifact_name: String,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// The file it was registered from.
    pub source: Option<PathBuf>,
    /// Test metrics by name (pr_auc, roc_auc, log_loss, brier, ece, precision_at_K, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Where it came from.
    pub lineage: Lineage,
    /// FNV-1a fingerprint of the stored artifact, checked on load.
    pub artifact_fingerprint: String,
}

impl VersionInfo {
    /// The value of a metric, if the evaluation had one.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        self.metrics.get(metric.as_str()).copied()
    }
}

/// What a history event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new version was registered.
    Register,
    /// Promotion moved an alias to a better candidate.
    Promote,
    /// Promotion kept the alias where it was.
    Keep,
    /// An alias was set by hand.
    SetAlias,
    /// An alias was moved back.
    Rollback,
}

impl Action {
    fn moves_alias(self) -> bool {
        matches!(self, Action::Promote | Action::SetAlias | Action::Rollback)
    }
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// When (the caller's clock).
    pub at: DateTime<Utc>,
    /// What happened.
    pub action: Action,
    /// The alias concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The version the alias pointed at before.
    #[serde(default)]
    pub from: Option<u32>,
    /// The version concerned: the alias's new target, the candidate kept out, or the
    /// version registered.
    #[serde(default)]
    pub to: Option<u32>,
    /// Metric compared, for promotions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// The candidate's value of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_value: Option<f64>,
    /// The incumbent's value of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incumbent_value: Option<f64>,
    /// Why, in words.
    pub reason: String,
}

impl HistoryEvent {
    /// Whether the event concerns what `selector` selects: for an alias, every event of
    /// that alias (promotions, kept candidates, rollbacks, hand-set targets); for a
    /// version, its registration and every alias move to or from it.
    pub fn concerns(&self, selector: &Selector) -> bool {
        match selector {
            Selector::Alias(a) => self.alias.as_deref() == Some(a.as_str()),
            Selector::Version(v) => self.from == Some(*v) || self.to == Some(*v),
        }
    }
}

/// How promotion decides.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotePolicy {
    /// The alias to move (default `production`).
    pub alias: String,
    /// The metric compared.
    pub metric: Metric,
    /// How much better the candidate must be; a tie never promotes.
    pub min_improvement: f64,
}

impl Default for PromotePolicy {
    fn default() -> Self {
        Self {
            alias: "production".into(),
            metric: Metric::PrAuc,
            min_improvement: 0.0,
        }
    }
}

/// What a promotion decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromoteOutcome {
    /// Whether the alias moved.
    pub promoted: bool,
    /// The alias's version after the decision.
    pub alias_version: u32,
    /// The event appended to the history.
    pub event: HistoryEvent,
}

/// The result of registering an artifact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registered {
    /// The version's record.
    pub info: VersionInfo,
    /// False when the same artifact was already registered (its version is returned).
    pub created: bool,
}

/// A model registry rooted at one folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    lock_timeout: Duration,
}

impl Registry {
    /// A registry at `root` (created on the first write).
    pub fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            lock_timeout: Duration::from_secs(30),
        }
    }

    /// Sets how long a writer waits for another writer's lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The registry folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn model_dir(&self, name: &str) -> Result<PathBuf> {
        check_name("model name", name)?;
        Ok(self.root.join(name))
    }

    fn lock(&self) -> Result<RegistryLock> {
        RegistryLock::acquire(&self.root, self.lock_timeout)
    }

    /// Fails with the not-found error of [`Registry::versions`] when `name` has no
    /// versions folder: checked before locking, so a command naming an unknown model (or
    /// run in the wrong folder) creates no registry folder or lock file.
    fn require_model(&self, name: &str) -> Result<()> {
        if self.model_dir(name)?.join(VERSIONS).is_dir() {
            return Ok(());
        }
        self.versions(name).map(|_| ())
    }

    fn not_found(&self, what: String, hint: String) -> Error {
        Error::NotFound {
            what,
            root: self.root.clone(),
            hint,
        }
    }

    /// Registered model names, sorted.
    pub fn models(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.root, "list", e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.root, "list", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if check_name("model name", &name).is_ok() && entry.path().join(VERSIONS).is_dir() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every version of a model, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        let dir = self.model_dir(name)?.join(VERSIONS);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.not_found(
                    format!("model `{name}`"),
                    hint_list("registered models", &self.models()?),
                ));
            }
            Err(e) => return Err(Error::io(&dir, "list", e)),
        };
        let mut numbers = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, "list", e))?;
            // Folders being written have a leading dot and are skipped.
            if let Ok(v) = entry.file_name().to_string_lossy().parse::<u32>() {
                numbers.push(v);
            }
        }
        numbers.sort_unstable();
        numbers.iter().map(|&v| self.read_info(name, v)).collect()
    }

    fn version_dir(&self, name: &str, version: u32) -> Result<PathBuf> {
        Ok(self
            .model_dir(name)?
            .join(VERSIONS)
            .join(version.to_string()))
    }

    fn read_info(&self, name: &str, version: u32) -> Result<VersionInfo> {
        let path = self.version_dir(name, version)?.join(VERSION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: format!("cannot read the version record: {e}"),
        })?;
        let info: VersionInfo = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: format!("invalid version record: {e}"),
        })?;
        if info.version != version || info.name != name {
            return Err(Error::Corrupt {
                path,
                message: format!(
                    "the record says {}/{} but lives in {name}/{version}",
                    info.name, info.version
                ),
            });
        }
        Ok(info)
    }

    /// The record of one version.
    pub fn version(&self, name: &str, version: u32) -> Result<VersionInfo> {
        if !self.version_dir(name, version)?.is_dir() {
            let known: Vec<String> = self
                .versions(name)?
                .iter()
                .map(|v| v.version.to_string())
                .collect();
            return Err(self.not_found(
                format!("version {version} of model `{name}`"),
                hint_list("versions", &known),
            ));
        }
        self.read_info(name, version)
    }

    /// Path of a version's stored artifact.
    pub fn artifact_path(&self, name: &str, version: u32) -> Result<PathBuf> {
        Ok(self.version_dir(name, version)?.join(MODEL_FILE))
    }

    /// The history of a model, oldest first (empty for a model without one).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEvent>> {
        let path = self.model_dir(name)?.join(HISTORY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, "read", e)),
        };
        parse_history(&path, &text)
    }

    /// Where each alias of a model points, computed from the history.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u32>> {
        Ok(alias_stacks(&self.history(name)?)
            .into_iter()
            .filter_map(|(a, stack)| stack.last().map(|&v| (a, v)))
            .collect())
    }

    /// The newest version of `name` that a fit of `kind` on the same data (fingerprint),
    /// window and parameters produced, as [`churn_models::train::Trainer`] reports them
    /// before fitting, by this version of churn-models: fitting again would give the same
    /// model (training is deterministic for a seed). `None` when there is none, or `name`
    /// is not registered.
    pub fn trained_alike(
        &self,
        name: &str,
        kind: ModelKind,
        data_fingerprint: &str,
        window: &TrainingWindow,
        params: &serde_json::Value,
    ) -> Result<Option<u32>> {
        let versions = match self.versions(name) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        for info in versions.iter().rev().filter(|v| {
            v.kind == kind
                && v.lineage.data_fingerprint == data_fingerprint
                && v.lineage.training == *window
                && v.lineage.crate_version == churn_models::CRATE_VERSION
        }) {
            let (_, artifact) = self.load(&ModelRef::version(name, info.version)?)?;
            if artifact.params == *params {
                return Ok(Some(info.version));
            }
        }
        Ok(None)
    }

    /// The version a reference selects.
    pub fn resolve(&self, r: &ModelRef) -> Result<VersionInfo> {
        match &r.selector {
            Selector::Version(v) => self.version(&r.name, *v),
            Selector::Alias(alias) => {
                let aliases = self.aliases(&r.name)?;
                match aliases.get(alias) {
                    Some(&v) => self.version(&r.name, v),
                    None => {
                        // Distinguish "no such model" from "no such alias".
                        self.versions(&r.name)?;
                        let known: Vec<String> =
                            aliases.iter().map(|(a, v)| format!("{a}={v}")).collect();
                        Err(self.not_found(
                            format!("alias `{alias}` of model `{}`", r.name),
                            hint_list("aliases", &known),
                        ))
                    }
                }
            }
        }
    }

    /// Resolves a reference and loads its artifact, checking the stored fingerprint.
    pub fn load(&self, r: &ModelRef) -> Result<(VersionInfo, ModelArtifact)> {
        let info = self.resolve(r)?;
        let path = self.artifact_path(&info.name, info.version)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: format!("cannot read the stored artifact: {e}"),
        })?;
        let fingerprint = text_fingerprint(&text);
        if fingerprint != info.artifact_fingerprint {
            return Err(Error::Corrupt {
                path,
                message: format!(
                    "fingerprint {fingerprint} does not match the registered {}; the file \
                     was changed after registration",
                    info.artifact_fingerprint
                ),
            });
        }
        let artifact = ModelArtifact::from_json(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok((info, artifact))
    }

    /// Registers the artifact at `artifact` as the next version of `name`. Registering
    /// the same artifact again returns its existing version.
    pub fn register(&self, name: &str, artifact: &Path, clock: &dyn Clock) -> Result<Registered> {
        let text = std::fs::read_to_string(artifact).map_err(|e| Error::io(artifact, "read", e))?;
        let parsed = ModelArtifact::from_json(&text).map_err(|e| match e {
            churn_models::Error::Artifact { message, .. } => churn_models::Error::Artifact {
                path: artifact.to_path_buf(),
                message,
            }
            .into(),
            other => Error::from(other),
        })?;
        self.register_text(name, &text, &parsed, Some(artifact), clock)
    }

    /// Registers an in-memory artifact as the next version of `name`.
    pub fn register_artifact(
        &self,
        name: &str,
        artifact: &ModelArtifact,
        clock: &dyn Clock,
    ) -> Result<Registered> {
        let text = serde_json::to_string_pretty(artifact)
            .map_err(|e| Error::Invalid(format!("cannot serialize the model artifact: {e}")))?;
        self.register_text(name, &text, artifact, None, clock)
    }

    fn register_text(
        &self,
        name: &str,
        text: &str,
        artifact: &ModelArtifact,
        source: Option<&Path>,
        clock: &dyn Clock,
    ) -> Result<Registered> {
        let model_dir = self.model_dir(name)?;
        let _lock = self.lock()?;
        let existing = match self.versions(name) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        let fingerprint = text_fingerprint(text);
        if let Some(info) = existing
            .iter()
            .find(|v| v.artifact_fingerprint == fingerprint)
        {
            return Ok(Registered {
                info: info.clone(),
                created: false,
            });
        }
        let version = existing.last().map_or(1, |v| v.version + 1);
        let history = self.history(name)?;
        let info = VersionInfo {
            name: name.to_string(),
            version,
            kind: artifact.kind,
            artifact_name: artifact.name.clone(),
            registered_at: clock.now(),
            source: source.map(Path::to_path_buf),
            metrics: metrics_of(&artifact.report),
            lineage: Lineage {
                data_fingerprint: artifact.data_fingerprint.clone(),
                training: artifact.training.clone(),
                parent_version: alias_stacks(&history)
                    .get("production")
                    .and_then(|s| s.last().copied()),
                trained_at: artifact.created_at,
                crate_version: artifact.crate_version.clone(),
            },
            artifact_fingerprint: fingerprint,
        };
        let versions_dir = model_dir.join(VERSIONS);
        std::fs::create_dir_all(&versions_dir)
            .map_err(|e| Error::io(&versions_dir, "create folder", e))?;
        let temp = versions_dir.join(format!(".{version}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir(&temp).map_err(|e| Error::io(&temp, "create folder", e))?;
        write_synced(&temp.join(MODEL_FILE), text.as_bytes())?;
        let record = serde_json::to_vec_pretty(&info)
            .map_err(|e| Error::Invalid(format!("cannot serialize the version record: {e}")))?;
        write_synced(&temp.join(VERSION_FILE), &record)?;
        let target = versions_dir.join(version.to_string());
        std::fs::rename(&temp, &target).map_err(|e| Error::io(&target, "rename into place", e))?;
        sync_dir(&versions_dir);
        self.append(
            name,
            HistoryEvent {
                at: info.registered_at,
                action: Action::Register,
                alias: None,
                from: None,
                to: Some(version),
                metric: None,
                candidate_value: None,
                incumbent_value: None,
                reason: format!(
                    "registered {} ({}) trained on {} .. {}",
                    info.artifact_name,
                    info.kind,
                    info.lineage.training.first_date,
                    info.lineage.training.last_date
                ),
            },
        )?;
        tracing::info!(model = name, version, "registered");
        Ok(Registered {
            info,
            created: true,
        })
    }

    /// Points `alias` at `version` (the version must exist).
    pub fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u32,
        reason: &str,
        clock: &dyn Clock,
    ) -> Result<HistoryEvent> {
        check_name("alias", alias)?;
        self.require_model(name)?;
        let _lock = self.lock()?;
        self.version(name, version)?;
        let from = self.aliases(name)?.get(alias).copied();
        self.append(
            name,
            HistoryEvent {
                at: clock.now(),
                action: Action::SetAlias,
                alias: Some(alias.to_string()),
                from,
                to: Some(version),
                metric: None,
                candidate_value: None,
                incumbent_value: None,
                reason: reason.to_string(),
            },
        )
    }

    /// Compares a candidate with the version `policy.alias` points at and moves the alias
    /// only when the candidate is better by more than `policy.min_improvement`. The
    /// candidate is `candidate` if given, else the best (on the metric) of the versions
    /// registered since the last promotion decision, else the newest version. With no
    /// version behind the alias yet, the candidate becomes it.
    pub fn promote(
        &self,
        name: &str,
        policy: &PromotePolicy,
        candidate: Option<u32>,
        clock: &dyn Clock,
    ) -> Result<PromoteOutcome> {
        check_name("alias", &policy.alias)?;
        self.require_model(name)?;
        let _lock = self.lock()?;
        let versions = self.versions(name)?;
        let history = self.history(name)?;
        let current = alias_stacks(&history)
            .get(&policy.alias)
            .and_then(|s| s.last().copied());
        let metric = policy.metric;
        let candidate = match candidate {
            Some(v) => self.version(name, v)?,
            None => pick_candidate(&versions, &history, current, metric).ok_or_else(|| {
                self.not_found(format!("a version of model `{name}`"), String::new())
            })?,
        };
        let cand_value = candidate.metric(metric);
        let incumbent = current.map(|v| self.version(name, v)).transpose()?;
        let inc_value = incumbent.as_ref().and_then(|i| i.metric(metric));
        let (promoted, reason) = decide(
            &candidate,
            incumbent.as_ref(),
            cand_value,
            inc_value,
            policy,
        );
        let event = self.append(
            name,
            HistoryEvent {
                at: clock.now(),
                action: if promoted {
                    Action::Promote
                } else {
                    Action::Keep
                },
                alias: Some(policy.alias.clone()),
                from: current,
                to: Some(candidate.version),
                metric: Some(metric),
                candidate_value: cand_value,
                incumbent_value: inc_value,
                reason,
            },
        )?;
        let alias_version = if promoted {
            candidate.version
        } else {
            current.unwrap_or(candidate.version)
        };
        Ok(PromoteOutcome {
            promoted,
            alias_version,
            event,
        })
    }

    /// Moves `alias` back: to `to` if given, else to the version it pointed at before its
    /// last move.
    pub fn rollback(
        &self,
        name: &str,
        alias: &str,
        to: Option<u32>,
        clock: &dyn Clock,
    ) -> Result<HistoryEvent> {
        check_name("alias", alias)?;
        self.require_model(name)?;
        let _lock = self.lock()?;
        let history = self.history(name)?;
        let stacks = alias_stacks(&history);
        let stack = stacks.get(alias).cloned().unwrap_or_default();
        let Some(&current) = stack.last() else {
            self.versions(name)?;
            return Err(Error::Invalid(format!(
                "alias `{alias}` of model `{name}` points at no version; nothing to roll back"
            )));
        };
        let target = match to {
            Some(v) => {
                self.version(name, v)?;
                v
            }
            None => *stack.iter().rev().nth(1).ok_or_else(|| {
                Error::Invalid(format!(
                    "alias `{alias}` of model `{name}` has pointed only at version {current}; \
                     there is no earlier version to roll back to (use --to VERSION)"
                ))
            })?,
        };
        if target == current {
            return Err(Error::Invalid(format!(
                "alias `{alias}` of model `{name}` already points at version {current}"
            )));
        }
        self.append(
            name,
            HistoryEvent {
                at: clock.now(),
                action: Action::Rollback,
                alias: Some(alias.to_string()),
                from: Some(current),
                to: Some(target),
                metric: None,
                candidate_value: None,
                incumbent_value: None,
                reason: format!("rolled back from version {current} to version {target}"),
            },
        )
    }

    /// Appends an event (fsynced) and rewrites `aliases.json`; the caller holds the lock.
    fn append(&self, name: &str, event: HistoryEvent) -> Result<HistoryEvent> {
        let dir = self.model_dir(name)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create folder", e))?;
        let path = dir.join(HISTORY_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| Error::io(&path, "read", e))?;
        // Cut a torn last line left by a crash mid-append.
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        if keep < text.len() {
            tracing::warn!(path = %path.display(), "dropping an incomplete last history line");
            file.set_len(keep as u64)
                .map_err(|e| Error::io(&path, "truncate", e))?;
        }
        let mut line = serde_json::to_string(&event)
            .map_err(|e| Error::Invalid(format!("cannot serialize a history event: {e}")))?;
        line.push('\n');
        file.seek(SeekFrom::Start(keep as u64))
            .and_then(|_| file.write_all(line.as_bytes()))
            .and_then(|_| file.sync_data())
            .map_err(|e| Error::io(&path, "append", e))?;
        let history = parse_history(&path, &format!("{}{line}", &text[..keep]))?;
        let aliases: BTreeMap<String, u32> = alias_stacks(&history)
            .into_iter()
            .filter_map(|(a, s)| s.last().map(|&v| (a, v)))
            .collect();
        churn_data::io::write_json(&dir.join(ALIASES_FILE), &aliases)?;
        Ok(event)
    }
}

/// Picks the promotion candidate: the best on the metric of the versions registered after
/// the last promotion decision (ties to the newest), else the newest version.
fn pick_candidate(
    versions: &[VersionInfo],
    history: &[HistoryEvent],
    current: Option<u32>,
    metric: Metric,
) -> Option<VersionInfo> {
    let decided = history
        .iter()
        .filter(|e| matches!(e.action, Action::Promote | Action::Keep))
        .filter_map(|e| e.to)
        .max()
        .unwrap_or(0);
    let pending: Vec<&VersionInfo> = versions
        .iter()
        .filter(|v| v.version > decided && Some(v.version) != current)
        .collect();
    let score = |v: &VersionInfo| {
        v.metric(metric)
            .map(|x| if metric.higher_is_better() { x } else { -x })
            .unwrap_or(f64::NEG_INFINITY)
    };
    pending
        .into_iter()
        .max_by(|a, b| {
            score(a)
                .total_cmp(&score(b))
                .then(a.version.cmp(&b.version))
        })
        .or(versions.last())
        .cloned()
}

fn decide(
    candidate: &VersionInfo,
    incumbent: Option<&VersionInfo>,
    cand: Option<f64>,
    inc: Option<f64>,
    policy: &PromotePolicy,
) -> (bool, String) {
    let (m, alias) = (policy.metric, &policy.alias);
    let fmt = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |v| format!("{v:.6}"));
    let Some(incumbent) = incumbent else {
        return (
            true,
            format!(
                "no version was {alias}; version {} becomes it ({m} {})",
                candidate.version,
                fmt(cand)
            ),
        );
    };
    if incumbent.version == candidate.version {
        return (
            false,
            format!("version {} is already {alias}", candidate.version),
        );
    }
    let same_data = if incumbent.lineage.data_fingerprint == candidate.lineage.data_fingerprint {
        "same training data"
    } else {
        "different training data"
    };
    match (cand, inc) {
        (None, _) => (
            false,
            format!(
                "candidate version {} has no {m}; {alias} stays at version {}",
                candidate.version, incumbent.version
            ),
        ),
        (Some(c), None) => (
            true,
            format!(
                "{alias} version {} has no {m}; candidate version {} has {c:.6}",
                incumbent.version, candidate.version
            ),
        ),
        (Some(c), Some(i)) => {
            let gain = m.improvement(c, i);
            if gain > policy.min_improvement {
                (
                    true,
                    format!(
                        "candidate version {} {m} {c:.6} beats {alias} version {} {i:.6} by \
                         {gain:.6} (> {}; {same_data})",
                        candidate.version, incumbent.version, policy.min_improvement
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "candidate version {} {m} {c:.6} does not beat {alias} version {} \
                         {i:.6} by more than {} ({same_data}); {alias} kept",
                        candidate.version, incumbent.version, policy.min_improvement
                    ),
                )
            }
        }
    }
}

/// Each alias's past targets, oldest first: a promotion or a manual set pushes, a rollback
/// pops back to its target (or pushes it, if it was never a target before).
fn alias_stacks(history: &[HistoryEvent]) -> BTreeMap<String, Vec<u32>> {
    let mut stacks: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for e in history.iter().filter(|e| e.action.moves_alias()) {
        let (Some(alias), Some(to)) = (&e.alias, e.to) else {
            continue;
        };
        let stack = stacks.entry(alias.clone()).or_default();
        if e.action == Action::Rollback
            && let Some(pos) = stack.iter().rposition(|&v| v == to)
        {
            stack.truncate(pos + 1);
            continue;
        }
        stack.push(to);
    }
    stacks
}

fn parse_history(path: &Path, text: &str) -> Result<Vec<HistoryEvent>> {
    // A last line without its newline is a torn append that was never acknowledged.
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

fn text_fingerprint(text: &str) -> String {
    let mut f = Fingerprint::default();
    f.write(text.as_bytes());
    format!("{:016x}", f.finish())
}

fn hint_list(what: &str, items: &[String]) -> String {
    if items.is_empty() {
        format!(" (no {what})")
    } else {
        format!(" ({what}: {})", items.join(", "))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, "create", e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, "write", e))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
