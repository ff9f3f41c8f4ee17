#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the real servers the tests start
# (Prometheus 2.42, VictoriaMetrics/vmagent) when missing, then runs every test of the workspace
# (every test binary, even after one fails, so a red run lists every failure).
# The PromQL conformance corpus is read from ../shared/promql-testdata (or $NEOCORTEX_PROMQL_TESTDATA).
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v prometheus >/dev/null 2>&1 || need_packages+=(prometheus)
command -v vmagent >/dev/null 2>&1 || [ -x /usr/bin/vmagent ] || need_packages+=(victoria-metrics)
command -v memcached >/dev/null 2>&1 || [ -x /usr/bin/memcached ] || need_packages+=(memcached)
if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "installing ${need_packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/neocortex-target}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --release --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (the last cargo line is often an empty doc-test run).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "workspace: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
