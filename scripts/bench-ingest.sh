#!/usr/bin/env bash
# Ingestion benchmark: replays the same remote-write workload (neocortex-loadgen) against Neocortex,
# Prometheus (remote-write receiver) and single-node VictoriaMetrics, each on a fresh data directory
# on 127.0.0.1, and prints a markdown table of medians over several runs: samples/s, server CPU
# seconds per million samples, peak RSS and peak RSS per active series.
#
# Usage: scripts/bench-ingest.sh [--runs N] [--series N] [--samples N] [--connections N]
#                                [--series-per-request N] [--targets "neocortex prometheus victoria-metrics"]
#                                [--results DIR]
# Environment: NEOCORTEX (binary, default $CARGO_TARGET_DIR/release/neocortex), LOADGEN (binary,
# default $CARGO_TARGET_DIR/release/neocortex-loadgen), NEOCORTEX_ARGS (extra flags), PROMETHEUS,
# VICTORIA_METRICS (binaries). Missing release binaries of this workspace are built first.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
series=100000
samples=120
connections=4
series_per_request=500
targets="neocortex prometheus victoria-metrics"
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --series) series="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --series-per-request) series_per_request="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --results) results="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
loadgen="${LOADGEN:-$target_dir/release/neocortex-loadgen}"
neocortex="${NEOCORTEX:-$target_dir/release/neocortex}"
prometheus="${PROMETHEUS:-prometheus}"
victoria_metrics="${VICTORIA_METRICS:-victoria-metrics}"
# Cortex's default limits (25k samples/s per tenant, 50k series per metric) would throttle the run.
read -r -a neocortex_args <<< "${NEOCORTEX_ARGS:--distributor.ingestion-rate-limit=1000000000 -distributor.ingestion-burst-size=1000000000 -ingester.max-series-per-metric=0 -ingester.max-series-per-user=0}"

build=()
[ -x "$loadgen" ] || build+=(-p neocortex-loadgen)
case " $targets " in *" neocortex "*) [ -x "$neocortex" ] || build+=(-p neocortex) ;; esac
if [ "${#build[@]}" -gt 0 ]; then
  echo "building ${build[*]} (release)" >&2
  CARGO_TARGET_DIR="$target_dir" cargo build --release "${build[@]}" >&2
fi

work="$(mktemp -d /tmp/nc-bench.XXXXXX)"
results="${results:-$work}"
mkdir -p "$results"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work/data"
}
trap cleanup EXIT

clock_ticks="$(getconf CLK_TCK)"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Seconds of user+system CPU the process has used (all its threads).
cpu_seconds() {
  # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
  sed 's/.*) //' "/proc/$1/stat" | awk -v ticks="$clock_ticks" '{ printf "%.3f", ($12 + $13) / ticks }'
}

peak_rss_kib() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

wait_ready() {
  local url="$1" deadline=$((SECONDS + 120))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null; then echo "server exited; log:" >&2; tail -n 30 "$log" >&2; return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for $url" >&2; return 1; fi
    sleep 0.2
  done
}

# Prints the number of active series the server reports, or 0 when it cannot tell yet.
active_series() {
  local target="$1" port="$2"
  case "$target" in
    neocortex)
      curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null \
        | awk '/^cortex_ingester_memory_series[ {]/ { total += $NF } END { printf "%d", total }' ;;
    prometheus)
      curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null \
        | awk '/^prometheus_tsdb_head_series / { printf "%d", $2 }' ;;
    victoria-metrics)
      curl -fsS "http://127.0.0.1:$port/api/v1/series/count" 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0])' 2>/dev/null || echo 0 ;;
  esac
}

# Polls until the server reports every series (or the count stops moving for 5 s, or 60 s pass).
settled_series() {
  local target="$1" port="$2" deadline=$((SECONDS + 60)) last=-1 stable_since=$SECONDS count
  while true; do
    count="$(active_series "$target" "$port")"
    count="${count:-0}"
    if [ "$count" -ge "$series" ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    if [ "$count" != "$last" ]; then last="$count"; stable_since=$SECONDS
    elif [ $((SECONDS - stable_since)) -ge 5 ] && [ "$count" -gt 0 ]; then break; fi
    sleep 0.5
  done
  echo "$count"
}

start_server() {
  local target="$1" port="$2" data="$work/data/$target"
  rm -rf "$data"; mkdir -p "$data"
  log="$results/$target.log"
  case "$target" in
    neocortex)
      (cd "$data" && exec "$(realpath "$neocortex")" -auth.enabled=false \
        -server.http-listen-address=127.0.0.1 -server.http-listen-port="$port" \
        -server.grpc-listen-address=127.0.0.1 -server.grpc-listen-port="$(free_port)" \
        "${neocortex_args[@]}") >"$log" 2>&1 &
      server_pid=$!; push_url="http://127.0.0.1:$port/api/v1/push"; ready_url="http://127.0.0.1:$port/ready" ;;
    prometheus)
      printf 'global:\n  scrape_interval: 15s\n' >"$data/prometheus.yml"
      "$prometheus" --config.file="$data/prometheus.yml" --storage.tsdb.path="$data/tsdb" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver >"$log" 2>&1 &
      server_pid=$!; push_url="http://127.0.0.1:$port/api/v1/write"; ready_url="http://127.0.0.1:$port/-/ready" ;;
    victoria-metrics)
      "$victoria_metrics" -storageDataPath="$data/vm" -httpListenAddr="127.0.0.1:$port" >"$log" 2>&1 &
      server_pid=$!; push_url="http://127.0.0.1:$port/api/v1/write"; ready_url="http://127.0.0.1:$port/health" ;;
    *) echo "unknown target $target" >&2; exit 64 ;;
  esac
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

raw="$results/runs.tsv"
printf 'target\trun\tsamples_per_s\tcpu_s\tsamples\tpeak_rss_kib\tactive_series\tp99_ms\tfailed_requests\n' >"$raw"
for run in $(seq 1 "$runs"); do
  for target in $targets; do
    port="$(free_port)"
    start_server "$target" "$port"
    wait_ready "$ready_url"
    cpu_before="$(cpu_seconds "$server_pid")"
    report="$results/$target-run$run.json"
    "$loadgen" --url "$push_url" --series "$series" --samples-per-series "$samples" \
      --connections "$connections" --series-per-request "$series_per_request" --json >"$report" 2>"$results/loadgen.log"
    active="$(settled_series "$target" "$port")"
    cpu_after="$(cpu_seconds "$server_pid")"
    peak="$(peak_rss_kib "$server_pid")"
    stop_server
    python3 - "$report" "$target" "$run" "$cpu_before" "$cpu_after" "$peak" "$active" >>"$raw" <<'EOF'
import json, sys
report_path, target, run, cpu_before, cpu_after, peak, active = sys.argv[1:]
report = json.load(open(report_path))
print("\t".join(str(field) for field in [
    target, run, round(report["samples_per_second"]), round(float(cpu_after) - float(cpu_before), 3),
    report["samples_accepted"], peak, active, round(report["latency"]["p99_ms"], 2), report["failed_requests"],
]))
EOF
    tail -n 1 "$raw" | awk -F'\t' '{ printf "run %s %-16s %10s samples/s  cpu %7ss  peak rss %8s KiB  series %8s  p99 %s ms  failed %s\n", $2, $1, $3, $4, $6, $7, $8, $9 }' >&2
  done
done

python3 - "$raw" "$series" "$samples" "$connections" "$series_per_request" "$runs" <<'EOF'
import csv, statistics, sys
raw, series, samples, connections, per_request, runs = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
print(f"Workload: {int(series):,} series x {samples} samples, {connections} connections, "
      f"{per_request} series per request; medians of {runs} runs.\n")
print("| server | samples/s | CPU s per 1M samples | peak RSS (MiB) | active series | peak RSS per series (bytes) | p99 request (ms) | failed requests |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
order = []
for row in rows:
    if row["target"] not in order:
        order.append(row["target"])
for target in order:
    mine = [row for row in rows if row["target"] == target]
    median = lambda values: statistics.median(values)
    rate = median([float(row["samples_per_s"]) for row in mine])
    cpu_per_million = median([float(row["cpu_s"]) / max(float(row["samples"]), 1.0) * 1e6 for row in mine])
    peak_mib = median([float(row["peak_rss_kib"]) / 1024 for row in mine])
    active = median([float(row["active_series"]) for row in mine])
    per_series = median([float(row["peak_rss_kib"]) * 1024 / max(float(row["active_series"]), 1.0) for row in mine])
    p99 = median([float(row["p99_ms"]) for row in mine])
    failed = median([float(row["failed_requests"]) for row in mine])
    print(f"| {target} | {rate:,.0f} | {cpu_per_million:.2f} | {peak_mib:,.0f} | {active:,.0f} | {per_series:,.0f} | {p99:.1f} | {failed:.0f} |")
EOF
echo "raw results: $raw" >&2
