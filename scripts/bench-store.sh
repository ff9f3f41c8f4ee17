#!/usr/bin/env bash
# Chunks-storage benchmark through the binary (issue 4): the load generator's node-exporter-like
# workload (10k series x 12 h at 15 s by default, ending before now) is remote-written to one
# `neocortex` process on the local backend (redb index + filesystem chunk objects), queried from
# ingester memory, flushed (POST /flush?wait=true), SIGKILLed, its WAL removed, restarted with
# empty ingesters and queried from the store cold and warm; the same data goes to single-node
# VictoriaMetrics (force_merge, then the same queries). Prints a markdown report: bytes per
# sample (chunk objects and index separately), objects and index rows per million samples,
# query medians; every answer is checked against the generator.
#
# Usage: scripts/bench-store.sh [--series N] [--samples N] [--runs N] [--no-vm] [--results FILE]
# Environment: NEOCORTEX (binary, default $CARGO_TARGET_DIR/release/neocortex), BENCH (binary,
# default $CARGO_TARGET_DIR/release/neocortex-store-bench), VICTORIA_METRICS (default
# victoria-metrics, Debian package victoria-metrics). Missing release binaries are built first.
set -euo pipefail
cd "$(dirname "$0")/.."

bench_args=()
results=""
victoria="${VICTORIA_METRICS:-victoria-metrics}"
while [ $# -gt 0 ]; do
  case "$1" in
    --series) bench_args+=(--series "$2"); shift 2 ;;
    --samples) bench_args+=(--samples "$2"); shift 2 ;;
    --runs) bench_args+=(--runs "$2"); shift 2 ;;
    --no-vm) victoria="none"; shift ;;
    --results) results="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
neocortex="${NEOCORTEX:-$target_dir/release/neocortex}"
bench="${BENCH:-$target_dir/release/neocortex-store-bench}"

build=()
[ -x "$bench" ] || build+=(-p neocortex-store-bench)
[ -x "$neocortex" ] || build+=(-p neocortex)
if [ "${#build[@]}" -gt 0 ]; then
  echo "building ${build[*]} (release)" >&2
  CARGO_TARGET_DIR="$target_dir" cargo build --release "${build[@]}" >&2
fi
if [ "$victoria" != "none" ] && ! command -v "$victoria" >/dev/null 2>&1; then
  echo "$victoria not found: install the Debian package victoria-metrics, set VICTORIA_METRICS, or pass --no-vm" >&2
  exit 69
fi

results="${results:-$(mktemp /tmp/nc-bench-store.XXXXXX.md)}"
{
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -sr)."
  if [ "$victoria" != "none" ]; then
    version="$("$victoria" -version 2>&1 | head -1)"
    # Debian's build prints nothing: ask the package manager.
    [ -n "$version" ] || version="$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown)"
    echo "VictoriaMetrics: $version."
  fi
  echo
  "$bench" --neocortex "$neocortex" --victoria-metrics "$victoria" "${bench_args[@]}"
} | tee "$results"
echo "report written to $results" >&2
