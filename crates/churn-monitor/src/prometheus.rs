//! Prometheus text exposition format (version 0.0.4): gauges with HELP and TYPE lines,
//! written atomically for node_exporter's textfile collector, and a strict parser used to
//! check what is written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Label pairs of one sample.
type Labels = Vec<(String, String)>;

/// One metric: name, help and samples.
#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: String,
    samples: Vec<(Labels, f64)>,
}

/// Gauges grouped by metric name, in insertion order of names.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    families: Vec<Family>,
}

impl Gauges {
    /// Adds a sample of gauge `name` (created with `help` on first use).
    pub fn set(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, value)),
            None => self.families.push(Family {
                name: name.to_string(),
                help: help.to_string(),
                samples: vec![(labels, value)],
            }),
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for Family {
            name,
            help,
            samples,
        } in &self.families
        {
            let _ = writeln!(
                out,
                "# HELP {name} {}",
                help.replace('\\', "\\\\").replace('\n', "\\n")
            );
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, value) in samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    let parts: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "{k}=\"{}\"",
                                v.replace('\\', "\\\\")
                                    .replace('"', "\\\"")
                                    .replace('\n', "\\n")
                            )
                        })
                        .collect();
                    out.push_str(&parts.join(","));
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(*value));
            }
        }
        out
    }

    /// Writes the text to `path` atomically (the collector never sees half a file).
    pub fn write(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let atomic = churn_data::io::AtomicFile::create(path)?;
        atomic
            .file()?
            .write_all(self.render().as_bytes())
            .map_err(|e| churn_data::Error::io(path, "write", e))?;
        atomic.commit()?;
        Ok(())
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// One parsed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the text format strictly: every sample needs a preceding `# TYPE` of its name,
/// names and label names must be valid, label values properly quoted and escaped, values
/// numbers; a name may not be declared twice.
pub fn parse(text: &str) -> Result<Vec<Sample>> {
    let bad = |n: usize, m: &str| Error::Params(format!("prometheus text line {}: {m}", n + 1));
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                (Some("TYPE"), Some(name), Some(t)) if valid_name(name) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(bad(n, &format!("unknown type {t}")));
                    }
                    if typed.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(bad(n, &format!("{name} declared twice")));
                    }
                }
                _ => return Err(bad(n, "malformed comment")),
            }
            continue;
        }
        let (head, value) = line.rsplit_once(' ').ok_or_else(|| bad(n, "no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| bad(n, &format!("bad value {v}")))?,
        };
        let (name, labels) = match head.split_once('{') {
            None => (head, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| bad(n, "unclosed labels"))?;
                (name, parse_labels(body).map_err(|m| bad(n, &m))?)
            }
        };
        if !valid_name(name) {
            return Err(bad(n, &format!("bad metric name {name:?}")));
        }
        if !typed.contains_key(name) {
            return Err(bad(n, &format!("{name} has no # TYPE line before it")));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(samples)
}

fn parse_labels(body: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if !valid_name(&key) || key.contains(':') {
            return Err(format!("bad label name {key:?}"));
        }
        if chars.next() != Some('"') {
            return Err(format!("label {key} value is not quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {key}")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("unterminated value of label {key}")),
            }
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("label {key} repeated"));
        }
        match chars.next() {
            Some(',') | None => {}
            Some(c) => return Err(format!("unexpected {c:?} after label {key}")),
        }
    }
    Ok(out)
}
