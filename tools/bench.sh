#!/usr/bin/env bash
# tools/bench.sh [--quick] [--publish] [--only ring|persist] [--persist-dir DIR]
#                [ring_bench options...]
#
# Builds the release preset, runs ring_bench (results/ring_bench.json, gitignored) and
# persist_bench (results/persist_bench.json) and regenerates the ring-bench and
# persist-bench sections of BENCHMARKS.md from them.
#   --quick        a ~15 s ring smoke run (5 short rounds) and a persistence smoke run (2
#                  short rounds, a few seconds of disk time), for CI and development
#   --publish      also copy the JSON to bench/results/, the committed copies that the
#                  committed BENCHMARKS.md is generated from
#   --only S       run one suite: ring (ring_bench) or persist (persist_bench)
#   --persist-dir  where persist_bench and fio write (default /var/tmp/lanes-bench: a real
#                  disk, not tmpfs); the full persistence run takes 2-5 minutes
# Other options go to ring_bench (see ring_bench --help), e.g. --reps 9.
#
# The machine is shared: numbers are only worth keeping when it is quiet. The load average
# is printed first; above 0.5 this script warns (it still runs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

publish=0
only=all
bench_args=()
persist_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  arg=${args[i]}
  case "$arg" in
    --publish) publish=1 ;;
    --only) only=${args[++i]:-} ;;
    --only=*) only=${arg#--only=} ;;
    --persist-dir) persist_args+=(--dir "${args[++i]:-}") ;;
    --persist-dir=*) persist_args+=(--dir "${arg#--persist-dir=}") ;;
    --quick) bench_args+=("$arg"); persist_args+=("$arg") ;;
    *) bench_args+=("$arg") ;;
  esac
done
case "$only" in
  all | ring | persist) ;;
  *) echo "bench.sh: --only takes ring or persist" >&2; exit 2 ;;
esac

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $load"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench.sh: WARNING: the machine is busy (load > 0.5); expect noisy numbers" >&2
fi

cmake --preset release >/dev/null
command="tools/bench.sh${*:+ $*}"

if [[ $only != persist ]]; then
  cmake --build --preset release -j2 --target ring_bench
  results=results/ring_bench.json
  ./build/release/bench/ring_bench --out "$results" "${bench_args[@]+"${bench_args[@]}"}"
  if [[ $publish == 1 ]]; then
    mkdir -p bench/results
    cp "$results" bench/results/ring_bench.json
    results=bench/results/ring_bench.json
  fi
  python3 tools/bench_report.py --results "$results" --output BENCHMARKS.md --command "$command"
fi

if [[ $only != ring ]]; then
  cmake --build --preset release -j2 --target persist_bench
  results=results/persist_bench.json
  ./build/release/bench/persist_bench --out "$results" \
    "${persist_args[@]+"${persist_args[@]}"}"
  if [[ $publish == 1 ]]; then
    mkdir -p bench/results
    cp "$results" bench/results/persist_bench.json
    results=bench/results/persist_bench.json
  fi
  python3 tools/persist_bench_report.py --results "$results" --output BENCHMARKS.md \
    --command "$command"
fi
