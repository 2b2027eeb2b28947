#!/usr/bin/env bash
# tools/fuzz.sh: builds the libFuzzer target over the segment batch decoder and recovery
# scan with Debian clang (preset `fuzz`) and runs it for a while (default 60 s) on a copy of
# the seed corpus. New interesting inputs stay in build/fuzz/corpus; crashes are written to
# build/fuzz/ as crash-*. Add a crash (or a small interesting input) to tests/fuzz/corpus/
# so that the io_fuzz_replay ctest checks it from then on.
#   tools/fuzz.sh [seconds] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j2
mkdir -p build/fuzz/corpus
cp -n tests/fuzz/corpus/* build/fuzz/corpus/ 2>/dev/null || true
cd build/fuzz
exec ./tests/fuzz/io_segment_fuzz -max_total_time="$seconds" -max_len=65536 \
  -print_final_stats=1 "$@" corpus
