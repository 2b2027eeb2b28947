#!/usr/bin/env bash
# tools/bench.sh [--quick] [--publish] [--only SUITE] [--persist-dir DIR]
#                [--no-plots] [ring_bench options...]
#
# Builds the release preset, runs every benchmark and regenerates BENCHMARKS.md from the
# results (JSON with commit, compiler and CPU; results/ is gitignored):
#   ring_bench     rings against Boost, moodycamel, atomic_queue, TBB  results/ring_bench.json
#   queue_bench    queue mode (receive + ack) against boost::lockfree::queue and atomic_queue
#                  at 1+1 and 2+2 threads, log mode as the no-ack row   results/queue_bench.json
#   bus_bench      the bus end to end (log and queue mode) against the frame ring and ZeroMQ,
#                  fan-out to two consumer groups against ZeroMQ PUB/SUB, latency
#                  percentiles, rate sweep, scaling matrix, memory
#                                                                      results/bus_bench.json
#   persist_bench  durable topics against fio on the same disk, durable-ack latency against
#                  the group-commit window                             results/persist_bench.json
#   durable_bench  durable topics as a user sees them: consumer latency against sync_interval +
#                  fio's fdatasync, throughput against memory and fio, catch-up from the files
#                  with and without the CRC checks against fio's reads, idle CPU
#                                                                      results/durable_bench.json
#   metrics_bench  publish and poll with lanes::prometheus serving and scraped every second
#                  against without, alternating rounds                 results/metrics_bench.json
#   kafka_bench    the Kafka bridge each way against librdkafka alone on the same mock cluster
#                                                                      results/kafka_bench.json
#   cdc_bench      lanes::cdc into a durable topic against pg_recvlogical on the same WAL, and
#                  COMMIT-to-poll latency, on a PostgreSQL 15 it starts      results/cdc_bench.json
#   lanes_micro    Google Benchmark microbenchmarks of the hot paths (bench/micro), compared
#                  with the committed baseline by tools/micro_compare.py results/micro_bench.json
# then the Targets summary at the top of BENCHMARKS.md (tools/targets_report.py) and the plots
# (tools/plots.py: gnuplot PNGs in results/plots/).
# It times itself: the wall time of each suite (build, run, report), of the plots and in all
# is printed at the end and recorded in results/bench_run.json (tools/bench_run.py), which
# BENCHMARKS.md and the README quote. Budgets on this machine: 20 minutes, 3 with --quick.
#   --quick        smoke runs of every suite above (each benchmark's --quick; the
#                  microbenchmarks at --benchmark_min_time=0.02), for CI and development;
#                  under 3 minutes in all
#   --publish      also copy the JSON to bench/results/ and the PNGs to bench/results/plots/,
#                  the committed copies that the committed BENCHMARKS.md is generated from
#   --only S       run one suite: ring, bus, queue, persist, durable, metrics, kafka, cdc or micro
#                  (the benchmark of that name);
#                  the summary and the plots then use the other suites' committed results
#   --no-plots     skip the gnuplot step
#   --persist-dir  where persist_bench and fio write (default /var/tmp/lanes-bench: a real
#                  disk, not tmpfs); the full persistence run takes 3-6 minutes (the
#                  group-commit window sweep adds about one)
#   --help         print this text and exit
# Other options go to ring_bench (see ring_bench --help), e.g. --reps 9.
#
# The machine is shared: numbers are only worth keeping when it is quiet. The load average
# is printed first; above 0.5 this script warns (it still runs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Wall time of each step: `step SUITE PHASE COMMAND...` runs the command and appends
# "SUITE PHASE SECONDS" to $timings.
t_begin=$(date +%s.%N)
timings=$(mktemp)
trap 'rm -f "$timings"' EXIT
step() {
  local suite=$1 phase=$2
  shift 2
  local t0
  t0=$(date +%s.%N)
  "$@"
  awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$suite" -v p="$phase" \
    'BEGIN { printf "%s %s %.3f\n", s, p, b - a }' >>"$timings"
}

publish=0
only=all
plots=1
bench_args=()
persist_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  arg=${args[i]}
  case "$arg" in
    --help | -h) sed -n '2,/^set -euo pipefail$/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    --publish) publish=1 ;;
    --only) only=${args[++i]:-} ;;
    --only=*) only=${arg#--only=} ;;
    --persist-dir) persist_args+=(--dir "${args[++i]:-}") ;;
    --persist-dir=*) persist_args+=(--dir "${arg#--persist-dir=}") ;;
    --no-plots) plots=0 ;;
    --quick) bench_args+=("$arg"); persist_args+=("$arg") ;;
    *) bench_args+=("$arg") ;;
  esac
done
case "$only" in
  all | ring | bus | queue | persist | durable | metrics | kafka | cdc | micro) ;;
  *) echo "bench.sh: --only takes ring, bus, queue, persist, durable, metrics, kafka, cdc or micro" >&2; exit 2 ;;
esac

load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $load"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench.sh: WARNING: the machine is busy (load > 0.5); expect noisy numbers" >&2
fi

step configure run cmake --preset release >/dev/null
mkdir -p results  # every suite writes its JSON here first (a fresh clone has none)
command="tools/bench.sh${*:+ $*}"
mode=full
[[ " ${persist_args[*]-} " == *" --quick "* ]] && mode=quick

# publish_and_report SUITE REPORT_ARGS...: with --publish copies results/SUITE_bench.json to
# bench/results/; then renders the suite's section of BENCHMARKS.md from it.
publish_and_report() {
  local suite=$1 results=results/$1_bench.json
  shift
  if [[ $publish == 1 ]]; then
    mkdir -p bench/results
    cp "$results" "bench/results/${suite}_bench.json"
    results=bench/results/${suite}_bench.json
  fi
  "$@" --results "$results" --output BENCHMARKS.md --command "$command"
}

# run_suite SUITE REPORT NOTES [OPTIONS...]: builds bench/SUITE_bench, runs it with --out
# results/SUITE_bench.json and OPTIONS, then renders the suite's section of BENCHMARKS.md with
# tools/REPORT and its hand-written notes file NOTES (publish_and_report).
run_suite() {
  local suite=$1 report=$2 notes=$3
  shift 3
  step "$suite" build cmake --build --preset release -j2 --target "${suite}_bench"
  step "$suite" run "./build/release/bench/${suite}_bench" --out "results/${suite}_bench.json" "$@"
  step "$suite" report publish_and_report "$suite" python3 "tools/$report" --notes "$notes"
}

# Each suite in turn, with its benchmark's options: ring_bench gets the options bench.sh does
# not know, persist_bench --dir and --quick, every other benchmark --quick in a --quick run.
quick_args=()
[[ $mode == quick ]] && quick_args+=(--quick)
for suite in ring bus queue persist durable metrics kafka cdc; do
  [[ $only == all || $only == "$suite" ]] || continue
  case $suite in
    ring) run_suite ring bench_report.py bench/notes.json "${bench_args[@]+"${bench_args[@]}"}" ;;
    persist)
      run_suite persist persist_bench_report.py bench/persist_notes.json \
        "${persist_args[@]+"${persist_args[@]}"}"
      ;;
    *)
      run_suite "$suite" "${suite}_bench_report.py" "bench/${suite}_notes.json" \
        "${quick_args[@]+"${quick_args[@]}"}"
      ;;
  esac
done

# Microbenchmarks of the hot paths (bench/micro, Google Benchmark): 5 repetitions, medians
# compared with the committed baseline (tools/micro_compare.py flags changes beyond noise).
if [[ $only == all || $only == micro ]]; then
  step micro build cmake --build --preset release -j2 --target lanes_micro
  micro_args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)
  [[ $mode == quick ]] && micro_args+=(--benchmark_min_time=0.02)
  step micro run ./build/release/bench/micro/lanes_micro --benchmark_out=results/micro_bench.json \
    --benchmark_out_format=json "${micro_args[@]}"
  if [[ -f bench/results/micro_bench.json ]]; then
    step micro report python3 tools/micro_compare.py --baseline bench/results/micro_bench.json \
      --run results/micro_bench.json
  fi
  [[ $publish == 1 ]] && cp results/micro_bench.json bench/results/micro_bench.json
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
  plot_args=(--ring "$ring_json" --bus "$bus_json" --persist "$persist_json" --queue "$queue_json"
    --dir results/plots)
  [[ $publish == 1 ]] && plot_args+=(--publish bench/results/plots)
  step plots run python3 tools/plots.py "${plot_args[@]}"
fi

# This invocation's wall time, per step and in all, into results/bench_run.json (kept per
# mode: a --quick run leaves the last full run's record alone); --publish copies it.
total=$(awk -v a="$t_begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
python3 tools/bench_run.py --timings "$timings" --out results/bench_run.json \
  --seed bench/results/bench_run.json --mode "$mode" --command "$command" \
  --complete "$([[ $only == all ]] && echo 1 || echo 0)" --total "$total" \
  --load-start "$load" --load-end "$(cut -d' ' -f1 /proc/loadavg)"
run_json=results/bench_run.json
if [[ $publish == 1 ]]; then
  cp results/bench_run.json bench/results/bench_run.json
  run_json=bench/results/bench_run.json
fi

# The README's headline comes from the committed results only (--publish).
readme_args=()
[[ $publish == 1 ]] && readme_args=(--readme README.md)
python3 tools/targets_report.py --ring "$ring_json" --bus "$bus_json" --persist "$persist_json" \
  --queue "$queue_json" --run "$run_json" \
  --output BENCHMARKS.md "${readme_args[@]+"${readme_args[@]}"}"
