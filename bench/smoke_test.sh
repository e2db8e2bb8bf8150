#!/usr/bin/env bash
# Runs each benchmark binary given, every benchmark once, on tiny data, to
# prove they work. Timing is not checked: benchmarks are not tests.
set -euo pipefail
export ANCIENT_BENCH_SCALE=tiny
# s3_bench needs a gateway (tools/s3-gateway) and ancientctl:
#   --s3 S3_BENCH GATEWAY_SCRIPT ANCIENTCTL, given first.
if [[ ${1:-} == --s3 ]]; then
  s3_bench=$2 gateway=$3 ctl=$4
  shift 4
  gw=$(mktemp -d)/gw
  trap '"$gateway" stop "$gw"' EXIT
  set -a
  # shellcheck disable=SC1090
  . <("$gateway" start "$gw" 1024)
  set +a
  "$s3_bench" --ctl "$ctl" >/dev/null
  echo "ran $s3_bench"
fi
for b in "$@"; do
  "$b" --benchmark_min_time=0 >/dev/null
  echo "ran $b"
done
