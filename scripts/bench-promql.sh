#!/usr/bin/env bash
# PromQL benchmark: loads the same data (10k node-exporter-like series, 24 h at 15 s by default)
# into Neocortex, Prometheus (remote-write receiver) and single-node VictoriaMetrics on 127.0.0.1,
# runs the same range queries against each HTTP API several times and prints a markdown report:
# median latency per query and server, Neocortex's fetch/eval/HTTP split (from stats=all), RSS.
#
# Usage: scripts/bench-promql.sh [--runs N] [--hours N] [--instances-per-job N] [--jobs N]
#                                [--targets neocortex,prometheus,victoria-metrics] [--results FILE]
#                                [--pause-after-load-seconds N]  (time to attach a profiler)
# Environment: NEOCORTEX (binary, default $CARGO_TARGET_DIR/release/neocortex), BENCH (binary,
# default $CARGO_TARGET_DIR/release/neocortex-promql-bench), PROMETHEUS, VICTORIA_METRICS.
# Missing release binaries of this workspace are built first.
set -euo pipefail
cd "$(dirname "$0")/.."

bench_args=()
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) bench_args+=(--runs "$2"); shift 2 ;;
    --hours) bench_args+=(--hours "$2"); shift 2 ;;
    --jobs) bench_args+=(--jobs "$2"); shift 2 ;;
    --instances-per-job) bench_args+=(--instances-per-job "$2"); shift 2 ;;
    --targets) bench_args+=(--targets "$2"); shift 2 ;;
    --pause-after-load-seconds) bench_args+=(--pause-after-load-seconds "$2"); shift 2 ;;
    --results) results="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
neocortex="${NEOCORTEX:-$target_dir/release/neocortex}"
bench="${BENCH:-$target_dir/release/neocortex-promql-bench}"

build=()
[ -x "$bench" ] || build+=(-p neocortex-promql-bench)
[ -x "$neocortex" ] || build+=(-p neocortex)
if [ "${#build[@]}" -gt 0 ]; then
  echo "building ${build[*]} (release)" >&2
  CARGO_TARGET_DIR="$target_dir" cargo build --release "${build[@]}" >&2
fi

results="${results:-$(mktemp /tmp/nc-bench-promql.XXXXXX.md)}"
"$bench" \
  --neocortex "$neocortex" \
  --prometheus "${PROMETHEUS:-prometheus}" \
  --victoria-metrics "${VICTORIA_METRICS:-victoria-metrics}" \
  "${bench_args[@]}" | tee "$results"
echo "report written to $results" >&2
