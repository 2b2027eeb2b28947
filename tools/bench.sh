#!/usr/bin/env bash
# tools/bench.sh [--quick] [--publish] [--only ring|bus|queue|persist] [--persist-dir DIR]
#                [--no-plots] [ring_bench options...]
#
# Builds the release preset, runs every benchmark and regenerates BENCHMARKS.md from the
# results (JSON with commit, compiler and CPU; results/ is gitignored):
#   ring_bench     rings against Boost, moodycamel, atomic_queue, TBB  results/ring_bench.json
#   queue_bench    queue mode (receive + ack) against boost::lockfree::queue and atomic_queue
#                  at 1+1 and 2+2 threads, log mode as the no-ack row   results/queue_bench.json
#   bus_bench      the bus end to end (log and queue mode) against the frame ring and ZeroMQ,
#                  latency percentiles, rate sweep, scaling matrix, memory
#                                                                      results/bus_bench.json
#   persist_bench  durable topics against fio on the same disk        results/persist_bench.json
# then the Targets summary at the top of BENCHMARKS.md (tools/targets_report.py) and the plots
# (tools/plots.py: gnuplot PNGs in results/plots/).
#   --quick        smoke runs of all three (ring ~15 s, bus ~30 s, persistence a few seconds
#                  of disk time), for CI and development; about 2 minutes in all
#   --publish      also copy the JSON to bench/results/ and the PNGs to bench/results/plots/,
#                  the committed copies that the committed BENCHMARKS.md is generated from
#   --only S       run one suite: ring (ring_bench), bus (bus_bench) or persist (persist_bench);
#                  the summary and the plots then use the other suites' committed results
#   --no-plots     skip the gnuplot step
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
plots=1
bench_args=()
bus_args=()
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
    --no-plots) plots=0 ;;
    --quick) bench_args+=("$arg"); bus_args+=("$arg"); persist_args+=("$arg") ;;
    *) bench_args+=("$arg") ;;
  esac
done
case "$only" in
  all | ring | bus | queue | persist) ;;
  *) echo "bench.sh: --only takes ring, bus, queue or persist" >&2; exit 2 ;;
esac

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $load"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench.sh: WARNING: the machine is busy (load > 0.5); expect noisy numbers" >&2
fi

cmake --preset release >/dev/null
command="tools/bench.sh${*:+ $*}"

if [[ $only == all || $only == ring ]]; then
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

if [[ $only == all || $only == bus ]]; then
  cmake --build --preset release -j2 --target bus_bench
  results=results/bus_bench.json
  ./build/release/bench/bus_bench --out "$results" "${bus_args[@]+"${bus_args[@]}"}"
  if [[ $publish == 1 ]]; then
    mkdir -p bench/results
    cp "$results" bench/results/bus_bench.json
    results=bench/results/bus_bench.json
  fi
  python3 tools/bus_bench_report.py --results "$results" --output BENCHMARKS.md \
    --notes bench/bus_notes.json --command "$command"
fi

if [[ $only == all || $only == queue ]]; then
  cmake --build --preset release -j2 --target queue_bench
  results=results/queue_bench.json
  queue_args=()
  [[ " ${persist_args[*]-} " == *" --quick "* ]] && queue_args+=(--quick)
  ./build/release/bench/queue_bench --out "$results" "${queue_args[@]+"${queue_args[@]}"}"
  if [[ $publish == 1 ]]; then
    mkdir -p bench/results
    cp "$results" bench/results/queue_bench.json
    results=bench/results/queue_bench.json
  fi
  python3 tools/queue_bench_report.py --results "$results" --output BENCHMARKS.md \
    --notes bench/queue_notes.json --command "$command"
fi

if [[ $only == all || $only == persist ]]; then
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

# A suite that did not run in this invocation is summarised and plotted from its committed
# results; one that ran, from this run's (copied to bench/results/ with --publish).
ring_json=bench/results/ring_bench.json
bus_json=bench/results/bus_bench.json
persist_json=bench/results/persist_bench.json
queue_json=bench/results/queue_bench.json
if [[ $publish == 0 ]]; then
  [[ $only == all || $only == queue ]] && queue_json=results/queue_bench.json
  [[ $only == all || $only == ring ]] && ring_json=results/ring_bench.json
  [[ $only == all || $only == bus ]] && bus_json=results/bus_bench.json
  [[ $only == all || $only == persist ]] && persist_json=results/persist_bench.json
fi
if [[ $plots == 1 ]]; then
  plot_args=(--ring "$ring_json" --bus "$bus_json" --persist "$persist_json" --dir results/plots)
  [[ $publish == 1 ]] && plot_args+=(--publish bench/results/plots)
  python3 tools/plots.py "${plot_args[@]}"
fi

# The README's headline comes from the committed results only (--publish).
readme_args=()
[[ $publish == 1 ]] && readme_args=(--readme README.md)
python3 tools/targets_report.py --ring "$ring_json" --bus "$bus_json" --persist "$persist_json" \
  --queue "$queue_json" \
  --output BENCHMARKS.md "${readme_args[@]+"${readme_args[@]}"}"
