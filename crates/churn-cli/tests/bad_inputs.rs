//! The bad-input corpus (fixtures/bad): every command a case names must exit 1 with a
//! message naming the file, column or key, the rule and examples; never panic; and never
//! leave a partial or changed output behind.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Date32Array, Int32Array, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{
    DataType, Date32Type, Field, Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use serde::Deserialize;

mod common;
use common::churn;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    /// `empty`: a fresh folder; `pipeline`: a folder after a small `churn all`.
    setup: String,
    /// Fragments every run's message must contain (case-insensitive).
    expect: Vec<String>,
    /// Files made at test time from the pipeline's outputs.
    #[serde(default)]
    derive: Vec<Derive>,
    run: Vec<Run>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Derive {
    file: String,
    from: String,
    how: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    args: Vec<String>,
    /// Fragments this run's message must contain besides the case's.
    #[serde(default)]
    expect: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bad")
}

/// Every file under `root` with its bytes, except lock files (a writer may create one).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.file_name().is_some_and(|n| n != ".lock") {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

fn source(root: &Path, from: &str) -> PathBuf {
    root.join(match from {
        "users" => "data/raw/users.parquet",
        "events" => "data/raw/events.parquet",
        "features" => "data/features/user_features_daily.parquet",
        "trainset" => "data/features/training_dataset.parquet",
        "history" => "artifacts/registry/churn/history.jsonl",
        "model_v1" => "artifacts/registry/churn/versions/1/model.json",
        "version_v1" => "artifacts/registry/churn/versions/1/version.json",
        other => panic!("unknown derive source {other}"),
    })
}

fn read_table(path: &Path) -> RecordBatch {
    let (schema, batches) = churn_data::io::read_all(path, None).unwrap();
    concat_batches(&schema, &batches).unwrap()
}

fn write_table(path: &Path, batch: &RecordBatch) {
    churn_data::io::write_batches(path, batch.schema(), std::slice::from_ref(batch)).unwrap();
}

/// Makes one derived file. Registry files are broken in place (the registry is the input);
/// tables are written into the case folder.
fn derive(root: &Path, case_dir: &Path, d: &Derive) {
    let src = source(root, &d.from);
    let dst = case_dir.join(&d.file);
    let keys = [
        "user_id",
        "as_of_date",
        "signup_date",
        "churn_label",
        "future_active_days",
    ];
    match d.how.as_str() {
        "truncate" => {
            let bytes = std::fs::read(&src).unwrap();
            std::fs::write(&dst, &bytes[..bytes.len() / 2]).unwrap();
        }
        "dup" => {
            // The first row (an early date) and the last (the latest date) twice each.
            let b = read_table(&src);
            let last = b.slice(b.num_rows() - 1, 1);
            let twice = concat_batches(&b.schema(), &[b.slice(0, 1), b.clone(), last]).unwrap();
            write_table(&dst, &twice);
        }
        "single_class" => {
            let b = read_table(&src);
            let i = b.schema().index_of("churn_label").unwrap();
            let mut cols = b.columns().to_vec();
            cols[i] = Arc::new(Int32Array::from(vec![0; b.num_rows()]));
            write_table(&dst, &RecordBatch::try_new(b.schema(), cols).unwrap());
        }
        "constant" => {
            let b = read_table(&src);
            let first = UInt32Array::from(vec![0u32; b.num_rows()]);
            let cols: Vec<ArrayRef> = b
                .schema()
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, c)| {
                    if keys.contains(&f.name().as_str()) {
                        c.clone()
                    } else {
                        take(c.as_ref(), &first, None).unwrap()
                    }
                })
                .collect();
            write_table(&dst, &RecordBatch::try_new(b.schema(), cols).unwrap());
        }
        "corrupt_line_2" => {
            let text = std::fs::read_to_string(&src).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            assert!(lines.len() >= 3, "{}: too short to corrupt", src.display());
            lines[1] = "{\"event\": \"promote\", \"to\": ";
            std::fs::write(&src, lines.join("\n") + "\n").unwrap();
        }
        "tamper" => {
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
            fn bump(v: &mut serde_json::Value) -> bool {
                match v {
                    serde_json::Value::Number(n) if n.is_f64() => {
                        *v = serde_json::json!(n.as_f64().unwrap() + 0.125);
                        true
                    }
                    serde_json::Value::Array(a) => a.iter_mut().any(bump),
                    serde_json::Value::Object(o) => o.values_mut().any(bump),
                    _ => false,
                }
            }
            assert!(bump(&mut v), "no number to tamper with");
            std::fs::write(&src, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        }
        "delete" => std::fs::remove_file(&src).unwrap(),
        how if how.starts_with("far:") => {
            // The first row's date or timestamp far beyond any calendar (a Parquet date
            // column holds any integer).
            let b = read_table(&src);
            let i = b.schema().index_of(&how["far:".len()..]).unwrap();
            let mut cols = b.columns().to_vec();
            cols[i] = match b.schema().field(i).data_type() {
                DataType::Date32 => {
                    let mut v: Vec<Option<i32>> =
                        cols[i].as_primitive::<Date32Type>().iter().collect();
                    v[0] = Some(2_000_000_000);
                    Arc::new(Date32Array::from(v))
                }
                DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                    let mut v: Vec<Option<i64>> = cols[i]
                        .as_primitive::<TimestampMicrosecondType>()
                        .iter()
                        .collect();
                    v[0] = Some(1_000_000_000_000_000_000);
                    Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz.clone()))
                }
                other => panic!("far: {other} is not a date or timestamp"),
            };
            write_table(&dst, &RecordBatch::try_new(b.schema(), cols).unwrap());
        }
        how if how.starts_with("epoch:") => {
            // A date or timestamp column stored as plain numbers: days or Unix seconds.
            let b = read_table(&src);
            let name = &how["epoch:".len()..];
            let i = b.schema().index_of(name).unwrap();
            let mut cols = b.columns().to_vec();
            let mut fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            let (array, t): (ArrayRef, DataType) = match fields[i].data_type() {
                DataType::Date32 => (
                    Arc::new(
                        cols[i]
                            .as_primitive::<Date32Type>()
                            .reinterpret_cast::<Int32Type>(),
                    ),
                    DataType::Int32,
                ),
                DataType::Timestamp(TimeUnit::Microsecond, _) => (
                    Arc::new(
                        cols[i]
                            .as_primitive::<TimestampMicrosecondType>()
                            .unary::<_, Int64Type>(|us| us.div_euclid(1_000_000)),
                    ),
                    DataType::Int64,
                ),
                other => panic!("epoch: {other} is not a date or timestamp"),
            };
            cols[i] = array;
            fields[i] = Field::new(name, t, fields[i].is_nullable());
            let schema = Arc::new(Schema::new(fields));
            write_table(&dst, &RecordBatch::try_new(schema, cols).unwrap());
        }
        how if how.starts_with("drop:") => {
            let b = read_table(&src);
            let name = &how["drop:".len()..];
            let i = b.schema().index_of(name).unwrap();
            let mut b = b;
            b.remove_column(i);
            write_table(&dst, &b);
        }
        other => panic!("unknown derivation {other}"),
    }
}

fn pipeline_template() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["all", "--n-users", "150", "--days", "90", "--seed", "5"]
        .map(String::from)
        .to_vec();
    let o = churn(dir.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A second training run, so the history has registrations and promotions to corrupt
    // (forced: on unchanged data, retrain fits nothing).
    let o = churn(dir.path(), &["retrain".to_string(), "--force".to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

fn check_case(name: &str, case: &Case, template: &Path, tiny: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    for run in &case.run {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("root");
        let case_dir = work.path().join(name);
        copy_dir(&corpus().join(name), &case_dir);
        match case.setup.as_str() {
            "empty" => std::fs::create_dir_all(&root).unwrap(),
            "pipeline" => copy_dir(template, &root),
            other => panic!("{name}: unknown setup {other}"),
        }
        for d in &case.derive {
            derive(&root, &case_dir, d);
        }
        let args: Vec<String> = run
            .args
            .iter()
            .map(|a| {
                a.replace("{case}", &case_dir.display().to_string())
                    .replace("{root}", &root.display().to_string())
                    .replace("{tiny}", &tiny.display().to_string())
            })
            .collect();
        let before = snapshot(&root);
        let o = churn(&root, &args);
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        let shown = format!("{name} ({}): churn {}", case.about, run.args.join(" "));
        if o.status.code() != Some(1) {
            failures.push(format!(
                "{shown}: exit {:?}, want 1\n{stderr}",
                o.status.code()
            ));
            continue;
        }
        if stderr.contains("panicked") {
            failures.push(format!("{shown}: panicked\n{stderr}"));
        }
        let lower = stderr.to_lowercase();
        let missing: Vec<&String> = case
            .expect
            .iter()
            .chain(&run.expect)
            .filter(|f| !lower.contains(&f.to_lowercase()))
            .collect();
        if !missing.is_empty() {
            failures.push(format!("{shown}: message lacks {missing:?}:\n{stderr}"));
        }
        let after = snapshot(&root);
        let report = Path::new("artifacts/metrics/validation_report.json");
        for (path, bytes) in &after {
            if path == report && args[0] == "validate" {
                continue;
            }
            match before.get(path) {
                None => failures.push(format!("{shown}: left {} behind", path.display())),
                Some(old) if old != bytes => {
                    failures.push(format!("{shown}: changed {}", path.display()))
                }
                _ => {}
            }
        }
        for path in before.keys() {
            if !after.contains_key(path) {
                failures.push(format!("{shown}: removed {}", path.display()));
            }
        }
    }
    failures
}

#[test]
fn every_bad_input_exits_1_with_a_clear_message_and_no_output() {
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny");
    let mut cases: Vec<(String, Case)> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p.join("case.toml")).unwrap();
            let case: Case = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.join("case.toml").display()));
            (name, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let template = pipeline_template();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                let (template, tiny) = (template.path(), tiny.as_path());
                s.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|(name, case)| check_case(name, case, template, tiny))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let runs: usize = cases.iter().map(|(_, c)| c.run.len()).sum();
    assert!(
        failures.is_empty(),
        "{} of {runs} runs over {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_corpus_case_files_are_all_used() {
    // Every file in a case folder is either its case.toml or named by one of its runs.
    for e in std::fs::read_dir(corpus()).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("case.toml")).unwrap();
        for f in std::fs::read_dir(&dir).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name == "case.toml" || text.contains(&format!("{{case}}/{name}")),
                "{}: {name} is not used by any run",
                dir.display()
            );
        }
    }
}
