//! Everything the binary shows a person: logging setup, progress bars, tables.

/// `println!` that ignores a closed stdout (`churn ... | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use outln;

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

/// Logs go to stderr; RUST_LOG wins over -v/-q.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// How the run should talk to a person.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Progress bars are drawn (a terminal, not quiet, not JSON).
    pub progress: bool,
    /// Print JSON summaries instead of text.
    pub json: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool, json: bool) -> Self {
        Self {
            progress: !quiet && !json && std::io::stderr().is_terminal(),
            json,
            quiet,
        }
    }

    /// A bar counting `total` units of `what`.
    pub fn bar(&self, total: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar
    }

    /// A spinner for a stage of unknown length.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                .expect("template is valid"),
        );
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Prints a line of text unless quiet or JSON.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.quiet && !self.json {
            outln!("{}", text.as_ref());
        }
    }

    /// Prints a warning on stderr (with JSON output too, which stays on stdout) unless
    /// quiet.
    pub fn warn(&self, text: impl AsRef<str>) {
        if !self.quiet {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "warning: {}", text.as_ref());
        }
    }
}

/// Renders rows as an aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Starts a new peak: Linux resets the process's VmHWM to its current RSS when "5" is
/// written to /proc/self/clear_refs, so the next [`peak_rss_mib`] is this stage's own.
/// Elsewhere (or where refused) the peak stays the process's so far.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process in MiB (since the last [`reset_peak_rss`]), where
/// the OS tells it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
