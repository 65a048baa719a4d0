#!/usr/bin/env bash
# Thread scaling of the two parallel hot paths, the features stage and the scoring stage.
#
#   scripts/thread_scaling.sh BINARY N_USERS ROOT [THREADS...]
#
# Runs `churn all --to promote` once at ROOT (all cores), then `churn features` and
# `churn score --force` with RAYON_NUM_THREADS set to each of THREADS (default 1 2 4 8 16),
# and prints a Markdown table of wall seconds and speed-up over one thread. The rayon pool
# is what the setting sizes; each stage also has a reading thread and a Parquet writer
# thread besides it. Only bash and coreutils.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n 2,10p "$0" >&2
    exit 2
fi
bin=$1 users=$2 root=$3
shift 3
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2 4 8 16)

"$bin" all --n-users "$users" --days 120 --seed 42 --root "$root" --to promote > /dev/null

seconds() {
    local start end
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$1 "${@:2}" > /dev/null
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

echo "| threads | features s | speed-up | score s | speed-up |"
echo "|---:|---:|---:|---:|---:|"
f1="" s1=""
for t in "${threads[@]}"; do
    f=$(seconds "$t" "$bin" features --root "$root")
    s=$(seconds "$t" "$bin" score --root "$root" --force)
    f1=${f1:-$f} s1=${s1:-$s}
    awk -v t="$t" -v f="$f" -v s="$s" -v f1="$f1" -v s1="$s1" \
        'BEGIN { printf "| %d | %.2f | %.2fx | %.2f | %.2fx |\n", t, f, f1 / f, s, s1 / s }'
done
