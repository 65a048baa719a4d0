//! Where reports go: one JSON file per run under `<metrics>/monitor/` plus an append-only
//! `index.jsonl`, and one Prometheus textfile per check under `<metrics>/prometheus/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decide::RetrainDecision;
use crate::drift::DriftReport;
use crate::error::Result;
use crate::prometheus::Gauges;
use crate::proxy::ProxyReport;
use crate::realized::RealizedReport;

/// One line of `index.jsonl`.
#[derive(Debug, Clone, Serialize)]
struct IndexLine<'a> {
    at: DateTime<Utc>,
    check: &'a str,
    status: &'a str,
    report: &'a Path,
}

/// Writes `report` as `<dir>/<check>_<time>.json`, appends it to `<dir>/index.jsonl`, and
/// returns the report's path.
pub fn record<T: Serialize>(
    dir: &Path,
    check: &str,
    status: &str,
    report: &T,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let path = dir.join(format!("{check}_{}.json", now.format("%Y%m%dT%H%M%S%.3fZ")));
    churn_data::io::write_json(&path, report)?;
    let index = dir.join("index.jsonl");
    let mut line = serde_json::to_string(&IndexLine {
        at: now,
        check,
        status,
        report: &path,
    })
    .map_err(|e| crate::Error::Params(format!("cannot serialize the index line: {e}")))?;
    line.push('\n');
    // One write of a whole line to a file opened for appending.
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&index)
        .map_err(|e| churn_data::Error::io(&index, "open", e))?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| churn_data::Error::io(&index, "append", e))?;
    Ok(path)
}

fn stamp(g: &mut Gauges, check: &str, now: DateTime<Utc>) {
    g.set(
        "churn_last_run_timestamp_seconds",
        "Unix time of the last monitoring run, by check.",
        &[("check", check)],
        now.timestamp() as f64,
    );
}

/// Gauges of a drift report.
pub fn drift_gauges(r: &DriftReport) -> Gauges {
    let mut g = Gauges::default();
    for f in &r.features {
        g.set(
            "churn_feature_psi",
            "Population stability index of a model feature, scored day vs training set.",
            &[("feature", &f.feature)],
            f.psi,
        );
    }
    for f in &r.features {
        g.set(
            "churn_feature_drift_status",
            "Drift status of a feature: 0 OK, 1 WARN, 2 FAIL.",
            &[("feature", &f.feature)],
            f64::from(f.status.code()),
        );
    }
    g.set(
        "churn_drift_status",
        "Worst drift status over the model's features: 0 OK, 1 WARN, 2 FAIL.",
        &[],
        f64::from(r.status.code()),
    );
    stamp(&mut g, "drift", r.created_at);
    g
}

/// Gauges of a score-proxy report.
pub fn proxy_gauges(r: &ProxyReport) -> Gauges {
    let mut g = Gauges::default();
    let c = &r.current;
    g.set(
        "churn_score_mean",
        "Mean churn risk of the scored day.",
        &[],
        c.mean,
    );
    for (q, v) in [("0.5", c.p50), ("0.9", c.p90), ("0.99", c.p99)] {
        g.set(
            "churn_score_quantile",
            "Churn risk quantiles of the scored day.",
            &[("quantile", q)],
            v,
        );
    }
    g.set(
        "churn_high_risk_share",
        "Share of scored users at or above the high-risk threshold.",
        &[],
        c.high_risk_share,
    );
    if let Some(t) = &r.training {
        g.set(
            "churn_training_score_mean",
            "Mean churn risk of the model's test rows at training time.",
            &[],
            t.mean,
        );
    }
    stamp(&mut g, "proxy", r.created_at);
    g
}

/// Gauges of realized outcomes (the newest evaluated date).
pub fn realized_gauges(r: &RealizedReport) -> Gauges {
    let mut g = Gauges::default();
    if let Some(d) = r.latest_evaluated() {
        let date = d.as_of_date.to_string();
        let labels = [("as_of_date", date.as_str())];
        if let Some(v) = d.pr_auc {
            g.set(
                "churn_realized_pr_auc",
                "PR-AUC of a matured scored date against what happened.",
                &labels,
                v,
            );
        }
        if let Some(v) = d.roc_auc {
            g.set(
                "churn_realized_roc_auc",
                "ROC AUC of a matured scored date.",
                &labels,
                v,
            );
        }
        if let Some(v) = d.precision_at_k {
            g.set(
                "churn_realized_precision_at_k",
                "Precision among the K highest risks of a matured scored date.",
                &labels,
                v,
            );
        }
        g.set(
            "churn_realized_rows",
            "Scored users with a known outcome.",
            &labels,
            d.rows as f64,
        );
    }
    g.set(
        "churn_realized_pending_dates",
        "Scored dates whose outcome is not known yet.",
        &[],
        r.dates.iter().filter(|d| d.status == "pending").count() as f64,
    );
    stamp(&mut g, "realized", r.created_at);
    g
}

/// Gauges of a retrain decision.
pub fn decision_gauges(d: &RetrainDecision) -> Gauges {
    let mut g = Gauges::default();
    g.set(
        "churn_retrain_recommended",
        "1 when monitoring recommends retraining.",
        &[],
        f64::from(u8::from(d.retrain)),
    );
    stamp(&mut g, "decide", d.created_at);
    g
}
