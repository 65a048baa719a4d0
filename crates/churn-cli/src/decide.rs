//! `churn decide`: retention decisions over the latest predictions.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use churn_data::clock::SystemClock;
use churn_data::config::Config;
use churn_decisions::pg::{PgStore, redact};
use churn_decisions::{ParquetStore, RuleSet, RunOptions, RunSummary};

use crate::cli::DecideArgs;
use crate::output::{Ui, table};
use crate::stages::StageReport;

/// The rules: --rules, else decide.rules (relative to the root), else the built-in ones.
fn rules(config: &Config, args: &DecideArgs) -> Result<RuleSet> {
    let path = args.rules.clone().or_else(|| {
        config
            .decide
            .rules
            .as_ref()
            .map(|p| config.paths.resolve(p))
    });
    Ok(match path {
        Some(p) => RuleSet::load(&p)?,
        None => RuleSet::default_rules()?,
    })
}

/// Runs the decisions and returns the stage report.
pub fn decide(config: &Config, args: &DecideArgs, ui: &Ui) -> Result<StageReport> {
    let started = Instant::now();
    let rules = rules(config, args)?;
    let url = args
        .database_url
        .clone()
        .or_else(|| config.decide.database_url.clone())
        .filter(|u| !u.is_empty());
    let options = RunOptions {
        redecide: args.redecide,
        batch_rows: args.batch_rows.unwrap_or(config.decide.batch_rows),
    };
    let table_name = args
        .table
        .clone()
        .unwrap_or_else(|| config.decide.table.clone());
    let spinner = ui.spinner("decide");
    let clock = SystemClock;
    let (summary, source, sink): (RunSummary, String, PathBuf) = match &url {
        Some(url) => {
            let mut store = PgStore::connect(url, &table_name)?;
            let (candidates, source) = match &args.source_table {
                Some(t) => (
                    store.undecided_from(t, args.as_of_date, args.limit)?,
                    format!("postgres table {t}"),
                ),
                None => {
                    let p = predictions(config, args)?;
                    (
                        churn_decisions::table::read_predictions(&p)?,
                        p.display().to_string(),
                    )
                }
            };
            let summary = churn_decisions::run(&mut store, &rules, candidates, &options, &clock)
                .with_context(|| {
                    format!(
                        "decide: writing to {} table {table_name} failed; the batches committed before stay, the one in flight was rolled back",
                        redact(url)
                    )
                })?;
            (
                summary,
                source,
                PathBuf::from(format!("{} table {table_name}", redact(url))),
            )
        }
        None => {
            anyhow::ensure!(
                args.source_table.is_none(),
                "--source-table reads from PostgreSQL: give --database-url (or CHURN_DATABASE_URL)"
            );
            let p = predictions(config, args)?;
            let candidates = churn_decisions::table::read_predictions(&p)?;
            let out = config.paths.decisions_path();
            let mut store = ParquetStore::open(&out)?;
            let summary = churn_decisions::run(&mut store, &rules, candidates, &options, &clock)
                .with_context(|| format!("decide failed; {} was left untouched", out.display()))?;
            (summary, p.display().to_string(), out)
        }
    };
    spinner.finish_and_clear();
    let actions: Vec<String> = summary
        .by_action
        .iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    ui.say(format!(
        "decide: {} candidates from {source}, {} decided ({}), {} decided already, rules {} -> {}",
        summary.candidates,
        summary.written,
        if actions.is_empty() {
            "-".into()
        } else {
            actions.join(", ")
        },
        summary.already_decided,
        rules.source.display(),
        sink.display(),
    ));
    if !summary.examples.is_empty() {
        let rows: Vec<Vec<String>> = summary
            .examples
            .iter()
            .map(|d| {
                vec![
                    d.user_id.clone(),
                    format!("{:.3}", d.churn_risk),
                    format!("{:.0}", d.score),
                    d.action.clone(),
                    serde_json::to_string(&d.params).unwrap_or_default(),
                    d.reason.clone(),
                ]
            })
            .collect();
        ui.say(table(
            &["user", "risk", "score", "action", "params", "reason"],
            &rows,
        ));
    }
    StageReport::new(
        "decide",
        (summary.candidates, summary.written),
        started,
        vec![sink],
        &summary,
    )
}

fn predictions(config: &Config, args: &DecideArgs) -> Result<PathBuf> {
    Ok(match &args.predictions {
        Some(p) => p.clone(),
        None => crate::monitor::latest_predictions(config)?.0,
    })
}
