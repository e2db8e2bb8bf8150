#!/usr/bin/env bash
# Runs each benchmark binary given, every benchmark once, on tiny data, to
# prove they work. Timing is not checked: benchmarks are not tests.
set -euo pipefail
export ANCIENT_BENCH_SCALE=tiny
for b in "$@"; do
  "$b" --benchmark_min_time=0 >/dev/null
  echo "ran $b"
done
