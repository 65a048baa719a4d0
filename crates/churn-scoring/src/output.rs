//! Writing a scored date: `churn_predictions_<date>.{parquet,csv}`, `churn_top_<K>_<date>`
//! .{parquet,csv}, a manifest beside them (what produced them, for idempotent re-runs) and
//! the `latest.json` pointer. Every file is written to a temporary name and renamed.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use churn_data::io::{TableWriter, write_json};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::score::{ModelIdentity, ScoreSummary};

/// The identity of an input file: enough to tell whether it changed since a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamp {
    /// The path as given.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, nanoseconds since the epoch (0 when unknown).
    pub modified_ns: u128,
}

impl InputStamp {
    /// Reads the file's size and modification time.
    pub fn of(path: &Path) -> Result<Self> {
        let meta =
            std::fs::metadata(path).map_err(|e| churn_data::Error::io(path, "read metadata", e))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            path: path.to_path_buf(),
            bytes: meta.len(),
            modified_ns,
        })
    }
}

/// What produced a date's outputs; a re-run with the same inputs and model is skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayManifest {
    /// The date.
    pub as_of_date: NaiveDate,
    /// The model.
    pub model: ModelIdentity,
    /// Fingerprint of the model artifact.
    pub artifact_fingerprint: String,
    /// The feature table.
    pub features: InputStamp,
    /// The keys file, in keys-only scoring.
    pub keys: Option<InputStamp>,
    /// The settings that change the output (eligibility, kind, threshold, reasons, K).
    pub settings: serde_json::Value,
    /// When it was scored.
    pub scored_at: DateTime<Utc>,
    /// The files written.
    pub outputs: Vec<PathBuf>,
    /// Counts.
    pub summary: ScoreSummary,
}

impl DayManifest {
    /// Whether `other` describes the same inputs, model and settings.
    pub fn same_run(&self, other: &DayManifest) -> bool {
        self.as_of_date == other.as_of_date
            && self.model == other.model
            && self.artifact_fingerprint == other.artifact_fingerprint
            && self.features == other.features
            && self.keys == other.keys
            && self.settings == other.settings
    }
}

/// The paths of a date's outputs under `dir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayPaths {
    /// `churn_predictions_<date>.parquet`
    pub parquet: PathBuf,
    /// `churn_predictions_<date>.csv`
    pub csv: PathBuf,
    /// `churn_top_<K>_<date>.parquet`
    pub top_parquet: PathBuf,
    /// `churn_top_<K>_<date>.csv`
    pub top_csv: PathBuf,
    /// `churn_predictions_<date>.json`
    pub manifest: PathBuf,
}

impl DayPaths {
    /// The outputs of `date` with a top-`k` list.
    pub fn new(dir: &Path, date: NaiveDate, k: usize) -> Self {
        let stem = format!("churn_predictions_{date}");
        let top = format!("churn_top_{k}_{date}");
        Self {
            parquet: dir.join(format!("{stem}.parquet")),
            csv: dir.join(format!("{stem}.csv")),
            top_parquet: dir.join(format!("{top}.parquet")),
            top_csv: dir.join(format!("{top}.csv")),
            manifest: dir.join(format!("{stem}.json")),
        }
    }

    /// The data files (not the manifest).
    pub fn files(&self) -> Vec<PathBuf> {
        vec![
            self.parquet.clone(),
            self.csv.clone(),
            self.top_parquet.clone(),
            self.top_csv.clone(),
        ]
    }

    /// The manifest of a previous run, if it and every file it lists exist.
    pub fn previous(&self) -> Option<DayManifest> {
        let text = std::fs::read_to_string(&self.manifest).ok()?;
        let m: DayManifest = serde_json::from_str(&text).ok()?;
        m.outputs.iter().all(|p| p.exists()).then_some(m)
    }
}

/// Writes the ranked rows and the top `k` of them as Parquet and CSV, in slices of
/// `slice_rows` rows.
pub fn write_day(batch: &RecordBatch, paths: &DayPaths, k: usize, slice_rows: usize) -> Result<()> {
    let top = batch.slice(0, k.min(batch.num_rows()));
    let jobs: [(&Path, &RecordBatch); 4] = [
        (&paths.parquet, batch),
        (&paths.csv, batch),
        (&paths.top_parquet, &top),
        (&paths.top_csv, &top),
    ];
    // The four files are independent; encode them in parallel.
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(path, b)| s.spawn(move || write_table(path, b, slice_rows)))
            .collect();
        handles
            .into_iter()
            .map(|h| churn_data::wait::join(h).unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().collect()
}

fn write_table(path: &Path, batch: &RecordBatch, slice_rows: usize) -> Result<()> {
    let mut w = TableWriter::create(path, batch.schema())?;
    let mut start = 0;
    while start < batch.num_rows() {
        let len = slice_rows.min(batch.num_rows() - start);
        w.write(&batch.slice(start, len))?;
        start += len;
    }
    w.finish()?;
    Ok(())
}

/// `latest.json`: the newest scored date of an output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    /// The date.
    pub as_of_date: NaiveDate,
    /// The model.
    pub model: ModelIdentity,
    /// When it was scored.
    pub scored_at: DateTime<Utc>,
    /// Predictions (Parquet).
    pub predictions: PathBuf,
    /// Predictions (CSV).
    pub predictions_csv: PathBuf,
    /// Top-K (CSV).
    pub top: PathBuf,
}

/// Points `dir/latest.json` at this date unless it already points at a later one (a
/// backfill of an older date does not move it). Returns whether it moved.
pub fn update_latest(dir: &Path, latest: &Latest) -> Result<bool> {
    let path = dir.join("latest.json");
    if let Some(current) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Latest>(&t).ok())
        && current.as_of_date > latest.as_of_date
    {
        return Ok(false);
    }
    write_json(&path, latest)?;
    Ok(true)
}
