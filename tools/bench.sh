#!/usr/bin/env bash
# tools/bench.sh [--quick] [--publish] [ring_bench options...]
#
# Builds the release preset, runs ring_bench (results/ring_bench.json, gitignored) and
# regenerates the ring-bench section of BENCHMARKS.md from it.
#   --quick    a ~15 s smoke run (5 short rounds), for CI and development
#   --publish  also copy the JSON to bench/results/ring_bench.json, the committed copy that
#              the committed BENCHMARKS.md is generated from
# Other options go to ring_bench (see ring_bench --help), e.g. --reps 9.
#
# The machine is shared: numbers are only worth keeping when it is quiet. The load average
# is printed first; above 0.5 this script warns (it still runs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

publish=0
bench_args=()
for arg in "$@"; do
  case "$arg" in
    --publish) publish=1 ;;
    *) bench_args+=("$arg") ;;
  esac
done

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $load"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench.sh: WARNING: the machine is busy (load > 0.5); expect noisy numbers" >&2
fi

cmake --preset release >/dev/null
cmake --build --preset release -j2 --target ring_bench

results=results/ring_bench.json
./build/release/bench/ring_bench --out "$results" "${bench_args[@]+"${bench_args[@]}"}"

command="tools/bench.sh${*:+ $*}"
if [[ $publish == 1 ]]; then
  mkdir -p bench/results
  cp "$results" bench/results/ring_bench.json
  results=bench/results/ring_bench.json
fi
python3 tools/bench_report.py --results "$results" --output BENCHMARKS.md --command "$command"
