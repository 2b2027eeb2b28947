#!/usr/bin/env bash
# tools/run.sh: the main job, self-sufficient from a fresh clone on Debian 12: install what is
# missing, build the release preset, run short `lanes perf` runs (bus throughput and fixed-rate
# end-to-end latency), then the short ring comparison benchmark.
# Results go to results/ (JSON); the report script, when present, summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
cmake --preset release
cmake --build --preset release
mkdir -p results

# lanes perf on the in-memory bus: throughput (1 producer, 1 consumer, 4 partitions, 64 B
# values), then end-to-end latency at a fixed rate, timed from when each message was due.
build/release/tools/lanes perf --count 2000000 --partitions 4 --producers 1 --consumers 1 \
  --message-size 64 --out results/perf_throughput.json
build/release/tools/lanes perf --rate 200000 --duration 3 --partitions 1 --message-size 64 \
  --out results/perf_latency.json

# The short ring comparison benchmark.
if [ -f tools/bench.sh ]; then
  exec bash tools/bench.sh --quick
fi
if [ ! -x build/release/bench/ring_bench ]; then
  echo "run: build/release/bench/ring_bench was not built (is LANES_BUILD_BENCH on?)" >&2
  exit 1
fi
build/release/bench/ring_bench --quick --out results/ring_bench.json
if [ -f tools/bench_report.py ]; then
  python3 tools/bench_report.py
fi
