//! Command-line arguments.

use std::path::PathBuf;

use chrono::NaiveDate as Date;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Churn prediction from raw users and events to a ranked, explained list of users at risk.
///
/// Every stage reads and writes under a project root (`--root`, default `.`):
/// data/raw, data/processed, data/features, data/predictions, artifacts/{models,metrics,registry}.
/// Settings come from a TOML file (`--config FILE` or the CHURN_CONFIG environment variable);
/// `churn config show` prints the effective configuration.
///
/// Exit codes: 0 success, 1 invalid input or usage, 2 drift FAIL, 3 partial failure.
#[derive(Debug, Parser)]
#[command(
    name = "churn",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (TOML). Unknown keys are an error.
    #[arg(long, global = true, env = "CHURN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Project root; overrides `paths.root` of the configuration.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The stages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate synthetic e-learning users and events (deterministic for a seed).
    ///
    /// Writes data/raw/users.parquet and data/raw/events.parquet (.csv with --format csv). Streams in chunks of users, so a
    /// million users need little memory.
    Generate(GenerateArgs),
    /// Check users and events against every rule of the contract.
    ///
    /// Reports each broken rule with its count and examples, writes
    /// artifacts/metrics/validation_report.json, and exits 1 if any rule of severity error is
    /// broken.
    Validate(InputArgs),
    /// Clean users and events and aggregate them to one row per user and day.
    ///
    /// Writes data/processed/user_daily.parquet.
    Prepare(PrepareArgs),
    /// Compute rolling-window and recency features per user and day.
    ///
    /// Reads data/processed/user_daily.parquet, writes data/features/user_features_daily.parquet
    /// (windows from `features.windows`, default 7, 14, 30).
    Features(StageIo),
    /// Compute forward-looking churn labels and eligibility.
    ///
    /// future_active_days = active days in (d, d + window]; churn_label = 1 when it is 0; the
    /// last `window` days are unlabelled. Writes data/features/labels.parquet.
    Labels(StageIo),
    /// Join features with labels on (user_id, as_of_date), keeping eligible rows.
    ///
    /// Writes data/features/training_dataset.parquet and a JSON summary beside it.
    Trainset(TrainsetArgs),
    /// Train models on the training set, calibrate and evaluate them on later dates.
    ///
    /// Splits on as_of_date (the last `train.test_size` of dates are the test set, training
    /// ends `train.gap_days` before them, the last `train.calibration_size` of the training
    /// dates fit the calibration), fits each model, writes one self-describing artifact per
    /// model to artifacts/models and its metrics to artifacts/metrics, and prints a
    /// comparison table.
    Train(TrainArgs),
    /// Inspect the model registry and set aliases.
    ///
    /// Versions live in artifacts/registry/NAME/versions/N; aliases (production, staging,
    /// any name) point at one version; every change is in history.jsonl.
    Registry {
        #[command(subcommand)]
        action: RegistryAction,
    },
    /// Compare the newest candidate with production and move the alias only if it is better.
    ///
    /// The candidate is --candidate, else the best (on the metric) of the versions registered
    /// since the last promotion, else the newest. It replaces the alias's version only when
    /// better by more than registry.min_improvement (a tie keeps production); with no
    /// production yet, it becomes production. The decision is appended to the history.
    Promote(PromoteArgs),
    /// Move an alias back to the version it pointed at before (or to --to VERSION).
    Rollback(RollbackArgs),
    /// Score users of one date with a registered model and rank them by churn risk.
    ///
    /// Looks the model's features up by key in the feature table, keeps users active within
    /// labels.active_within_days, predicts with the top 3 reasons, ranks by risk (ties by
    /// user_id) and writes data/predictions/churn_predictions_DATE.{parquet,csv},
    /// churn_top_K_DATE.{parquet,csv}, a manifest and latest.json. Re-running the same
    /// date with the same model and inputs keeps the outputs (use --force to redo).
    /// With --plan, scores every model of a TOML plan and exits 0 (all succeeded),
    /// 3 (some failed) or 1 (all failed).
    Score(ScoreArgs),
    /// Explain one user's score: the risk, the base every user starts from, and every
    /// feature's value and contribution to the log-odds, largest first.
    ///
    /// Reads the user's row of the feature table on the date (default: the latest) and
    /// scores it with the model, as `churn score` would; says whether scoring keeps the user
    /// (eligibility). The forest has no contributions: only its risk is shown.
    Explain(ExplainArgs),
    /// Monitor the production model: drift, score proxy, realized outcomes, retrain decision.
    ///
    /// Each check writes a JSON report to artifacts/metrics/monitor/ (with an append-only
    /// index.jsonl) and a Prometheus textfile to artifacts/metrics/prometheus/.
    Monitor {
        #[command(subcommand)]
        check: MonitorCheck,
    },
    /// Decide retention actions for the scored users and write them where CRM reads them.
    ///
    /// Rules (TOML, first match wins, daily budgets per action spent on the riskiest users
    /// first) turn each user of the latest predictions into one decision with parameters
    /// and a reason, beside a points-scaled score. Decisions go to
    /// data/decisions/decisions.parquet (+ .csv), or to a PostgreSQL table with
    /// --database-url. A user is decided once per date: re-runs skip decided users unless
    /// --redecide. See docs/decide.md.
    Decide(DecideArgs),
    /// Rebuild the training set, train, and promote only a better model.
    ///
    /// Runs labels, trainset, train (registering each model) and promote on the current
    /// user-day and feature tables; the promotion decision and its reason go to the registry
    /// history. A model kind already registered from the same training data, window and
    /// parameters is not fitted again (it would be the same model); with nothing new,
    /// promotion is skipped too. --force fits anyway.
    Retrain(RetrainArgs),
    /// Run the lifecycle on synthetic data: generate, validate, prepare, features, labels,
    /// trainset, train, promote, score, monitor (drift); then print the headline results.
    ///
    /// `--from STAGE` / `--to STAGE` run a part: the stages before --from use the outputs
    /// already under the root. `--partition i/N` runs prepare..trainset (the per-user
    /// stages) for one hash partition of the users; once all N have run, `churn all --from
    /// train` uses the parts as whole tables.
    All(AllArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `churn registry ...`
#[derive(Debug, Subcommand)]
pub enum RegistryAction {
    /// List registered models with their versions and aliases.
    List,
    /// Show versions of a model: metrics, lineage, aliases.
    Show {
        /// Model name [registry.model_name, default churn], or one version of it as
        /// NAME@ALIAS (e.g. churn@production) or NAME/VERSION.
        #[arg(long)]
        model: Option<String>,
        /// Only this version.
        #[arg(long, value_name = "N")]
        model_version: Option<u32>,
    },
    /// Print the history of a model: registrations, promotions, rollbacks.
    History {
        /// Model name [registry.model_name], or NAME@ALIAS for that alias's events only
        /// (e.g. churn@production) or NAME/VERSION for that version's.
        #[arg(long)]
        model: Option<String>,
    },
    /// Register a model artifact as the next version.
    Register {
        /// The artifact (artifacts/models/*.json).
        #[arg(value_name = "FILE")]
        artifact: PathBuf,
        /// Model name [registry.model_name].
        #[arg(long)]
        model: Option<String>,
    },
    /// Point an alias at a version.
    SetAlias {
        /// The alias (e.g. staging).
        #[arg(value_name = "ALIAS")]
        alias: String,
        /// The version.
        #[arg(value_name = "VERSION")]
        target: u32,
        /// Model name [registry.model_name].
        #[arg(long)]
        model: Option<String>,
    },
}

/// `churn promote` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct PromoteArgs {
    /// Model name [registry.model_name].
    #[arg(long)]
    pub model: Option<String>,
    /// The candidate version [default: the best version registered since the last promotion].
    #[arg(long, value_name = "VERSION")]
    pub candidate: Option<u32>,
    /// The alias to move.
    #[arg(long, default_value = "production")]
    pub alias: String,
    /// Metric compared: pr_auc, roc_auc, log_loss, brier [registry.primary_metric].
    #[arg(long)]
    pub metric: Option<String>,
    /// Minimum improvement [registry.min_improvement, default 0].
    #[arg(long, value_name = "X")]
    pub min_improvement: Option<f64>,
}

/// `churn rollback` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct RollbackArgs {
    /// Model name [registry.model_name].
    #[arg(long)]
    pub model: Option<String>,
    /// The alias to move back.
    #[arg(long, default_value = "production")]
    pub alias: String,
    /// The version to move it to [default: the previous one].
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u32>,
}

/// `churn score` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct ScoreArgs {
    /// The date to score, YYYY-MM-DD [default: the latest in the features].
    #[arg(long, value_name = "DATE")]
    pub as_of_date: Option<Date>,
    /// Backfill: score every date from --as-of-date through this one, each to its own
    /// files, reading the feature table once per score.max_rows_per_read rows of dates.
    #[arg(
        long,
        value_name = "DATE",
        requires = "as_of_date",
        conflicts_with = "plan"
    )]
    pub to_date: Option<Date>,
    /// The model: NAME, NAME@ALIAS or NAME/VERSION [default: registry.model_name, alias score.alias].
    #[arg(long, value_name = "REF")]
    pub model: Option<String>,
    /// Keys-only scoring: a CSV or Parquet file of (user_id, as_of_date) rows.
    #[arg(long, value_name = "FILE", conflicts_with = "as_of_date")]
    pub keys: Option<PathBuf>,
    /// Feature table [default: data/features/user_features_daily.parquet].
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// Output folder [default: data/predictions].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Size of the top list [score.top_k, default 50].
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Score again even when the outputs are up to date.
    #[arg(long)]
    pub force: bool,
    /// Skip reason codes (faster).
    #[arg(long)]
    pub no_reasons: bool,
    /// Score every model of a TOML plan instead (see docs/score.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "keys", "features", "out"])]
    pub plan: Option<PathBuf>,
}

/// `churn explain` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct ExplainArgs {
    /// The user's id.
    #[arg(long, value_name = "ID")]
    pub user: String,
    /// The date, YYYY-MM-DD [default: the latest in the features].
    #[arg(long, value_name = "DATE")]
    pub as_of_date: Option<Date>,
    /// The model: NAME, NAME@ALIAS or NAME/VERSION [default: registry.model_name, alias score.alias].
    #[arg(long, value_name = "REF")]
    pub model: Option<String>,
    /// Feature table [default: data/features/user_features_daily.parquet].
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// Show only the N features that move the score most [default: all].
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

/// `churn decide` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct DecideArgs {
    /// Predictions file [default: the one data/predictions/latest.json points at].
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    /// Rules file (TOML) [decide.rules; default: the built-in rules].
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// PostgreSQL URL, postgres://user:password@host:port/db [decide.database_url;
    /// default: the embedded Parquet sink].
    #[arg(
        long,
        env = "CHURN_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// PostgreSQL table of decisions [decide.table, default churn_decisions].
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Read the undecided users from this PostgreSQL table (shaped like a predictions
    /// file) instead of a predictions file.
    #[arg(long, value_name = "NAME", conflicts_with = "predictions")]
    pub source_table: Option<String>,
    /// With --source-table: only this date.
    #[arg(long, value_name = "DATE", requires = "source_table")]
    pub as_of_date: Option<Date>,
    /// With --source-table: at most this many users (highest risk first).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub limit: i64,
    /// Decide again users decided already, replacing their decision.
    #[arg(long)]
    pub redecide: bool,
    /// Candidates per transaction [decide.batch_rows, default 10000].
    #[arg(long, value_name = "N")]
    pub batch_rows: Option<usize>,
}

/// `churn monitor ...`
#[derive(Debug, Subcommand)]
pub enum MonitorCheck {
    /// PSI of every feature of the production model, training set vs a scored day; exit 2
    /// on FAIL.
    Drift(DriftArgs),
    /// Risk distribution of a predictions file vs the model's test scores.
    Proxy {
        /// Predictions file [default: the one latest.json points at].
        #[arg(long, value_name = "FILE")]
        predictions: Option<PathBuf>,
    },
    /// Predictions of matured dates against what happened.
    Realized,
    /// Drift and realized outcomes, then the retrain decision.
    Decide(DriftArgs),
}

/// `churn monitor drift` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct DriftArgs {
    /// The scored day [default: the latest in the features].
    #[arg(long, value_name = "DATE")]
    pub as_of_date: Option<Date>,
    /// Baseline [default: data/features/training_dataset.parquet].
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Feature table [default: data/features/user_features_daily.parquet].
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// The model whose features are compared (default: registry.model_name@score.alias).
    #[arg(long, value_name = "REF")]
    pub model: Option<String>,
}

/// `churn config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration (defaults merged with the file) as TOML.
    Show,
}

/// Generator overrides.
#[derive(Debug, Args, Default, Clone)]
pub struct GenerateArgs {
    /// Number of users [config: generate.n_users, default 2000].
    #[arg(long, value_name = "N")]
    pub n_users: Option<u64>,
    /// Number of simulated days [generate.days, default 120].
    #[arg(long, value_name = "D")]
    pub days: Option<u32>,
    /// First simulated day, YYYY-MM-DD [generate.start_date, default 2025-01-01].
    #[arg(long, value_name = "DATE")]
    pub start_date: Option<Date>,
    /// Random seed [generate.seed, default 42].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Output format [generate.format, default parquet].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Shift behaviour from this date on (lower engagement, more failed payments) to
    /// demonstrate drift monitoring.
    #[arg(long, value_name = "DATE")]
    pub drift_from: Option<Date>,
    /// Engagement multiplier after --drift-from, in (0, 1] [default 0.6].
    #[arg(long, value_name = "F", requires = "drift_from")]
    pub drift_engagement: Option<f64>,
    /// Payment failure multiplier after --drift-from [default 3.0].
    #[arg(long, value_name = "F", requires = "drift_from")]
    pub drift_payment_fail: Option<f64>,
}

/// File formats of generated data.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Apache Parquet (zstd).
    Parquet,
    /// CSV with a header.
    Csv,
}

/// Raw input files.
#[derive(Debug, Args, Default, Clone)]
pub struct InputArgs {
    /// Users file (.csv or .parquet), or a folder of such files [default:
    /// data/raw/<paths.users_file>].
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Events file (.csv or .parquet), or a folder of such files (a partitioned export)
    /// [default: data/raw/<paths.events_file>].
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Where to write the JSON report [default: artifacts/metrics/validation_report.json].
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `churn prepare` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct PrepareArgs {
    /// Users file (.csv or .parquet), or a folder of such files [default:
    /// data/raw/<paths.users_file>].
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Events file (.csv or .parquet), or a folder of such files (a partitioned export)
    /// [default: data/raw/<paths.events_file>].
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Output file (.parquet or .csv) [default: data/processed/user_daily.parquet].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub partition: PartitionArg,
}

/// `--partition i/N` of the per-user stages.
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct PartitionArg {
    /// Only the users of hash partition i of N (i from 0): every table this command reads
    /// or writes is the part `<table>/part-0000i-of-0000N.<ext>`. The N parts together are
    /// the whole table, which train, score and monitor read as one once all N are there.
    /// For N copies of prepare..trainset over shared storage, e.g. a Kubernetes Indexed Job
    /// with i = $JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "i/N")]
    pub partition: Option<churn_data::partition::Partition>,
}

impl PartitionArg {
    /// The file this command reads or writes for the table at `table`: the table itself, or
    /// the partition's part of it.
    pub fn path(&self, table: PathBuf) -> PathBuf {
        match self.partition {
            Some(p) => p.part_path(&table),
            None => table,
        }
    }

    /// [`PartitionArg::path`] of the table given on the command line, or of `default`.
    pub fn given_or(&self, given: &Option<PathBuf>, default: PathBuf) -> PathBuf {
        self.path(given.clone().unwrap_or(default))
    }
}

/// A stage's input and output files.
#[derive(Debug, Args, Default, Clone)]
pub struct StageIo {
    /// Input table (.parquet or .csv) [default: the previous stage's output].
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output table (.parquet or .csv) [default: under data/features].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub partition: PartitionArg,
}

/// `churn trainset` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct TrainsetArgs {
    /// Features table [default: data/features/user_features_daily.parquet].
    #[arg(long, value_name = "FILE")]
    pub features: Option<PathBuf>,
    /// Labels table [default: data/features/labels.parquet].
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Output [default: data/features/training_dataset.parquet].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub partition: PartitionArg,
}

/// Model kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Logistic regression (L2, balanced class weights).
    Lr,
    /// Gradient boosting (forust-ml).
    Gbm,
    /// Random forest (smartcore trees).
    Rf,
    /// Every kind.
    All,
}

/// `churn train` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct TrainArgs {
    /// Models to train, repeatable or comma-separated [train.models, default lr,gbm].
    #[arg(long = "model", value_enum, value_delimiter = ',', value_name = "KIND")]
    pub models: Vec<ModelArg>,
    /// Training set [default: data/features/training_dataset.parquet].
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Keep every k-th day per user for fitting [train.train_stride_days, default 1].
    #[arg(long, value_name = "K")]
    pub stride_days: Option<u32>,
    /// Leave the last N training days before the test dates out of fitting and calibration
    /// [train.gap_days, default 0; the label window makes the test period unseen].
    #[arg(long, value_name = "N")]
    pub gap_days: Option<u32>,
}

/// `churn retrain` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct RetrainArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Fit every model even when one trained on the same data, window and parameters is
    /// registered.
    #[arg(long)]
    pub force: bool,
}

/// `churn all` arguments.
#[derive(Debug, Args, Default, Clone)]
pub struct AllArgs {
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// First stage to run; the stages before it use the outputs already in the root.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub from: Option<Stage>,
    /// Last stage to run.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub to: Option<Stage>,
    // With --partition, `all` runs prepare..trainset for one partition; --from/--to may
    // narrow that range, not widen it.
    #[command(flatten)]
    pub partition: PartitionArg,
}

/// The stages of `churn all`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Stage {
    /// Synthetic users and events.
    Generate,
    /// Checks of the raw inputs.
    Validate,
    /// The user-day table.
    Prepare,
    /// Rolling features.
    Features,
    /// Labels and eligibility.
    Labels,
    /// The training set.
    Trainset,
    /// Models, registered.
    Train,
    /// Production alias.
    Promote,
    /// Ranked predictions of the latest date.
    Score,
    /// Retention decisions (when decide.enabled).
    Decide,
    /// Drift of the scored date against the training set.
    Monitor,
}
