//! The one configuration file: serde structs whose defaults are the values of DESIGN.md.
//!
//! Every section rejects unknown keys, so a typo is an error naming the key instead of a
//! silently ignored setting.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::DayCalendar;
use crate::{Error, Result};

/// The environment variable that points at a config file.
pub const CONFIG_ENV: &str = "CHURN_CONFIG";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where every stage reads and writes.
    pub paths: PathsConfig,
    /// The synthetic generator.
    pub generate: GenerateConfig,
    /// Validation rules that can be relaxed.
    pub validate: ValidateConfig,
    /// Cleaning and user-day aggregation.
    pub prepare: PrepareConfig,
    /// Rolling-window features.
    pub features: FeaturesConfig,
    /// Labels and eligibility.
    pub labels: LabelsConfig,
    /// Model training.
    pub train: TrainConfig,
    /// The model registry and promotion.
    pub registry: RegistryConfig,
    /// Batch scoring.
    pub score: ScoreConfig,
    /// Drift and outcome monitoring.
    pub monitor: MonitorConfig,
    /// Retention decisions.
    pub decide: DecideConfig,
}

/// On-disk layout, relative to `root` unless absolute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// Project root every relative path below is resolved against.
    pub root: PathBuf,
    /// Raw inputs (users, events).
    pub raw: PathBuf,
    /// Cleaned user-day table.
    pub processed: PathBuf,
    /// Feature and training tables.
    pub features: PathBuf,
    /// Scored outputs.
    pub predictions: PathBuf,
    /// Model artifacts.
    pub models: PathBuf,
    /// Metrics and reports.
    pub metrics: PathBuf,
    /// Model registry.
    pub registry: PathBuf,
    /// Retention decisions (the embedded sink).
    pub decisions: PathBuf,
    /// File name of the users table inside `raw` (extension picks the format), or of a
    /// folder of `.parquet` / `.csv` files read as one table.
    pub users_file: String,
    /// File name of the events table inside `raw` (extension picks the format), or of a
    /// folder of `.parquet` / `.csv` files read as one table (a partitioned export).
    pub events_file: String,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("."),
            raw: PathBuf::from("data/raw"),
            processed: PathBuf::from("data/processed"),
            features: PathBuf::from("data/features"),
            predictions: PathBuf::from("data/predictions"),
            models: PathBuf::from("artifacts/models"),
            metrics: PathBuf::from("artifacts/metrics"),
            registry: PathBuf::from("artifacts/registry"),
            decisions: PathBuf::from("data/decisions"),
            users_file: "users.parquet".into(),
            events_file: "events.parquet".into(),
        }
    }
}

impl PathsConfig {
    /// Resolves a configured folder against `root`.
    pub fn resolve(&self, dir: &Path) -> PathBuf {
        if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            self.root.join(dir)
        }
    }
    /// The raw users file.
    pub fn users_path(&self) -> PathBuf {
        self.resolve(&self.raw).join(&self.users_file)
    }
    /// The raw events file.
    pub fn events_path(&self) -> PathBuf {
        self.resolve(&self.raw).join(&self.events_file)
    }
    /// The prepared user-day table.
    pub fn user_daily_path(&self) -> PathBuf {
        self.resolve(&self.processed).join("user_daily.parquet")
    }
    /// The daily features table.
    pub fn features_path(&self) -> PathBuf {
        self.resolve(&self.features)
            .join("user_features_daily.parquet")
    }
    /// The labels table.
    pub fn labels_path(&self) -> PathBuf {
        self.resolve(&self.features).join("labels.parquet")
    }
    /// The training set.
    pub fn trainset_path(&self) -> PathBuf {
        self.resolve(&self.features)
            .join("training_dataset.parquet")
    }
    /// The metrics folder.
    pub fn metrics_dir(&self) -> PathBuf {
        self.resolve(&self.metrics)
    }
    /// The model artifacts folder.
    pub fn models_dir(&self) -> PathBuf {
        self.resolve(&self.models)
    }
    /// The embedded decisions table.
    pub fn decisions_path(&self) -> PathBuf {
        self.resolve(&self.decisions).join("decisions.parquet")
    }
}

/// Output format of generated tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet, zstd-compressed.
    #[default]
    Parquet,
    /// Comma-separated values with a header.
    Csv,
}

impl FileFormat {
    /// The file extension (without dot).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        }
    }
}

/// The synthetic e-learning simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateConfig {
    /// Number of users.
    pub n_users: u64,
    /// Number of simulated days.
    pub days: u32,
    /// First simulated day.
    pub start_date: NaiveDate,
    /// Seed of every random draw.
    pub seed: u64,
    /// Probability that a user is on the paid plan.
    pub paid_ratio: f64,
    /// Base churn probability before engagement and plan adjustments.
    pub churn_base_rate: f64,
    /// Output format.
    pub format: FileFormat,
    /// Users generated per chunk (bounds memory; does not change the output).
    pub chunk_users: usize,
    /// Optional behaviour shift used to demonstrate drift monitoring.
    pub drift: Option<DriftConfig>,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            n_users: 2000,
            days: 120,
            start_date: NaiveDate::from_ymd_opt(2025, 1, 1).expect("2025-01-01 is a valid date"),
            seed: 42,
            paid_ratio: 0.35,
            churn_base_rate: 0.35,
            format: FileFormat::Parquet,
            chunk_users: 4_096,
            drift: None,
        }
    }
}

/// A shift of behaviour from a given date on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// First day with shifted behaviour.
    pub from_date: NaiveDate,
    /// Multiplier on engagement (activity, watching, quizzing) from that day, in (0, 1].
    #[serde(default = "default_engagement_factor")]
    pub engagement_factor: f64,
    /// Multiplier on the payment failure probability from that day.
    #[serde(default = "default_payment_fail_factor")]
    pub payment_fail_factor: f64,
}

fn default_engagement_factor() -> f64 {
    0.6
}
fn default_payment_fail_factor() -> f64 {
    3.0
}

/// Validation options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidateConfig {
    /// Event types accepted in addition to the seven of the contract (counted as activity).
    pub extra_event_types: Vec<String>,
    /// Event types renamed to a contract type before checking, e.g. `{ "signin" = "login" }`.
    pub event_type_map: std::collections::BTreeMap<String, String>,
    /// Examples kept per violated rule.
    pub max_examples: usize,
    /// The calendar days events are counted in, by validate and prepare alike: a time-zone
    /// name of the IANA database (`America/New_York`, daylight saving time included), a
    /// fixed UTC offset (`+05:30`, `-08:00`), or empty / `UTC` for UTC days. Also read under
    /// its former name, `day_utc_offset`.
    #[serde(alias = "day_utc_offset")]
    pub day_time_zone: String,
    /// A warning when the last date's events fall below this share of the median of the
    /// 14 dates before it (a partial export); 0 turns the check off.
    pub last_day_min_share: f64,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        Self {
            extra_event_types: Vec::new(),
            event_type_map: std::collections::BTreeMap::new(),
            max_examples: 0,
            day_time_zone: String::new(),
            last_day_min_share: 0.5,
        }
    }
}

impl ValidateConfig {
    /// The calendar of [`ValidateConfig::day_time_zone`]. An error names the key and the
    /// value, and says which forms are accepted.
    pub fn day_calendar(&self) -> Result<DayCalendar> {
        DayCalendar::parse(&self.day_time_zone).map_err(|message| Error::Config {
            source_name: "validate.day_time_zone".into(),
            message,
        })
    }

    /// Number of examples per rule (5 when unset).
    pub fn examples(&self) -> usize {
        if self.max_examples == 0 {
            5
        } else {
            self.max_examples
        }
    }
}

/// Preparation (cleaning + user-day aggregation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrepareConfig {
    /// Memory budget in MiB for the per-user-day accumulators when events are not grouped
    /// by user; more users than fit are processed in several passes.
    pub memory_budget_mib: usize,
    /// Rows per output batch.
    pub batch_rows: usize,
    /// Longest span of data dates accepted; a wider one is almost always a stray timestamp
    /// (e.g. 2099 or 1970) that would multiply the user-day grid.
    pub max_span_days: u32,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            memory_budget_mib: 512,
            batch_rows: 65_536,
            max_span_days: 3660,
        }
    }
}

/// Rolling-window features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Trailing windows in calendar days (today included).
    pub windows: Vec<u32>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            windows: vec![7, 14, 30],
        }
    }
}

/// Labels and eligibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelsConfig {
    /// Days after the as-of date that decide the label.
    pub window: u32,
    /// A user-day is eligible only if the user was active within this many days (0 = off).
    pub active_within_days: u32,
    /// Training rows need complete look-back windows: for a user already signed up when
    /// the data starts, rows are kept from the day on which the longest feature window (or
    /// the eligibility window, if longer) lies inside the data.
    pub require_full_history: bool,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            window: 30,
            active_within_days: 30,
            require_full_history: true,
        }
    }
}

/// Model training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Share of the latest dates held out as the test set.
    pub test_size: f64,
    /// Training dates within this many days of the test dates are left out of fitting and
    /// calibration (0 = none; the label window, 30 by default, makes the test period
    /// unseen by every training label).
    pub gap_days: u32,
    /// Columns never used as features.
    pub exclude_features: Vec<String>,
    /// Inverse L2 strength of the logistic regression.
    pub logreg_c: f64,
    /// Whether the logistic regression uses balanced class weights.
    pub balanced_class_weight: bool,
    /// Gradient boosting learning rate.
    pub gbm_learning_rate: f64,
    /// Gradient boosting maximum depth.
    pub gbm_max_depth: u32,
    /// Gradient boosting iterations.
    pub gbm_iterations: u32,
    /// Gradient boosting: most leaves per tree.
    pub gbm_max_leaves: u32,
    /// Gradient boosting: smallest hessian sum in a leaf.
    pub gbm_min_leaf_weight: f64,
    /// Gradient boosting: L2 regularization of leaf weights.
    pub gbm_l2: f64,
    /// Gradient boosting row sampling: "goss" or "none".
    pub gbm_sampling: String,
    /// Stop boosting when log loss on the calibration dates has not improved for this many
    /// rounds (unset: never stop early).
    pub gbm_early_stopping_rounds: Option<u32>,
    /// Random forest: number of trees.
    pub rf_trees: u32,
    /// Random forest: maximum depth.
    pub rf_max_depth: u16,
    /// The value of a missing numeric feature in the linear model and the forest.
    pub numeric_fill: f64,
    /// Calibration of churn_risk: "platt", "isotonic" or "none".
    pub calibration: String,
    /// Share of the latest training dates the calibration is fitted on.
    pub calibration_size: f64,
    /// Models `churn train` trains by default ("lr", "gbm", "rf").
    pub models: Vec<String>,
    /// Keep every k-th day per user for training (1 = all days).
    pub train_stride_days: u32,
    /// Cap on the fitting rows: the stride grows until the fitting rows fit (0 = no cap).
    pub max_fit_rows: u64,
    /// Cap on the calibration and test rows: beyond it a seeded share of users is kept
    /// (0 = no cap).
    pub max_eval_rows: u64,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// K of precision and lift at the top-K.
    pub top_k: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            test_size: 0.2,
            gap_days: 0,
            exclude_features: vec!["engagement_score".into()],
            logreg_c: 1.0,
            balanced_class_weight: true,
            gbm_learning_rate: 0.08,
            gbm_max_depth: 6,
            gbm_iterations: 250,
            gbm_max_leaves: 31,
            gbm_min_leaf_weight: 1.0,
            gbm_l2: 1.0,
            gbm_sampling: "goss".into(),
            gbm_early_stopping_rounds: None,
            rf_trees: 100,
            rf_max_depth: 10,
            numeric_fill: 0.0,
            calibration: "platt".into(),
            calibration_size: 0.2,
            models: vec!["lr".into(), "gbm".into()],
            train_stride_days: 1,
            max_fit_rows: 500_000,
            max_eval_rows: 1_000_000,
            seed: 42,
            top_k: 50,
        }
    }
}

/// The model registry: where `churn train` registers models and how `churn promote`
/// decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Registered model name that trained models become versions of.
    pub model_name: String,
    /// Metric promotion compares: pr_auc, roc_auc (higher is better), log_loss, brier
    /// (lower is better).
    pub primary_metric: String,
    /// How much better the candidate must be to replace production (a tie keeps it).
    pub min_improvement: f64,
    /// Register every model `churn train` writes.
    pub register_on_train: bool,
    /// Seconds to wait for another writer's lock before giving up.
    pub lock_timeout_secs: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            model_name: "churn".into(),
            primary_metric: "pr_auc".into(),
            min_improvement: 0.0,
            register_on_train: true,
            lock_timeout_secs: 30,
        }
    }
}

/// Retention decisions (`churn decide`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecideConfig {
    /// Run `decide` as a stage of `churn all`.
    pub enabled: bool,
    /// Rules file (TOML), relative to the root; none: the built-in rules.
    pub rules: Option<PathBuf>,
    /// PostgreSQL URL of the decisions table; none: the embedded Parquet sink. The
    /// CHURN_DATABASE_URL environment variable and --database-url override it.
    pub database_url: Option<String>,
    /// PostgreSQL table (`name` or `schema.name`).
    pub table: String,
    /// Candidates per transaction.
    pub batch_rows: usize,
}

impl Default for DecideConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rules: None,
            database_url: None,
            table: "churn_decisions".into(),
            batch_rows: 10_000,
        }
    }
}

/// Batch scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    /// Size of the top-K list.
    pub top_k: usize,
    /// Alias of `registry.model_name` scored by default.
    pub alias: String,
    /// Compute the top reasons of every scored user (reason_1..3).
    pub reasons: bool,
    /// Rows per batch read from the feature table.
    pub batch_rows: usize,
    /// Most rows of the dates a backfill (`--to-date`, keys on several dates) scores from
    /// one read of the feature table; they are held until ranked. 0 reads once per date.
    pub max_rows_per_read: usize,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            top_k: 50,
            alias: "production".into(),
            reasons: true,
            batch_rows: 65_536,
            max_rows_per_read: 2_000_000,
        }
    }
}

/// Drift and outcome monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Quantile buckets of numeric PSI.
    pub psi_buckets: usize,
    /// PSI at or above which a feature warns.
    pub psi_warn: f64,
    /// PSI at or above which a feature fails.
    pub psi_fail: f64,
    /// Floor of bucket shares.
    pub psi_floor: f64,
    /// Risk above which a user counts as high risk.
    pub high_risk_threshold: f64,
    /// Retrain when realized PR-AUC is this far below the production model's.
    pub max_pr_auc_drop: f64,
    /// Most training-set rows the drift baseline keeps (every k-th row beyond it).
    pub baseline_max_rows: usize,
    /// Model features left out of drift: `days_since_signup` grows with the calendar for
    /// every user, so its distribution moves by construction between training and scoring.
    pub drift_exclude_features: Vec<String>,
    /// Model features that follow the calendar month (a name, or a prefix ending in `*`):
    /// drift compares them with the training rows on the scored day's day of the month.
    /// Payments are taken at the start of each month, so a 7-day payment window is 0 for
    /// everyone from the 8th on; against every day of the month it would FAIL every day.
    pub drift_monthly_features: Vec<String>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            psi_buckets: 10,
            psi_warn: 0.1,
            psi_fail: 0.25,
            psi_floor: 1e-6,
            high_risk_threshold: 0.7,
            max_pr_auc_drop: 0.1,
            baseline_max_rows: 2_000_000,
            drift_exclude_features: vec!["days_since_signup".into()],
            drift_monthly_features: vec!["payment_*".into()],
        }
    }
}

/// Warns when `list` (the config key `key`) names an entry twice: each entry is used once,
/// so the repeat is harmless, but it may be a typo for another entry.
fn warn_repeats<T: Ord + Clone + std::fmt::Debug>(source: &str, key: &str, what: &str, list: &[T]) {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        tracing::warn!("{source}: {key} lists {what} twice ({list:?}); each is used once");
    }
}

impl Config {
    /// Parses a TOML document; `source_name` is used in error messages.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config {
            source_name: source_name.to_string(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?;
        config.check(source_name)?;
        Ok(config)
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read config", e))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Config {
            source_name: path.display().to_string(),
            message: format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Loads `explicit` if given, else the file named by `CHURN_CONFIG`, else the defaults.
    pub fn discover(explicit: Option<&Path>) -> Result<(Self, Option<PathBuf>)> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        match path {
            Some(p) => Ok((Self::load(&p)?, Some(p))),
            None => Ok((Self::default(), None)),
        }
    }

    /// Renders the effective configuration as TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("config structs always serialize to TOML")
    }

    /// Checks value ranges that the types cannot express.
    pub fn check(&self, source_name: &str) -> Result<()> {
        let fail = |message: String| {
            Err(Error::Config {
                source_name: source_name.to_string(),
                message,
            })
        };
        let g = &self.generate;
        if g.n_users == 0 {
            return fail("generate.n_users must be at least 1 (got 0)".into());
        }
        if g.days == 0 {
            return fail("generate.days must be at least 1 (got 0)".into());
        }
        for (key, v) in [
            ("generate.paid_ratio", g.paid_ratio),
            ("generate.churn_base_rate", g.churn_base_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return fail(format!("{key} must be within [0, 1] (got {v})"));
            }
        }
        if g.chunk_users == 0 {
            return fail("generate.chunk_users must be at least 1 (got 0)".into());
        }
        if let Some(d) = &g.drift {
            if !(d.engagement_factor > 0.0 && d.engagement_factor <= 1.0) {
                return fail(format!(
                    "generate.drift.engagement_factor must be within (0, 1] (got {})",
                    d.engagement_factor
                ));
            }
            if !(d.payment_fail_factor >= 0.0 && d.payment_fail_factor.is_finite()) {
                return fail(format!(
                    "generate.drift.payment_fail_factor must be a finite number >= 0 (got {})",
                    d.payment_fail_factor
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.validate.last_day_min_share) {
            return fail(format!(
                "validate.last_day_min_share must be within [0, 1] (got {})",
                self.validate.last_day_min_share
            ));
        }
        if let Err(Error::Config { message, .. }) = self.validate.day_calendar() {
            return fail(format!("validate.day_time_zone {message}"));
        }
        if self.features.windows.is_empty() || self.features.windows.contains(&0) {
            return fail(format!(
                "features.windows must be a non-empty list of positive day counts (got {:?})",
                self.features.windows
            ));
        }
        warn_repeats(
            source_name,
            "features.windows",
            "a window",
            &self.features.windows,
        );
        warn_repeats(source_name, "train.models", "a model", &self.train.models);
        if self.labels.window == 0 {
            return fail("labels.window must be at least 1 day (got 0)".into());
        }
        if !(self.train.test_size > 0.0 && self.train.test_size < 1.0) {
            return fail(format!(
                "train.test_size must be within (0, 1) (got {})",
                self.train.test_size
            ));
        }
        if self.prepare.batch_rows == 0 || self.prepare.memory_budget_mib == 0 {
            return fail(
                "prepare.batch_rows and prepare.memory_budget_mib must be positive".into(),
            );
        }
        let r = &self.registry;
        if !(r.min_improvement >= 0.0 && r.min_improvement.is_finite()) {
            return fail(format!(
                "registry.min_improvement must be a finite number >= 0 (got {})",
                r.min_improvement
            ));
        }
        for (key, name) in [
            ("registry.model_name", &r.model_name),
            ("score.alias", &self.score.alias),
        ] {
            if let Err(reason) = crate::names::check(name) {
                return fail(format!("{key} = {name:?} is not a valid name: {reason}"));
            }
        }
        if self.decide.batch_rows == 0 {
            return fail("decide.batch_rows must be positive".into());
        }
        if self.score.batch_rows == 0 || self.score.top_k == 0 {
            return fail("score.batch_rows and score.top_k must be positive".into());
        }
        let m = &self.monitor;
        if !(m.psi_warn > 0.0 && m.psi_warn < m.psi_fail) {
            return fail(format!(
                "monitor.psi_warn must be positive and below monitor.psi_fail (got {} and {})",
                m.psi_warn, m.psi_fail
            ));
        }
        if let Some(p) = m
            .drift_monthly_features
            .iter()
            .find(|p| p.is_empty() || p.strip_suffix('*').unwrap_or(p).contains('*'))
        {
            return fail(format!(
                "monitor.drift_monthly_features: `{p}` is not a feature name or a prefix ending \
                 in one `*`"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_time_zones_parse_or_name_the_key() {
        let calendar = |text: &str| {
            ValidateConfig {
                day_time_zone: text.into(),
                ..ValidateConfig::default()
            }
            .day_calendar()
        };
        for ok in ["", "UTC", "+05:30", "-08:00", "America/New_York"] {
            assert_eq!(
                calendar(ok).unwrap().name(),
                if ok.is_empty() { "UTC" } else { ok }
            );
        }
        for bad in ["05:30", "+5:30", "+14:01", "IST", "Mars/Olympus"] {
            let err = calendar(bad).unwrap_err().to_string();
            assert!(
                err.contains("validate.day_time_zone") && err.contains(bad),
                "{bad}: {err}"
            );
        }
        let mut config = Config::default();
        config.validate.day_time_zone = "+25:00".into();
        let err = config.check("churn.toml").unwrap_err().to_string();
        assert!(
            err.contains("validate.day_time_zone") && err.contains("+25:00"),
            "{err}"
        );
        // The key's former name still reads.
        let config: Config = toml::from_str("[validate]\nday_utc_offset = \"+05:30\"\n").unwrap();
        assert_eq!(config.validate.day_time_zone, "+05:30");
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.generate.n_users, 2000);
        assert_eq!(c.generate.days, 120);
        assert_eq!(c.generate.seed, 42);
        assert_eq!(c.features.windows, vec![7, 14, 30]);
        assert_eq!(c.labels.window, 30);
        assert_eq!(c.labels.active_within_days, 30);
        assert!(c.labels.require_full_history);
        assert_eq!(c.train.gbm_iterations, 250);
        assert_eq!(c.score.top_k, 50);
        assert_eq!(c.monitor.psi_buckets, 10);
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err = Config::from_toml_str("[generate]\nn_user = 5\n", "test.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("n_user"), "{msg}");
        assert!(msg.contains("test.toml"), "{msg}");
    }

    #[test]
    fn partial_file_keeps_other_defaults_and_round_trips() {
        let c = Config::from_toml_str("[generate]\nn_users = 10\n", "t").unwrap();
        assert_eq!(c.generate.n_users, 10);
        assert_eq!(c.generate.days, 120);
        let again = Config::from_toml_str(&c.to_toml_string(), "t").unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(Config::from_toml_str("[features]\nwindows = [7, 0]\n", "t").is_err());
        let e = Config::from_toml_str("[generate]\nn_users = 0\n", "t").unwrap_err();
        assert!(
            e.to_string()
                .contains("generate.n_users must be at least 1"),
            "{e}"
        );
        assert!(Config::from_toml_str("[generate]\npaid_ratio = 1.5\n", "t").is_err());
        let err = Config::from_toml_str("[registry]\nmodel_name = \"../x\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("registry.model_name") && err.contains("t.toml"),
            "{err}"
        );
        for bad in ["\"\"", "\"pay*ment\"", "\"payment_**\""] {
            let err = Config::from_toml_str(
                &format!("[monitor]\ndrift_monthly_features = [{bad}]\n"),
                "t.toml",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("monitor.drift_monthly_features"), "{err}");
        }
        let ok = "[monitor]\ndrift_monthly_features = [\"payment_*\", \"invoice_due\", \"*\"]\n";
        assert!(Config::from_toml_str(ok, "t").is_ok());
    }
}
