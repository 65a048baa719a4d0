#!/usr/bin/env python3
"""The performance report: `churn all` in release mode at several sizes, stage by stage.

Each stage runs as `churn all --from STAGE --to STAGE` (exactly the code `churn all` runs)
in its own process, so its wall time, CPU time (user + system) and peak RSS are its own
(from wait4); features, labels and trainset run as `--from features --to trainset`, the one
pass over the user-day table that `churn all` makes for them. Writes a Markdown table and a
JSON file.

    python3 scripts/perf_report.py                       # 10k, 100k, 1M users x 120 days
    python3 scripts/perf_report.py --sizes 10000 --days 90 --out /tmp/perf
    python3 scripts/perf_report.py --compare-full 100000 # + sampled vs full-row training

Only the Python standard library; builds the binary with cargo unless --no-build.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# (row name, --from, --to)
STAGES = [(s, s, s) for s in ["generate", "validate", "prepare"]] + [
    ("features+labels+trainset", "features", "trainset")] + [
    (s, s, s) for s in ["train", "promote", "score", "decide", "monitor"]]
DATA_STAGES = ["prepare", "features+labels+trainset"]


def run(cmd, env=None):
    """Runs cmd; returns (exit code, stdout, wall s, cpu s, peak RSS MiB)."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        # Read stdout to the end, then reap with wait4 for this child's own rusage
        # (communicate() would reap it first).
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
    cpu = usage.ru_utime + usage.ru_stime
    return code, out.decode(errors="replace"), wall, cpu, usage.ru_maxrss / 1024.0


def machine():
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(l for l in Path("/proc/meminfo").read_text().splitlines()
                   if l.startswith("MemTotal"))
        mem_gib = int(mem.split()[1]) / 1024 / 1024
    except (OSError, StopIteration):
        mem_gib = 0.0
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1),
            "os": f"{platform.system()} {platform.release()}", "rustc": rustc,
            "commit": commit, "date": datetime.date.today().isoformat()}


def size_run(binary, root, n_users, days, seed):
    if root.exists():
        shutil.rmtree(root)
    rows = []
    for stage, first, last in STAGES:
        cmd = [str(binary), "--quiet", "--json", "--root", str(root), "all",
               "--from", first, "--to", last]
        if stage == "generate":
            cmd += ["--n-users", str(n_users), "--days", str(days), "--seed", str(seed)]
        code, out, wall, cpu, rss = run(cmd)
        if code != 0:
            raise SystemExit(f"{stage} at {n_users} users failed with exit {code}")
        report = json.loads(out)[0] if out.strip() else {}
        rows_in = report.get("rows_in", 0)
        rows.append({"stage": stage, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                     "peak_rss_mib": round(rss), "rows_in": rows_in,
                     "rows_out": report.get("rows_out", 0),
                     "rows_per_s": round(rows_in / wall) if wall > 0 else None,
                     "detail": report.get("detail")})
        print(f"  {n_users:>9} {stage:<24} {wall:8.2f} s wall {cpu:8.2f} s cpu {rss:8.0f} MiB",
              flush=True)
    return rows


def headline(rows):
    train = next((r for r in rows if r["stage"] == "train"), None)
    out = {}
    if train and isinstance(train["detail"], list):
        for m in train["detail"]:
            out[m["kind"]] = {"pr_auc": m["test"]["pr_auc"], "fit_seconds": m["fit_seconds"],
                              "fit_rows": m["rows"]["fit"], "test_rows": m["rows"]["test"]}
    return out


def compare_full(binary, root):
    """Trains again on the same training set with no cap on fitting rows (same test rows)."""
    config = root / "full_rows.toml"
    config.write_text("[train]\nmax_fit_rows = 0\n[registry]\nregister_on_train = false\n")
    code, out, wall, cpu, rss = run([str(binary), "--quiet", "--json", "--root", str(root),
                                     "--config", str(config), "train"])
    if code != 0:
        raise SystemExit("full-row training failed")
    rows = [{"stage": "train", "detail": json.loads(out)[0]["detail"]}]
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mib": round(rss),
            "models": headline(rows)}


def markdown(report):
    m = report["machine"]
    lines = [
        "# Performance",
        "",
        "Written by `python3 scripts/perf_report.py` (see its `--help`): each stage of",
        "`churn all` runs as `churn all --from STAGE --to STAGE` in its own process from a",
        "release build, default settings, synthetic data (`--seed "
        f"{report['seed']}`, {report['days']} days). Wall and CPU (user + system) seconds",
        "and peak RSS are per stage process; rows/s is rows in over wall time. Features,",
        "labels and trainset are one row: `churn all` computes them in one pass over the",
        "user-day table (`--from features --to trainset`).",
        "Scaling over threads (1 to 16 cores) is in [thread_scaling.md](thread_scaling.md).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"{m['rustc']}; commit {m['commit']}, {m['date']}.",
        "",
    ]
    for size in report["sizes"]:
        n = size["n_users"]
        total = sum(r["wall_s"] for r in size["stages"])
        data = sum(r["wall_s"] for r in size["stages"] if r["stage"] in DATA_STAGES)
        peak = max(r["peak_rss_mib"] for r in size["stages"])
        lines += [f"## {n:,} users x {report['days']} days", "",
                  f"Total {total:.1f} s wall; data stages (prepare + features + labels + "
                  f"trainset) {data:.1f} s; highest peak RSS {peak:,} MiB.", "",
                  "| stage | wall s | CPU s | peak RSS MiB | rows in | rows out | rows/s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in size["stages"]:
            rps = f"{r['rows_per_s']:,}" if r["rows_per_s"] else "-"
            lines.append(f"| {r['stage']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                         f"{r['peak_rss_mib']:,} | {r['rows_in']:,} | {r['rows_out']:,} | {rps} |")
        if size["models"]:
            lines += ["", "| model | PR-AUC (test) | fit s | fitting rows | test rows |",
                      "|---|---:|---:|---:|---:|"]
            for kind, v in size["models"].items():
                lines.append(f"| {kind} | {v['pr_auc']:.4f} | {v['fit_seconds']:.2f} | "
                             f"{v['fit_rows']:,} | {v['test_rows']:,} |")
        if size.get("full_rows"):
            f = size["full_rows"]
            lines += ["", "Sampled fitting rows (the defaults) against every fitting row "
                      "(`[train] max_fit_rows = 0`), same test rows "
                      f"(the full-row run: {f['wall_s']:.1f} s wall, {f['peak_rss_mib']:,} MiB):", "",
                      "| model | PR-AUC sampled | PR-AUC full | difference | fit s sampled | fit s full |",
                      "|---|---:|---:|---:|---:|---:|"]
            for kind, v in size["models"].items():
                full = f["models"].get(kind)
                if full:
                    lines.append(f"| {kind} | {v['pr_auc']:.4f} | {full['pr_auc']:.4f} | "
                                 f"{v['pr_auc'] - full['pr_auc']:+.4f} | "
                                 f"{v['fit_seconds']:.2f} | {full['fit_seconds']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default="/tmp/churn-perf", help="scratch folder for the runs")
    ap.add_argument("--out", default=str(REPO / "docs" / "performance"),
                    help="writes OUT.md and OUT.json")
    ap.add_argument("--compare-full", default="", help="sizes at which to also train on every row")
    ap.add_argument("--binary", default=None, help="a built churn binary (skips cargo build)")
    args = ap.parse_args()
    if args.binary:
        binary = Path(args.binary)
    else:
        subprocess.run(["cargo", "build", "--release", "-p", "churn-cli"], cwd=REPO, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        binary = target / "release" / "churn"
    compare = {int(s) for s in args.compare_full.split(",") if s}
    report = {"machine": machine(), "days": args.days, "seed": args.seed, "sizes": []}
    for n in [int(s) for s in args.sizes.split(",")]:
        root = Path(args.work) / str(n)
        stages = size_run(binary, root, n, args.days, args.seed)
        entry = {"n_users": n, "stages": stages, "models": headline(stages)}
        if n in compare:
            entry["full_rows"] = compare_full(binary, root)
        for r in entry["stages"]:
            r.pop("detail", None)
        report["sizes"].append(entry)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {Path(args.out).with_suffix('.md')} and .json")


if __name__ == "__main__":
    main()
