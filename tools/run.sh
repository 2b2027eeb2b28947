#!/usr/bin/env bash
# tools/run.sh: the main job, self-sufficient from a fresh clone on Debian 12: install what is
# missing, build the release preset, run the short ring comparison benchmark.
# Results go to results/ (JSON); the report script, when present, summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
cmake --preset release
cmake --build --preset release
mkdir -p results

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
