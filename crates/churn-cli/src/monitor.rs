//! Wiring of `churn monitor ...` and `churn retrain`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use churn_data::clock::{Clock, SystemClock};
use churn_data::config::Config;
use churn_monitor::export::{decision_gauges, drift_gauges, proxy_gauges, realized_gauges, record};
use churn_monitor::prometheus::Gauges;
use churn_monitor::{DriftOptions, DriftReport, PsiParams, RealizedReport, Status};
use churn_registry::{ModelRef, VersionInfo};
use churn_scoring::{FeatureTable, IdColumns};

use crate::cli::{DriftArgs, MonitorCheck};
use crate::deploy::{model_ref, registry};
use crate::output::{Ui, outln, table};
use crate::stages::StageReport;

fn monitor_dir(config: &Config) -> PathBuf {
    config.paths.metrics_dir().join("monitor")
}

fn publish(config: &Config, check: &str, gauges: &Gauges) -> Result<PathBuf> {
    let path = config
        .paths
        .metrics_dir()
        .join("prometheus")
        .join(format!("churn_{check}.prom"));
    gauges.write(&path)?;
    Ok(path)
}

/// `churn monitor ...`: returns the exit code.
pub fn monitor(config: &Config, check: &MonitorCheck, ui: &Ui) -> Result<u8> {
    let clock = SystemClock;
    match check {
        MonitorCheck::Drift(args) => {
            let (report, _) = drift(config, args, &clock)?;
            say_drift(ui, &report);
            json_out(ui, &report)?;
            let code = if report.status == Status::Fail { 2 } else { 0 };
            record_drift(config, ui, &report)?;
            if code == 2 && !ui.json {
                eprintln!("drift FAIL: {}", report.drifted.join(", "));
            }
            Ok(code)
        }
        MonitorCheck::Proxy { predictions } => {
            let report = proxy(config, predictions.as_deref(), &clock)?;
            json_out(ui, &report)?;
            let c = &report.current;
            ui.say(format!(
                "score proxy of {}: mean {:.4} p50 {:.4} p90 {:.4} p99 {:.4}, high-risk share {:.4} (>= {}){}",
                report.predictions.display(),
                c.mean,
                c.p50,
                c.p90,
                c.p99,
                c.high_risk_share,
                c.high_risk_threshold,
                report
                    .training
                    .as_ref()
                    .map(|t| format!("; at training: mean {:.4}, high-risk share {:.4}", t.mean, t.high_risk_share))
                    .unwrap_or_default()
            ));
            record_and_publish(config, ui, "proxy", "OK", &report, &proxy_gauges(&report))?;
            Ok(0)
        }
        MonitorCheck::Realized => {
            let report = realized(config, &clock)?;
            say_realized(ui, &report);
            json_out(ui, &report)?;
            record_realized(config, ui, &report)?;
            Ok(0)
        }
        MonitorCheck::Decide(args) => {
            let (drift_report, production) = drift(config, args, &clock)?;
            say_drift(ui, &drift_report);
            record_drift(config, ui, &drift_report)?;
            let realized_report = realized(config, &clock)?;
            say_realized(ui, &realized_report);
            record_realized(config, ui, &realized_report)?;
            let decision = churn_monitor::decide(
                Some(&drift_report),
                Some(&realized_report),
                production.metrics.get("pr_auc").copied(),
                Some(production.lineage.training.last_date),
                config.monitor.max_pr_auc_drop,
                clock.now(),
            );
            ui.say(format!(
                "decision: {} — {}",
                if decision.retrain { "RETRAIN" } else { "keep" },
                decision.reasons.join("; ")
            ));
            let status = if decision.retrain { "retrain" } else { "keep" };
            record_and_publish(
                config,
                ui,
                "decide",
                status,
                &decision,
                &decision_gauges(&decision),
            )?;
            json_out(ui, &decision)?;
            Ok(0)
        }
    }
}

/// `churn monitor drift` as a stage of `churn all`: the report is recorded and published;
/// the drift status is reported, not turned into an exit code (the monitor command does that).
pub fn drift_stage(config: &Config, ui: &Ui) -> Result<StageReport> {
    let started = std::time::Instant::now();
    let (report, _) = drift(config, &DriftArgs::default(), &SystemClock)?;
    record_drift(config, ui, &report)?;
    let summary = serde_json::json!({
        "status": report.status,
        "drifted": report.drifted,
        "as_of_date": report.as_of_date,
    });
    StageReport::new(
        "monitor",
        (
            report.baseline_rows + report.current_rows,
            report.features.len() as u64,
        ),
        started,
        vec![
            config
                .paths
                .metrics_dir()
                .join("prometheus")
                .join("churn_drift.prom"),
        ],
        summary,
    )
}

fn json_out<T: serde::Serialize>(ui: &Ui, report: &T) -> Result<()> {
    if ui.json {
        outln!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

fn record_drift(config: &Config, ui: &Ui, report: &DriftReport) -> Result<()> {
    let status = report.status.to_string();
    record_and_publish(config, ui, "drift", &status, report, &drift_gauges(report))
}

fn record_realized(config: &Config, ui: &Ui, report: &RealizedReport) -> Result<()> {
    record_and_publish(
        config,
        ui,
        "realized",
        "OK",
        report,
        &realized_gauges(report),
    )
}

fn record_and_publish<T: serde::Serialize>(
    config: &Config,
    ui: &Ui,
    check: &str,
    status: &str,
    report: &T,
    gauges: &Gauges,
) -> Result<()> {
    let now = SystemClock.now();
    let json = record(&monitor_dir(config), check, status, report, now)?;
    let prom = publish(config, check, gauges)?;
    ui.say(format!(
        "{check}: report {}, metrics {}",
        json.display(),
        prom.display()
    ));
    Ok(())
}

/// Compares the features of the production model (or `--model`) and returns the report
/// with that model's registry record.
fn drift(
    config: &Config,
    args: &DriftArgs,
    clock: &dyn Clock,
) -> Result<(DriftReport, VersionInfo)> {
    let reference = model_ref(config, args.model.as_deref())?;
    let (info, artifact) = registry(config).load(&reference)?;
    let baseline = args
        .baseline
        .clone()
        .unwrap_or_else(|| config.paths.trainset_path());
    let features = args
        .features
        .clone()
        .unwrap_or_else(|| config.paths.features_path());
    let date = match args.as_of_date {
        Some(d) => d,
        None => last_date(&features)?,
    };
    let m = &config.monitor;
    let options = DriftOptions {
        active_within_days: config.labels.active_within_days,
        max_baseline_rows: m.baseline_max_rows,
        psi: PsiParams {
            buckets: m.psi_buckets,
            floor: m.psi_floor,
            warn: m.psi_warn,
            fail: m.psi_fail,
        },
        monthly_features: m.drift_monthly_features.clone(),
    };
    let (specs, excluded): (Vec<_>, Vec<_>) = artifact
        .preprocessing
        .features
        .iter()
        .cloned()
        .partition(|s| !m.drift_exclude_features.contains(&s.name));
    for name in &m.drift_exclude_features {
        if !excluded.iter().any(|s| &s.name == name) {
            tracing::warn!(
                "monitor.drift_exclude_features names `{name}`, which is not a feature of {}/{} \
                 (a misspelt name leaves the intended feature in the drift report)",
                info.name,
                info.version
            );
        }
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    // The default (`payment_*`) is not a typo when a model has no payment feature.
    let defaults = churn_data::config::MonitorConfig::default().drift_monthly_features;
    for pattern in options
        .unmatched_monthly(&names)
        .into_iter()
        .filter(|p| !defaults.iter().any(|d| d == p))
    {
        tracing::warn!(
            "monitor.drift_monthly_features names `{pattern}`, which matches no drift-checked \
             feature of {}/{} (a misspelt name leaves its features compared with every day of \
             the month)",
            info.name,
            info.version
        );
    }
    let mut report = churn_monitor::drift_report(
        &baseline,
        &features,
        &specs,
        &format!("{}/{}", info.name, info.version),
        date,
        &options,
        clock.now(),
    )?;
    report.excluded = excluded.into_iter().map(|s| s.name).collect();
    Ok((report, info))
}

/// The last as_of_date of a feature table.
fn last_date(features: &Path) -> Result<chrono::NaiveDate> {
    FeatureTable::open(features, IdColumns::default())?
        .date_range()?
        .map(|(_, last)| last)
        .with_context(|| format!("{} has no rows", features.display()))
}

fn say_drift(ui: &Ui, r: &DriftReport) {
    let rows: Vec<Vec<String>> = r
        .features
        .iter()
        .take(10)
        .map(|f| {
            vec![
                f.feature.clone(),
                format!("{:.4}", f.psi),
                f.status.to_string(),
                f.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    ui.say(format!(
        "drift of {} on {}: {} baseline rows (of {}) vs {} current rows; status {} ({} of {} features at WARN or FAIL; not compared: {}{})\n{}",
        r.model,
        r.as_of_date,
        r.baseline_rows,
        r.baseline_rows_total,
        r.current_rows,
        r.status,
        r.drifted.len(),
        r.features.len(),
        if r.excluded.is_empty() { "none".to_string() } else { r.excluded.join(", ") },
        match r.baseline_day_of_month {
            Some(d) => format!(
                "; {} calendar-month features against the training rows on day {d}",
                r.monthly.len()
            ),
            None => String::new(),
        },
        table(&["feature", "PSI", "status", "note"], &rows)
    ));
}

/// The predictions file `latest.json` points at, with the model that scored it.
pub(crate) fn latest_predictions(config: &Config) -> Result<(PathBuf, Option<(String, u32)>)> {
    let latest = config
        .paths
        .resolve(&config.paths.predictions)
        .join("latest.json");
    let text = std::fs::read_to_string(&latest).with_context(|| {
        format!(
            "{}: no scored day yet (run `churn score`, or pass --predictions)",
            latest.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a latest pointer", latest.display()))?;
    let path = v["predictions"]
        .as_str()
        .map(PathBuf::from)
        .with_context(|| format!("{}: has no predictions path", latest.display()))?;
    let model = v["model"]["name"]
        .as_str()
        .zip(v["model"]["version"].as_u64())
        .map(|(n, ver)| (n.to_string(), ver as u32));
    Ok((path, model))
}

fn proxy(
    config: &Config,
    predictions: Option<&Path>,
    clock: &dyn Clock,
) -> Result<churn_monitor::ProxyReport> {
    let (path, model) = match predictions {
        Some(p) => (p.to_path_buf(), None),
        None => latest_predictions(config)?,
    };
    let training = match model {
        Some((name, version)) => {
            registry(config)
                .load(&ModelRef::version(&name, version)?)?
                .1
                .report
                .test_scores
        }
        None => None,
    };
    Ok(churn_monitor::score_proxy(
        &path,
        training,
        config.monitor.high_risk_threshold,
        clock.now(),
    )?)
}

fn realized(config: &Config, clock: &dyn Clock) -> Result<RealizedReport> {
    let features = config.paths.features_path();
    let last = last_date(&features)?;
    let reg = registry(config);
    let pr_auc = |name: &str, version: u32| {
        reg.version(name, version)
            .ok()
            .and_then(|v| v.metrics.get("pr_auc").copied())
    };
    Ok(churn_monitor::realized(
        &config.paths.resolve(&config.paths.predictions),
        &config.paths.labels_path(),
        config.labels.window,
        last,
        config.score.top_k,
        &pr_auc,
        clock.now(),
    )?)
}

fn say_realized(ui: &Ui, r: &RealizedReport) {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.4}"));
    let rows: Vec<Vec<String>> = r
        .dates
        .iter()
        .map(|d| {
            vec![
                d.as_of_date.to_string(),
                d.status.clone(),
                d.model.clone().unwrap_or_default(),
                d.rows.to_string(),
                fmt(d.pr_auc),
                fmt(d.roc_auc),
                fmt(d.precision_at_k),
                fmt(d.model_test_pr_auc),
                if d.status == "pending" {
                    format!("matures {}", d.matures_on)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    ui.say(format!(
        "realized outcomes (window {} days, data up to {}):\n{}",
        r.window,
        r.last_data_date,
        table(
            &[
                "date",
                "status",
                "model",
                "rows",
                "PR-AUC",
                "ROC-AUC",
                &format!("P@{}", r.dates.first().map_or(0, |d| d.k)),
                "model test PR-AUC",
                ""
            ],
            &rows
        )
    ));
}
