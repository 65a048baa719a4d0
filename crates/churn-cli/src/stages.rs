//! Wiring of each command to the library crates.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::AsArray;
use churn_data::clock::{Clock, SystemClock};
use churn_data::config::{Config, DriftConfig, FileFormat};
use churn_data::generate::Simulator;
use churn_data::prepare::prepare_files_in;
use churn_data::validate::validate_files;
use churn_models::{ModelKind, RowPlan, TrainParams, Trainer, TrainingData};
use serde::Serialize;

use crate::cli::{
    AllArgs, Cli, Command, ConfigAction, FormatArg, GenerateArgs, InputArgs, ModelArg,
    PartitionArg, PrepareArgs, PromoteArgs, ScoreArgs, Stage, StageIo, TrainArgs, TrainsetArgs,
};
use crate::deploy;
use crate::output::{Ui, outln, peak_rss_mib, table};

/// What one stage did, for the closing table of `churn all` and for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: &'static str,
    pub rows_in: u64,
    pub rows_out: u64,
    pub seconds: f64,
    pub peak_rss_mib: Option<f64>,
    pub outputs: Vec<PathBuf>,
    pub detail: serde_json::Value,
}

impl StageReport {
    pub fn new(
        stage: &'static str,
        (rows_in, rows_out): (u64, u64),
        started: Instant,
        outputs: Vec<PathBuf>,
        detail: impl Serialize,
    ) -> Result<Self> {
        Ok(Self {
            stage,
            rows_in,
            rows_out,
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
            outputs,
            detail: serde_json::to_value(detail)?,
        })
    }
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: &Cli) -> Result<u8> {
    let (mut config, _) = Config::discover(cli.global.config.as_deref())?;
    if let Some(root) = &cli.global.root {
        config.paths.root = root.clone();
    }
    let ui = Ui::new(cli.global.quiet, cli.global.json);
    match &cli.command {
        Command::Generate(args) => {
            apply_generate_args(&mut config, args)?;
            let report = generate(&config, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Validate(args) => {
            let (report, ok) = validate(&config, args, &ui)?;
            if ui.json {
                outln!("{}", serde_json::to_string_pretty(&report.detail)?);
            }
            Ok(if ok { 0 } else { 1 })
        }
        Command::Prepare(args) => {
            let report = prepare(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Features(args) => {
            let report = features(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Labels(args) => {
            let report = labels(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Trainset(args) => {
            let report = trainset(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Train(args) => {
            let report = train(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Registry { action } => deploy::registry_command(&config, action, &ui),
        Command::Promote(args) => {
            let report = deploy::promote(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Rollback(args) => deploy::rollback(&config, args, &ui),
        Command::Score(args) => match &args.plan {
            Some(plan) => deploy::score_plan(&config, args, plan, &ui),
            None => {
                let report = deploy::score(&config, args, &ui)?;
                finish(&ui, &[report]);
                Ok(0)
            }
        },
        Command::Explain(args) => deploy::explain(&config, args, &ui),
        Command::Monitor { check } => crate::monitor::monitor(&config, check, &ui),
        Command::Decide(args) => {
            let report = crate::decide::decide(&config, args, &ui)?;
            finish(&ui, &[report]);
            Ok(0)
        }
        Command::Retrain(args) => {
            let mut reports = vec![
                labels(&config, &StageIo::default(), &ui)?,
                trainset(&config, &TrainsetArgs::default(), &ui)?,
            ];
            let (report, fitted) = train_models(&config, &args.train, &ui, !args.force)?;
            reports.push(report);
            if fitted > 0 {
                reports.push(deploy::promote(
                    &config,
                    &PromoteArgs {
                        alias: "production".into(),
                        ..PromoteArgs::default()
                    },
                    &ui,
                )?);
            } else {
                ui.say(
                    "retrain: nothing new to learn (every model is registered from this \
                     training data, window and parameters); promotion skipped (--force fits \
                     again)",
                );
            }
            finish(&ui, &reports);
            Ok(0)
        }
        Command::All(args) => all(&mut config, args, &ui),
        Command::Config {
            action: ConfigAction::Show,
        } => {
            print!("{}", config.to_toml_string());
            Ok(0)
        }
    }
}

fn finish(ui: &Ui, reports: &[StageReport]) {
    if ui.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(reports).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.stage.to_string(),
                r.rows_in.to_string(),
                r.rows_out.to_string(),
                format!("{:.2}", r.seconds),
                r.peak_rss_mib
                    .map(|m| format!("{m:.0}"))
                    .unwrap_or_else(|| "-".into()),
                r.outputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    ui.say(table(
        &[
            "stage", "rows in", "rows out", "seconds", "peak MiB", "outputs",
        ],
        &rows,
    ));
}

fn apply_generate_args(config: &mut Config, a: &GenerateArgs) -> Result<()> {
    let g = &mut config.generate;
    if let Some(n) = a.n_users {
        g.n_users = n;
    }
    if let Some(d) = a.days {
        g.days = d;
    }
    if let Some(d) = a.start_date {
        g.start_date = d;
    }
    if let Some(s) = a.seed {
        g.seed = s;
    }
    if let Some(f) = a.format {
        g.format = match f {
            FormatArg::Parquet => FileFormat::Parquet,
            FormatArg::Csv => FileFormat::Csv,
        };
    }
    if let Some(from) = a.drift_from {
        let mut drift = g.drift.clone().unwrap_or(DriftConfig {
            from_date: from,
            engagement_factor: 0.6,
            payment_fail_factor: 3.0,
        });
        drift.from_date = from;
        if let Some(e) = a.drift_engagement {
            drift.engagement_factor = e;
        }
        if let Some(p) = a.drift_payment_fail {
            drift.payment_fail_factor = p;
        }
        g.drift = Some(drift);
    }
    let ext = g.format.extension();
    config.paths.users_file = format!("users.{ext}");
    config.paths.events_file = format!("events.{ext}");
    config.check("command line")?;
    Ok(())
}

/// A configured raw input, or its sibling with the other extension when only that exists.
fn resolve_input(configured: PathBuf) -> PathBuf {
    if configured.exists() {
        return configured;
    }
    for ext in ["parquet", "csv"] {
        let alt = configured.with_extension(ext);
        if alt.exists() {
            tracing::info!(
                "{} not found; using {}",
                configured.display(),
                alt.display()
            );
            return alt;
        }
    }
    configured
}

fn inputs(
    config: &Config,
    users: &Option<PathBuf>,
    events: &Option<PathBuf>,
) -> (PathBuf, PathBuf) {
    (
        users
            .clone()
            .unwrap_or_else(|| resolve_input(config.paths.users_path())),
        events
            .clone()
            .unwrap_or_else(|| resolve_input(config.paths.events_path())),
    )
}

fn generate(config: &Config, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    // validate rejects events after tomorrow; a simulated period reaching past today would
    // be written only to fail there, with thousands of rows.
    let g = &config.generate;
    let today = SystemClock.now().date_naive();
    let span = chrono::Duration::days(i64::from(g.days) - 1);
    let last = g.start_date.checked_add_signed(span);
    if last.is_none_or(|last| last > today) {
        let fix = match today.checked_sub_signed(span) {
            Some(d) => format!("start on or before {d} (--start-date) or simulate fewer days"),
            None => "simulate fewer days".to_string(),
        };
        anyhow::bail!(
            "generate: {} days from generate.start_date {} end on {}, after today ({today}): \
             validate rejects events in the future; {fix} (--days)",
            g.days,
            g.start_date,
            last.map_or_else(|| "a date past the calendar".to_string(), |d| d.to_string()),
        );
    }
    let sim = Simulator::new(&config.generate)?;
    let (users, events) = (config.paths.users_path(), config.paths.events_path());
    let bar = ui.bar(config.generate.n_users, "generate");
    let summary = sim
        .write(&users, &events, &|done| bar.set_position(done))
        .context("generate failed; previous outputs were left untouched")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    ui.say(format!(
        "generated {} users and {} events in {seconds:.2}s ({:.1}M events/s)",
        summary.users,
        summary.events,
        summary.events as f64 / seconds.max(1e-9) / 1e6
    ));
    StageReport::new(
        "generate",
        (0, summary.users + summary.events),
        started,
        vec![users, events],
        summary,
    )
}

fn validate(config: &Config, args: &InputArgs, ui: &Ui) -> Result<(StageReport, bool)> {
    let started = Instant::now();
    let (users, events) = inputs(config, &args.users, &args.events);
    let spinner = ui.spinner("validate");
    let report = validate_files(&users, &events, &config.validate, &SystemClock)?;
    spinner.finish_and_clear();
    let path = args
        .report
        .clone()
        .unwrap_or_else(|| config.paths.metrics_dir().join("validation_report.json"));
    churn_data::io::write_json(&path, &report)?;
    if !ui.json {
        if report.ok {
            ui.say(report.render_text());
        } else {
            // A failed validation is shown even with --quiet: it is the reason for exit 1.
            eprint!("{}", report.render_text());
        }
        ui.say(format!("report written to {}", path.display()));
    }
    let ok = report.ok;
    let rows = (
        report.users.rows + report.events.rows,
        report.violations.len() as u64,
    );
    Ok((
        StageReport::new("validate", rows, started, vec![path], &report)?,
        ok,
    ))
}

fn prepare(config: &Config, args: &PrepareArgs, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let (users, events) = inputs(config, &args.users, &args.events);
    let out = args
        .partition
        .given_or(&args.out, config.paths.user_daily_path());
    let spinner = ui.spinner("prepare");
    let summary = prepare_files_in(
        &users,
        &events,
        &out,
        &config.validate,
        &config.prepare,
        args.partition.partition,
    )
    .with_context(|| format!("prepare failed; {} was left untouched", display(&out)))?;
    spinner.finish_and_clear();
    if let Some(p) = args.partition.partition {
        ui.say(format!(
            "partition {p}: skipped {} users and {} events of the other partitions",
            summary.users_other_partition, summary.events_other_partition
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    ui.say(format!(
        "prepared {} user-days from {} events of {} users in {seconds:.2}s ({:.1}M events/s); dropped: {} missing identity, {} duplicate, {} unknown user, {} unknown type",
        summary.user_days,
        summary.events_kept,
        summary.users_kept,
        summary.events_in as f64 / seconds.max(1e-9) / 1e6,
        summary.events_dropped_missing_identity,
        summary.events_dropped_duplicate,
        summary.events_dropped_unknown_user,
        summary.events_dropped_unknown_type,
    ));
    StageReport::new(
        "prepare",
        (summary.users_in + summary.events_in, summary.user_days),
        started,
        vec![out],
        &summary,
    )
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn all(config: &mut Config, args: &AllArgs, ui: &Ui) -> Result<u8> {
    let partition = args.partition;
    let (first, last) = match partition.partition {
        Some(_) => (Stage::Prepare, Stage::Trainset),
        None => (Stage::Generate, Stage::Monitor),
    };
    let from = args.from.unwrap_or(first);
    let to = args.to.unwrap_or(last);
    anyhow::ensure!(
        from <= to,
        "--from {} comes after --to {}: nothing to run",
        stage_name(from),
        stage_name(to)
    );
    if let Some(p) = partition.partition {
        anyhow::ensure!(
            first <= from && to <= last,
            "--partition {p} runs the per-user stages prepare..trainset only; --from {} --to {} \
             reaches beyond them (generate and validate read every user; train, score and \
             monitor read every part, so run them without --partition once all parts exist)",
            stage_name(from),
            stage_name(to)
        );
    }
    let g = &args.generate;
    let generate_flags = g.n_users.is_some()
        || g.days.is_some()
        || g.start_date.is_some()
        || g.seed.is_some()
        || g.format.is_some()
        || g.drift_from.is_some();
    anyhow::ensure!(
        from == Stage::Generate || !generate_flags,
        "--n-users, --days, --start-date, --seed, --format and --drift-from set the generate stage, which --from {} skips",
        stage_name(from)
    );
    apply_generate_args(config, g)?;
    let runs = |stage: Stage| {
        let run = from <= stage && stage <= to;
        if run {
            // Each stage's table row shows its own peak memory.
            crate::output::reset_peak_rss();
        }
        run
    };
    let mut reports = Vec::new();
    if runs(Stage::Generate) {
        reports.push(generate(config, ui)?);
    }
    if runs(Stage::Validate) {
        let (report, ok) = validate(config, &InputArgs::default(), ui)?;
        reports.push(report);
        if !ok {
            finish(ui, &reports);
            eprintln!("stopping: validation failed (see the report above)");
            return Ok(1);
        }
    }
    if runs(Stage::Prepare) {
        reports.push(prepare(
            config,
            &PrepareArgs {
                partition,
                ..PrepareArgs::default()
            },
            ui,
        )?);
    }
    if from <= Stage::Features && Stage::Trainset <= to {
        // All three: one pass over the user-day table.
        runs(Stage::Features);
        reports.push(data_pass(config, partition, ui)?);
    } else {
        let io = StageIo {
            partition,
            ..StageIo::default()
        };
        if runs(Stage::Features) {
            reports.push(features(config, &io, ui)?);
        }
        if runs(Stage::Labels) {
            reports.push(labels(config, &io, ui)?);
        }
        if runs(Stage::Trainset) {
            reports.push(trainset(
                config,
                &TrainsetArgs {
                    partition,
                    ..TrainsetArgs::default()
                },
                ui,
            )?);
        }
    }
    if runs(Stage::Train) {
        reports.push(train(config, &TrainArgs::default(), ui)?);
    }
    if runs(Stage::Promote) {
        reports.push(deploy::promote(
            config,
            &PromoteArgs {
                alias: "production".into(),
                ..PromoteArgs::default()
            },
            ui,
        )?);
    }
    if runs(Stage::Score) {
        reports.push(deploy::score(config, &ScoreArgs::default(), ui)?);
    }
    if runs(Stage::Decide) && config.decide.enabled {
        reports.push(crate::decide::decide(
            config,
            &crate::cli::DecideArgs::default(),
            ui,
        )?);
    }
    if runs(Stage::Monitor) {
        reports.push(crate::monitor::drift_stage(config, ui)?);
    }
    finish(ui, &reports);
    headline(config, &reports, ui);
    Ok(0)
}

fn stage_name(stage: Stage) -> String {
    use clap::ValueEnum as _;
    stage
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The results a person wants after `churn all`: each model's PR-AUC, the production
/// version, the five users most at risk with their reasons, the drift status.
fn headline(config: &Config, reports: &[StageReport], ui: &Ui) {
    if ui.json || ui.quiet {
        return;
    }
    let detail = |stage: &str| reports.iter().find(|r| r.stage == stage).map(|r| &r.detail);
    let mut lines = vec![String::new(), "results".to_string()];
    let header = lines.len();
    if let Some(models) = detail("train").and_then(|d| d.as_array()) {
        let m: Vec<String> = models
            .iter()
            .map(|r| {
                format!(
                    "{} PR-AUC {}",
                    r["kind"].as_str().unwrap_or("?"),
                    opt(r["test"]["pr_auc"].as_f64())
                )
            })
            .collect();
        lines.push(format!("  models:     {}", m.join(", ")));
    }
    if let Some(p) = detail("promote") {
        lines.push(format!(
            "  production: {}/{} ({})",
            config.registry.model_name,
            p["alias_version"],
            p["event"]["reason"].as_str().unwrap_or_default()
        ));
    }
    if let Some(top) = reports
        .iter()
        .find(|r| r.stage == "score")
        .and_then(|r| {
            r.outputs.iter().find(|o| {
                o.to_string_lossy().contains("churn_top_")
                    && o.extension().is_some_and(|e| e == "parquet")
            })
        })
        .and_then(|p| churn_data::io::read_all(p, None).ok())
    {
        lines.push("  most at risk:".to_string());
        for b in &top.1 {
            for i in 0..b.num_rows().min(5) {
                let cell = |name: &str| {
                    b.column_by_name(name)
                        .and_then(|c| arrow::util::display::array_value_to_string(c, i).ok())
                        .unwrap_or_default()
                };
                lines.push(format!(
                    "    {:<12} risk {:.3}  {}; {}",
                    cell("user_id"),
                    cell("churn_risk").parse::<f64>().unwrap_or(f64::NAN),
                    cell("reason_1"),
                    cell("reason_2")
                ));
            }
        }
    }
    if let Some(d) = detail("decide") {
        let actions: Vec<String> = d["by_action"]
            .as_object()
            .map(|m| m.iter().map(|(a, n)| format!("{a} {n}")).collect())
            .unwrap_or_default();
        lines.push(format!(
            "  decisions:  {} new ({}), {} decided already",
            d["written"],
            if actions.is_empty() {
                "-".to_string()
            } else {
                actions.join(", ")
            },
            d["already_decided"]
        ));
    }
    if let Some(d) = detail("monitor") {
        let drifted: Vec<&str> = d["drifted"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).take(5).collect())
            .unwrap_or_default();
        lines.push(format!(
            "  drift:      {} ({} features at WARN or FAIL{}{}) — see docs/monitor.md",
            d["status"].as_str().unwrap_or("?"),
            d["drifted"].as_array().map_or(0, Vec::len),
            if drifted.is_empty() { "" } else { ": " },
            drifted.join(", ")
        ));
    }
    if lines.len() > header {
        ui.say(lines.join("\n"));
    }
}

fn features(config: &Config, args: &StageIo, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let input = args
        .partition
        .given_or(&args.input, config.paths.user_daily_path());
    let out = args
        .partition
        .given_or(&args.out, config.paths.features_path());
    let set = churn_features::FeatureParams {
        windows: config.features.windows.clone(),
    }
    .check()?;
    let spinner = ui.spinner("features");
    let summary = churn_features::compute_file(&set, &input, &out)
        .with_context(|| format!("features failed; {} was left untouched", display(&out)))?;
    spinner.finish_and_clear();
    ui.say(features_line(&summary, started.elapsed().as_secs_f64()));
    StageReport::new(
        "features",
        (summary.rows, summary.rows),
        started,
        vec![out],
        &summary,
    )
}

fn label_params(config: &Config) -> churn_labels::LabelParams {
    churn_labels::LabelParams {
        window: config.labels.window,
        active_within_days: config.labels.active_within_days,
    }
}

fn labels(config: &Config, args: &StageIo, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let input = args
        .partition
        .given_or(&args.input, config.paths.user_daily_path());
    let out = args
        .partition
        .given_or(&args.out, config.paths.labels_path());
    let labeler = label_params(config).check()?;
    let spinner = ui.spinner("labels");
    let summary = labeler
        .label_file(&input, &out)
        .with_context(|| format!("labels failed; {} was left untouched", display(&out)))?;
    spinner.finish_and_clear();
    ui.say(labels_line(
        &summary,
        config.labels.window,
        started.elapsed().as_secs_f64(),
    ));
    StageReport::new(
        "labels",
        (summary.rows_in, summary.rows_labelled),
        started,
        vec![out],
        &summary,
    )
}

fn trainset(config: &Config, args: &TrainsetArgs, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let features = args
        .partition
        .given_or(&args.features, config.paths.features_path());
    let labels = args
        .partition
        .given_or(&args.labels, config.paths.labels_path());
    let table = args.out.clone().unwrap_or(config.paths.trainset_path());
    let out = args.partition.path(table.clone());
    let json = args.partition.path(table.with_extension("json"));
    let spinner = ui.spinner("trainset");
    let params = trainset_params(config);
    let summary = churn_labels::build_trainset(&features, &labels, &out, &params)
        .with_context(|| format!("trainset failed; {} was left untouched", display(&out)))?;
    spinner.finish_and_clear();
    churn_data::io::write_json(&json, &summary)?;
    ui.say(trainset_line(&summary, started.elapsed().as_secs_f64()));
    StageReport::new(
        "trainset",
        (
            summary.labelled_rows + summary.unlabelled_rows,
            summary.rows,
        ),
        started,
        vec![out, json],
        &summary,
    )
}

/// Features, labels and the training set in one pass over the user-day table (what `churn
/// all` runs when it runs all three): the same tables as the three stages, without reading
/// the user-day table twice or the features table back.
fn data_pass(config: &Config, partition: PartitionArg, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let input = partition.path(config.paths.user_daily_path());
    let outputs = [
        config.paths.features_path(),
        config.paths.labels_path(),
        config.paths.trainset_path(),
    ]
    .map(|p| partition.path(p));
    // A partition's summary is its part of a folder of summaries, never inside the
    // training set's folder, which Parquet readers take as all data.
    let json = partition.path(config.paths.trainset_path().with_extension("json"));
    let features = churn_features::FeatureParams {
        windows: config.features.windows.clone(),
    }
    .check()?;
    let labeler = label_params(config).check()?;
    let spinner = ui.spinner("features+labels+trainset");
    let summary = churn_labels::features_labels_trainset(
        &features,
        &labeler,
        &trainset_params(config),
        &input,
        &outputs[0],
        &outputs[1],
        &outputs[2],
    )
    .with_context(|| {
        format!(
            "features, labels and trainset failed; {}, {} and {} were left untouched",
            display(&outputs[0]),
            display(&outputs[1]),
            display(&outputs[2])
        )
    })?;
    spinner.finish_and_clear();
    churn_data::io::write_json(&json, &summary.trainset)?;
    let seconds = started.elapsed().as_secs_f64();
    ui.say(features_line(&summary.features, seconds));
    ui.say(labels_line(&summary.labels, config.labels.window, seconds));
    ui.say(trainset_line(&summary.trainset, seconds));
    let mut files = outputs.to_vec();
    files.push(json);
    StageReport::new(
        "features+labels+trainset",
        (summary.features.rows, summary.trainset.rows),
        started,
        files,
        &summary,
    )
}

fn features_line(summary: &churn_features::FeatureSummary, seconds: f64) -> String {
    format!(
        "features: {} user-days of {} users, windows {:?}, in {seconds:.2}s ({:.1}M user-days/s)",
        summary.rows,
        summary.users,
        summary.windows,
        summary.rows as f64 / seconds.max(1e-9) / 1e6
    )
}

fn labels_line(summary: &churn_labels::LabelSummary, window: u32, seconds: f64) -> String {
    format!(
        "labels: {} of {} user-days labelled (window {window} days, data ends {}), {} eligible, churn rate among eligible {:.3}, in {seconds:.2}s",
        summary.rows_labelled,
        summary.rows_in,
        summary.last_date.map(|d| d.to_string()).unwrap_or_default(),
        summary.rows_eligible,
        summary.churned_eligible as f64 / summary.rows_eligible.max(1) as f64,
    )
}

fn trainset_line(summary: &churn_labels::TrainsetSummary, seconds: f64) -> String {
    format!(
        "trainset: {} rows of {} users ({} .. {}), churn rate {:.3}, eligible share {:.3}, {}, in {seconds:.2}s",
        summary.rows,
        summary.users,
        summary
            .first_date
            .map(|d| d.to_string())
            .unwrap_or_default(),
        summary.last_date.map(|d| d.to_string()).unwrap_or_default(),
        summary.churn_rate,
        summary.eligible_share,
        match summary.min_history_days {
            0 => "no history rule".to_string(),
            days => format!(
                "{} eligible rows with less than {days} days of history left out",
                summary.partial_history_rows
            ),
        },
    )
}

/// The history a training row needs (and a scored row is checked for): the longest
/// look-back of its features and of the eligibility rule, unless
/// `labels.require_full_history` is off.
pub(crate) fn min_history_days(config: &Config) -> u32 {
    let longest_window = config.features.windows.iter().copied().max().unwrap_or(0);
    if config.labels.require_full_history {
        longest_window.max(config.labels.active_within_days)
    } else {
        0
    }
}

fn trainset_params(config: &Config) -> churn_labels::TrainsetParams {
    churn_labels::TrainsetParams {
        min_history_days: min_history_days(config),
    }
}

fn model_kinds(args: &[ModelArg], configured: &[String]) -> Result<Vec<ModelKind>> {
    let mut kinds: Vec<ModelKind> = if args.is_empty() {
        configured
            .iter()
            .map(|m| m.parse::<ModelKind>())
            .collect::<std::result::Result<_, _>>()
            .context("config train.models")?
    } else {
        args.iter()
            .flat_map(|m| match m {
                ModelArg::Lr => vec![ModelKind::Logistic],
                ModelArg::Gbm => vec![ModelKind::Gbm],
                ModelArg::Rf => vec![ModelKind::Forest],
                ModelArg::All => ModelKind::ALL.to_vec(),
            })
            .collect()
    };
    kinds.sort();
    kinds.dedup();
    anyhow::ensure!(
        !kinds.is_empty(),
        "no model to train: set --model or train.models"
    );
    Ok(kinds)
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

/// Reads the rows training keeps: a first pass counts rows per date (one column), the
/// [`RowPlan`] picks the split, stride and evaluation sample, and the second pass keeps only
/// those rows, so memory follows the plan's caps rather than the table's size. Training
/// then follows the same plan ([`Trainer::with_plan`]).
fn read_training_rows(
    input: &Path,
    params: TrainParams,
) -> Result<(
    Vec<arrow::record_batch::RecordBatch>,
    TrainParams,
    Option<RowPlan>,
)> {
    use churn_data::schema::user_daily as ud;
    let batch_rows = 1 << 16;
    let mut counts = std::collections::BTreeMap::new();
    for b in churn_data::io::TableReader::open(input, Some(&[ud::AS_OF_DATE]), batch_rows)? {
        let b = b?;
        let Some(col) = b.column_by_name(ud::AS_OF_DATE) else {
            break;
        };
        let dates = arrow::compute::cast(col, &arrow::datatypes::DataType::Date32)
            .with_context(|| format!("{}: column `{}`", input.display(), ud::AS_OF_DATE))?;
        let dates = dates.as_primitive::<arrow::datatypes::Date32Type>();
        for d in dates.iter().flatten() {
            *counts.entry(d).or_insert(0u64) += 1;
        }
    }
    let plan = RowPlan::from_date_counts(&counts, &params);
    // A CSV training set is text; give its columns their types (numbers stay numbers).
    let csv = churn_data::io::Format::from_path(input)? == churn_data::io::Format::Csv;
    let source = input.display().to_string();
    let mut batches = Vec::new();
    for b in churn_data::io::TableReader::open(input, None, batch_rows)? {
        let b = b?;
        let b = if csv {
            churn_labels::conform_table(&b, true, &source)?
        } else {
            b
        };
        batches.push(match &plan {
            Some(p) => p.filter(&b)?,
            None => b,
        });
    }
    if let Some(p) = &plan {
        tracing::info!(
            stride = p.stride,
            eval_share = p.eval_share,
            fit_rows = p.fit_rows,
            eval_rows = p.eval_rows,
            "training rows planned"
        );
    }
    let params = plan
        .as_ref()
        .map_or(params.clone(), |p| p.params_after(&params));
    Ok((batches, params, plan))
}

fn train(config: &Config, args: &TrainArgs, ui: &Ui) -> Result<StageReport> {
    train_models(config, args, ui, false).map(|(report, _)| report)
}

/// Trains the models of `args`, and the number fitted. With `skip_known` (retraining), a
/// kind whose fit would repeat a registered version (same data, window and parameters) is
/// not fitted again.
fn train_models(
    config: &Config,
    args: &TrainArgs,
    ui: &Ui,
    skip_known: bool,
) -> Result<(StageReport, usize)> {
    let started = Instant::now();
    let input = args
        .input
        .clone()
        .unwrap_or_else(|| config.paths.trainset_path());
    let mut train_config = config.train.clone();
    if let Some(k) = args.stride_days {
        train_config.train_stride_days = k;
    }
    if let Some(n) = args.gap_days {
        train_config.gap_days = n;
    }
    let params = TrainParams::from_config(&train_config)?;
    let kinds = model_kinds(&args.models, &train_config.models)?;
    let spinner = ui.spinner("train: reading the training set");
    let (batches, params, plan) =
        read_training_rows(&input, params).context("train: cannot read the training set")?;
    let data = TrainingData::from_batches(batches)
        .with_context(|| format!("train: the training set {}", display(&input)))?;
    let rows_read = data.rows();
    // The trainer consumes the table, batch by batch, into its design matrices.
    let trainer = Trainer::with_plan(data, params, plan.as_ref())
        .with_context(|| format!("train: {}", display(&input)))?;
    let clock = SystemClock;
    let stamp = clock.now().format("%Y%m%dT%H%M%SZ").to_string();
    let (models_dir, metrics_dir) = (config.paths.models_dir(), config.paths.metrics_dir());
    let mut outputs = Vec::new();
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let registry = deploy::registry(config);
    let name = &config.registry.model_name;
    for kind in kinds {
        if skip_known
            && config.registry.register_on_train
            && let Some(v) = registry.trained_alike(
                name,
                kind,
                trainer.data_fingerprint(),
                trainer.window(),
                &trainer.model_params(kind),
            )?
        {
            ui.say(format!(
                "train: {kind} not fitted again: {name}/{v} was trained on the same data, \
                 window and parameters"
            ));
            continue;
        }
        spinner.set_message(format!("train: fitting {kind}"));
        let artifact = trainer.fit(kind, &clock).with_context(|| {
            format!(
                "train: {kind} on {} failed; existing artifacts were left untouched",
                display(&input)
            )
        })?;
        let model_path = models_dir.join(format!("{}_{stamp}.json", artifact.name));
        artifact.save(&model_path)?;
        let metrics_path = metrics_dir.join(format!("train_{kind}_{stamp}.json"));
        churn_data::io::write_json(&metrics_path, &artifact.report)?;
        let version = if config.registry.register_on_train {
            let r = registry
                .register(name, &model_path, &clock)
                .with_context(|| format!("train: cannot register {}", display(&model_path)))?;
            format!("{}/{}", r.info.name, r.info.version)
        } else {
            "-".into()
        };
        let r = &artifact.report;
        let top = |label: &str| r.test.top_k.iter().find(|t| t.label == label);
        rows.push(vec![
            kind.to_string(),
            opt(r.test.pr_auc),
            opt(r.test.roc_auc),
            format!("{:.4}", r.test.log_loss),
            format!(
                "{:.4} -> {:.4}",
                r.calibration.brier_before, r.calibration.brier_after
            ),
            format!(
                "{:.4} -> {:.4}",
                r.calibration.ece_before, r.calibration.ece_after
            ),
            top(&config.train.top_k.to_string())
                .map(|t| format!("{:.3}", t.precision))
                .unwrap_or_default(),
            top("5%")
                .map(|t| format!("{:.2}", t.lift))
                .unwrap_or_default(),
            format!("{:.2}", r.fit_seconds),
            version,
        ]);
        outputs.push(model_path);
        outputs.push(metrics_path);
        reports.push(artifact.report);
    }
    spinner.finish_and_clear();
    let w = trainer.window();
    // Fitting ends at the calibration period, else at the gap before the cutoff.
    let train_last = w.train_last_date();
    let gap = match (w.gap_days, train_last) {
        (0, _) | (_, None) => String::new(),
        (n, Some(d)) => format!(" (dates after {d} left out: gap of {n} days)"),
    };
    ui.say(format!(
        "train: {} rows ({} .. {}), fitted on {} rows up to {}, calibrated on {}, tested on {} after {}{gap}, {} design columns",
        rows_read,
        w.first_date,
        w.last_date,
        w.rows.fit,
        w.fit_last_date.or(train_last).map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        w.rows.calibration,
        w.rows.test,
        w.cutoff.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        trainer.preprocessor().columns.len(),
    ));
    let fitted = rows.len();
    if fitted > 0 {
        ui.say(table(
            &[
                "model",
                "PR-AUC",
                "ROC-AUC",
                "log loss",
                "Brier raw -> cal",
                "ECE raw -> cal",
                &format!("P@{}", config.train.top_k),
                "lift@5%",
                "fit s",
                "registered",
            ],
            &rows,
        ));
    }
    for r in reports.iter().filter(|r| !r.importance.is_empty()) {
        let top: Vec<String> = r
            .importance
            .iter()
            .take(5)
            .map(|i| format!("{} {:.3}", i.feature, i.mean_abs_contribution))
            .collect();
        ui.say(format!(
            "{} top features (mean |contribution| to the log-odds on {} test rows): {}",
            r.kind,
            r.importance_rows,
            top.join(", ")
        ));
    }
    let report = StageReport::new(
        "train",
        (rows_read as u64, w.rows.fit as u64),
        started,
        outputs,
        &reports,
    )?;
    Ok((report, fitted))
}
