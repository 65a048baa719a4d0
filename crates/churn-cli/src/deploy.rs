//! Wiring of the registry and scoring commands: registry, promote, rollback, score.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use churn_data::clock::{Clock, SystemClock};
use churn_data::config::Config;
use churn_registry::{Metric, ModelRef, PromotePolicy, Registry};
use churn_scoring::{
    DayStatus, FeatureTable, IdColumns, JobOutcome, ModelIdentity, Plan, PlanDefaults, RunManifest,
    ScoreJob, ScoreParams, Scorer, run_job, run_plan,
};

use crate::cli::{ExplainArgs, PromoteArgs, RegistryAction, RollbackArgs, ScoreArgs};
use crate::output::{Ui, outln, table};
use crate::stages::StageReport;

/// The configured registry.
pub fn registry(config: &Config) -> Registry {
    Registry::open(&config.paths.resolve(&config.paths.registry)).with_lock_timeout(
        std::time::Duration::from_secs(config.registry.lock_timeout_secs),
    )
}

/// `--model REF` (NAME, NAME@ALIAS or NAME/VERSION; a bare name takes `score.alias`), or
/// `registry.model_name@score.alias`.
pub fn model_ref(config: &Config, given: Option<&str>) -> Result<ModelRef> {
    Ok(match given {
        Some(text) => ModelRef::parse(text, &config.score.alias)?,
        None => ModelRef::alias(&config.registry.model_name, &config.score.alias)?,
    })
}

fn model_name(config: &Config, given: &Option<String>) -> String {
    given
        .clone()
        .unwrap_or_else(|| config.registry.model_name.clone())
}

fn fmt_metric(m: Option<&f64>) -> String {
    m.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// `churn registry ...`
pub fn registry_command(config: &Config, action: &RegistryAction, ui: &Ui) -> Result<u8> {
    let reg = registry(config);
    match action {
        RegistryAction::List => {
            let mut rows = Vec::new();
            for name in reg.models()? {
                let versions = reg.versions(&name)?;
                let aliases = reg.aliases(&name)?;
                rows.push(vec![
                    name.clone(),
                    versions.len().to_string(),
                    versions
                        .last()
                        .map_or("-".into(), |v| v.version.to_string()),
                    aliases
                        .iter()
                        .map(|(a, v)| format!("{a}={v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            if ui.json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                outln!("no models in {}", reg.root().display());
            } else {
                outln!(
                    "{}",
                    table(&["model", "versions", "latest", "aliases"], &rows)
                );
            }
        }
        RegistryAction::Show {
            model,
            model_version,
        } => {
            let text = model_name(config, model);
            // `churn@production` or `churn/2` shows that one version.
            let (name, versions) = if text.contains(['@', '/']) {
                if model_version.is_some() {
                    anyhow::bail!(
                        "--model {text} already names one version; leave out --model-version"
                    );
                }
                let info = reg.resolve(&ModelRef::parse(&text, "production")?)?;
                (info.name.clone(), vec![info])
            } else {
                let versions = match model_version {
                    Some(v) => vec![reg.version(&text, *v)?],
                    None => reg.versions(&text)?,
                };
                (text, versions)
            };
            let aliases = reg.aliases(&name)?;
            if ui.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "model": name, "aliases": aliases, "versions": versions
                    }))?
                );
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    let w = &v.lineage.training;
                    vec![
                        v.version.to_string(),
                        v.kind.to_string(),
                        fmt_metric(v.metrics.get("pr_auc")),
                        fmt_metric(v.metrics.get("roc_auc")),
                        fmt_metric(v.metrics.get("brier")),
                        format!("{} .. {}", w.first_date, w.last_date),
                        v.lineage
                            .parent_version
                            .map_or("-".into(), |p| p.to_string()),
                        v.registered_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        aliases
                            .iter()
                            .filter(|(_, t)| **t == v.version)
                            .map(|(a, _)| a.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table(
                    &[
                        "version",
                        "kind",
                        "PR-AUC",
                        "ROC-AUC",
                        "Brier",
                        "trained on",
                        "parent",
                        "registered",
                        "aliases"
                    ],
                    &rows
                )
            );
        }
        RegistryAction::History { model } => {
            let text = model_name(config, model);
            // `churn@production`: that alias's events; `churn/2`: that version's.
            let (name, only) = if text.contains(['@', '/']) {
                let r = ModelRef::parse(&text, "production")?;
                reg.resolve(&r)?;
                (r.name, Some(r.selector))
            } else {
                (text, None)
            };
            let mut history = reg.history(&name)?;
            if history.is_empty() {
                // A model with no history is not registered: the same error as `show`.
                reg.versions(&name)?;
            }
            if let Some(selector) = &only {
                history.retain(|e| e.concerns(selector));
            }
            if ui.json {
                outln!("{}", serde_json::to_string_pretty(&history)?);
                return Ok(0);
            }
            for e in history {
                let version = |v: Option<u32>| v.map_or("-".into(), |v| v.to_string());
                // A kept alias did not move: the candidate stayed out.
                let change = match e.action {
                    churn_registry::Action::Keep => {
                        format!("{} (not {})", version(e.from), version(e.to))
                    }
                    _ => format!("{} -> {}", version(e.from), version(e.to)),
                };
                outln!(
                    "{}  {:<9} {:<11} {change}  {}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    format!("{:?}", e.action).to_lowercase(),
                    e.alias.as_deref().unwrap_or("-"),
                    e.reason
                );
            }
        }
        RegistryAction::Register { artifact, model } => {
            let name = model_name(config, model);
            let r = reg
                .register(&name, artifact, &SystemClock)
                .with_context(|| format!("cannot register {}", artifact.display()))?;
            if ui.json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else if r.created {
                ui.say(format!(
                    "registered {} as {name}/{}",
                    artifact.display(),
                    r.info.version
                ));
            } else {
                ui.say(format!(
                    "{} is already registered as {name}/{}",
                    artifact.display(),
                    r.info.version
                ));
            }
        }
        RegistryAction::SetAlias {
            alias,
            target: version,
            model,
        } => {
            let name = model_name(config, model);
            let e = reg.set_alias(&name, alias, *version, "set by hand", &SystemClock)?;
            if ui.json {
                outln!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                ui.say(format!(
                    "{name}@{alias}: {} -> {version}",
                    e.from.map_or("-".into(), |v| v.to_string())
                ));
            }
        }
    }
    Ok(0)
}

/// `churn promote`
pub fn promote(config: &Config, args: &PromoteArgs, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let reg = registry(config);
    let name = model_name(config, &args.model);
    let metric: Metric = args
        .metric
        .as_deref()
        .unwrap_or(&config.registry.primary_metric)
        .parse()
        .context("promote: --metric or registry.primary_metric")?;
    let policy = PromotePolicy {
        alias: args.alias.clone(),
        metric,
        min_improvement: args
            .min_improvement
            .unwrap_or(config.registry.min_improvement),
    };
    anyhow::ensure!(
        policy.min_improvement >= 0.0 && policy.min_improvement.is_finite(),
        "--min-improvement must be a finite number >= 0 (got {})",
        policy.min_improvement
    );
    let out = reg.promote(&name, &policy, args.candidate, &SystemClock)?;
    ui.say(format!(
        "promote: {} ({name}@{} is version {})",
        out.event.reason, policy.alias, out.alias_version
    ));
    StageReport::new(
        "promote",
        (1, u64::from(out.promoted)),
        started,
        vec![reg.root().join(&name).join("history.jsonl")],
        &out,
    )
}

/// `churn rollback`
pub fn rollback(config: &Config, args: &RollbackArgs, ui: &Ui) -> Result<u8> {
    let reg = registry(config);
    let name = model_name(config, &args.model);
    let e = reg.rollback(&name, &args.alias, args.to, &SystemClock)?;
    if ui.json {
        outln!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        ui.say(format!("{name}@{}: {}", args.alias, e.reason));
    }
    Ok(0)
}

fn score_params(config: &Config, args: &ScoreArgs) -> ScoreParams {
    ScoreParams {
        active_within_days: config.labels.active_within_days,
        reasons: config.score.reasons && !args.no_reasons,
        batch_rows: config.score.batch_rows,
        min_history_days: crate::stages::min_history_days(config),
        max_rows_per_read: config.score.max_rows_per_read,
        ..ScoreParams::default()
    }
}

/// `churn score` (one model); a plan goes through [`score_plan`].
pub fn score(config: &Config, args: &ScoreArgs, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let reg = registry(config);
    let job = ScoreJob {
        model: model_ref(config, args.model.as_deref())?,
        features: args
            .features
            .clone()
            .unwrap_or_else(|| config.paths.features_path()),
        keys: args.keys.clone(),
        ids: IdColumns::default(),
        date: args.as_of_date,
        to_date: args.to_date,
        output_dir: args
            .out
            .clone()
            .unwrap_or_else(|| config.paths.resolve(&config.paths.predictions)),
        top_k: args.top_k.unwrap_or(config.score.top_k),
        force: args.force,
        params: score_params(config, args),
    };
    anyhow::ensure!(job.top_k > 0, "--top-k must be at least 1");
    if let (Some(from), Some(to)) = (job.date, job.to_date) {
        anyhow::ensure!(
            from <= to,
            "--to-date {to} is before --as-of-date {from}; give the range first date first"
        );
    }
    let spinner = ui.spinner("score");
    let several = job.keys.is_some() || job.to_date.is_some();
    let outcome = run_job(&reg, &job, &SystemClock).with_context(|| {
        if several {
            format!(
                "score failed; in {}, dates scored before the failure have their new                  outputs, the others were left untouched",
                job.output_dir.display()
            )
        } else {
            format!(
                "score failed; outputs in {} were left untouched",
                job.output_dir.display()
            )
        }
    })?;
    spinner.finish_and_clear();
    say_job(ui, &outcome, job.params.min_history_days);
    let outputs: Vec<PathBuf> = outcome
        .days
        .iter()
        .flat_map(|d| {
            let mut f = d.paths.files();
            f.push(d.paths.manifest.clone());
            f
        })
        .collect();
    let rows = outcome.days.iter().map(|d| d.summary.rows_on_date).sum();
    StageReport::new(
        "score",
        (rows, outcome.rows_scored()),
        started,
        outputs,
        &outcome,
    )
}

/// `churn explain`
pub fn explain(config: &Config, args: &ExplainArgs, ui: &Ui) -> Result<u8> {
    anyhow::ensure!(args.top != Some(0), "--top must be at least 1");
    let reg = registry(config);
    let (info, artifact) = reg.load(&model_ref(config, args.model.as_deref())?)?;
    let identity = ModelIdentity {
        name: info.name.clone(),
        version: info.version,
    };
    let features = args
        .features
        .clone()
        .unwrap_or_else(|| config.paths.features_path());
    let features = FeatureTable::open(&features, IdColumns::default())?;
    let params = ScoreParams {
        active_within_days: config.labels.active_within_days,
        batch_rows: config.score.batch_rows,
        ..ScoreParams::default()
    };
    let scorer = Scorer::new(&artifact, identity, params)?;
    let mut e = scorer.explain(&features, &args.user, args.as_of_date)?;
    if let Some(n) = args.top {
        e.features.truncate(n);
    }
    if ui.json {
        outln!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(0);
    }
    let eligibility = if e.eligible {
        "scored (eligible)".to_string()
    } else {
        format!(
            "not eligible: inactive for longer than labels.active_within_days = {}; churn \
             score leaves the user out",
            config.labels.active_within_days
        )
    };
    let sum: f64 = e.features.iter().map(|f| f.contribution).sum();
    let decomposition = match e.base {
        Some(base) if args.top.is_none() => {
            format!(" = base {base:+.3} + features {sum:+.3}")
        }
        Some(base) => format!(
            " = base {base:+.3} + features (top {} shown)",
            e.features.len()
        ),
        None => String::new(),
    };
    outln!(
        "user {} on {} with {}/{} ({}): churn_risk {:.4}, log-odds {:.3}{decomposition}; {eligibility}",
        e.user_id,
        e.as_of_date,
        e.model.name,
        e.model.version,
        artifact.kind,
        e.churn_risk,
        e.raw_logit,
    );
    if e.features.is_empty() {
        outln!(
            "(a {} model has no per-feature contributions)",
            artifact.kind
        );
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = e
        .features
        .iter()
        .map(|f| {
            vec![
                f.feature.clone(),
                f.value.clone(),
                format!("{:+.3}", f.contribution),
            ]
        })
        .collect();
    outln!("{}", table(&["feature", "value", "contribution"], &rows));
    Ok(0)
}

fn say_job(ui: &Ui, outcome: &JobOutcome, min_history: u32) {
    for d in &outcome.days {
        let s = &d.summary;
        let status = match d.status {
            DayStatus::Scored => "scored",
            DayStatus::UpToDate => "up to date (kept; --force to redo)",
        };
        let mut line = format!(
            "score {}: {status}: {} users with {}/{} ({}), {} of {} rows on the date ineligible, in {:.2}s -> {}",
            s.as_of_date,
            s.scored,
            outcome.model.name,
            outcome.model.version,
            outcome.kind,
            s.ineligible,
            s.rows_on_date,
            s.seconds,
            d.paths.csv.display()
        );
        if let (Some(req), Some(found), Some(missing)) =
            (s.keys_requested, s.keys_found, s.keys_missing)
        {
            line.push_str(&format!(
                "; keys: {req} requested, {found} found, {missing} missing{}",
                if s.missing_examples.is_empty() {
                    String::new()
                } else {
                    format!(" (e.g. {})", s.missing_examples.join(", "))
                }
            ));
        }
        ui.say(line);
        if s.partial_history > 0 {
            ui.warn(format!(
                "score {}: {} scored users (e.g. {}) signed up before the feature table's first date and their look-back reaches before it: their window counts miss those days, which tends to overstate their risk (the look-back needs {} days of data; training leaves such rows out)",
                s.as_of_date,
                s.partial_history,
                s.partial_history_examples.join(", "),
                min_history
            ));
        }
    }
}

/// `churn score --plan FILE`: returns the exit code (0, 3 or 1).
pub fn score_plan(
    config: &Config,
    args: &ScoreArgs,
    plan_path: &std::path::Path,
    ui: &Ui,
) -> Result<u8> {
    let plan = Plan::load(plan_path)?;
    let mut params = score_params(config, args);
    params.kind = Default::default();
    let defaults = PlanDefaults {
        root: config.paths.root.clone(),
        features: config.paths.features_path(),
        predictions: config.paths.resolve(&config.paths.predictions),
        alias: config.score.alias.clone(),
        top_k: args.top_k.unwrap_or(config.score.top_k),
        params,
        force: args.force,
    };
    let mut plan = plan;
    if args.as_of_date.is_some() {
        plan.as_of_date = args.as_of_date;
    }
    let clock = SystemClock;
    let manifest = run_plan(&registry(config), &plan, plan_path, &defaults, &clock);
    let path = defaults.predictions.join("runs").join(format!(
        "score_run_{}.json",
        clock.now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    churn_data::io::write_json(&path, &manifest)?;
    if manifest
        .models
        .iter()
        .all(|m| m.status == churn_scoring::ModelStatus::Skipped)
    {
        ui.warn(format!(
            "every model of {} is disabled (enabled = false): nothing was scored",
            plan_path.display()
        ));
    }
    say_plan(ui, &manifest, &path);
    Ok(manifest.status.exit_code())
}

fn say_plan(ui: &Ui, manifest: &RunManifest, path: &std::path::Path) {
    if ui.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(manifest).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<Vec<String>> = manifest
        .models
        .iter()
        .map(|m| {
            vec![
                m.reference.clone(),
                format!("{:?}", m.status)
                    .to_uppercase()
                    .replace("NOTFOUND", "NOT_FOUND"),
                m.rows_scored.to_string(),
                m.model_version.map_or("-".into(), |v| v.to_string()),
                format!("{:.2}", m.duration_seconds),
                m.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let status = format!("{:?}", manifest.status).to_uppercase();
    let body = table(
        &["model", "status", "rows", "version", "seconds", "error"],
        &rows,
    );
    // A failed model is the reason for a non-zero exit: show it even with --quiet.
    if manifest.status == churn_scoring::RunStatus::Success {
        ui.say(format!("{body}\nrun {status}; manifest {}", path.display()));
    } else {
        eprintln!("{body}\nrun {status}; manifest {}", path.display());
    }
}
