#!/usr/bin/env bash
# tools/test.sh: builds and runs the whole test suite under the presets release, asan and tsan
# (or the presets named as arguments), then the fuzz target briefly (full runs only; seconds
# from LANES_FUZZ_SECONDS, default 20), going on through all of them when one fails, then
# prints one summary: the ctest result line of each preset and, last, "N passed, N failed"
# over all presets. A failed configure or build counts as one failure. Exit status: 0 only
# when every preset built and every test passed. Installs missing packages first.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ $# -gt 0 ]; then presets=("$@"); else presets=(release asan tsan); fi

bash tools/setup.sh || { echo "test: tools/setup.sh failed"; echo "0 passed, 1 failed"; exit 1; }

logdir=build/test-logs
mkdir -p "$logdir"
passed=0
failed=0
summary=()

elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

for p in "${presets[@]}"; do
  echo
  echo "==== $p: configure, build, test ===="
  t0=$(date +%s)
  if ! cmake --preset "$p"; then
    summary+=("$p: configure FAILED")
    failed=$((failed + 1))
    continue
  fi
  if ! cmake --build --preset "$p"; then
    summary+=("$p: build FAILED ($(elapsed "$t0"))")
    failed=$((failed + 1))
    continue
  fi
  built=$(elapsed "$t0")
  t1=$(date +%s)
  ctest --preset "$p" 2>&1 | tee "$logdir/$p.log"
  rc=${PIPESTATUS[0]}
  # ctest closes with e.g. "95% tests passed, 1 tests failed out of 20".
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$logdir/$p.log" |
         tail -n 1)
  if [ -z "$line" ]; then
    summary+=("$p: ctest ran no test (exit $rc)")
    failed=$((failed + 1))
    continue
  fi
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  n=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + n - f))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    line="$line; but ctest exited $rc"
    failed=$((failed + 1))
  fi
  summary+=("$p: $line (build $built, tests $(elapsed "$t1"))")
done

# The libFuzzer target over the segment decoder and recovery scan, briefly (its corpus is
# also replayed by ctest in every preset above). LANES_FUZZ_SECONDS=0 skips it.
fuzz_seconds="${LANES_FUZZ_SECONDS:-20}"
if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
  echo
  echo "==== fuzz: io_segment_fuzz for ${fuzz_seconds} s ===="
  t0=$(date +%s)
  if bash tools/fuzz.sh "$fuzz_seconds" > "$logdir/fuzz.log" 2>&1; then
    summary+=("fuzz: io_segment_fuzz ran ${fuzz_seconds} s without a crash ($(elapsed "$t0"))")
    passed=$((passed + 1))
  else
    tail -n 20 "$logdir/fuzz.log"
    summary+=("fuzz: FAILED, see $logdir/fuzz.log ($(elapsed "$t0"))")
    failed=$((failed + 1))
  fi
fi

echo
echo "==== summary ===="
for s in "${summary[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
