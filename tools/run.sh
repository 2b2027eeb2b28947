#!/usr/bin/env bash
# tools/run.sh: the main job, self-sufficient from a fresh clone on Debian 12: install what is
# missing, build the release preset, run short `lanes perf` runs on a default data directory
# (durable throughput and fixed-rate end-to-end latency, then in memory), then the short
# benchmarks (tools/bench.sh --quick).
# Results go to results/ (JSON); the report script, when present, summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
cmake --preset release
cmake --build --preset release
mkdir -p results

# lanes perf on a bus with a data directory (default /var/tmp/lanes-perf, or $LANES_DATA_DIR):
# throughput of a durable topic (async group commit; 1 producer, 1 consumer, 4 partitions,
# 64 B values), then end-to-end latency at a fixed rate, timed from when each message was
# due, then the same throughput run in memory for comparison.
data_dir="${LANES_DATA_DIR:-/var/tmp/lanes-perf}"
mkdir -p "$data_dir"
build/release/tools/lanes perf --data-dir "$data_dir" --durability async --count 2000000 \
  --partitions 4 --producers 1 --consumers 1 --message-size 64 \
  --out results/perf_throughput_durable.json
build/release/tools/lanes perf --data-dir "$data_dir" --durability async --rate 200000 \
  --duration 3 --partitions 1 --message-size 64 --out results/perf_latency_durable.json
build/release/tools/lanes perf --count 2000000 --partitions 4 --producers 1 --consumers 1 \
  --message-size 64 --out results/perf_throughput.json

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
