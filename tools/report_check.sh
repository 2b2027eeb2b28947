#!/usr/bin/env bash
# tools/report_check.sh [REV]: checks that the benchmark report scripts in the working tree
# write exactly what those of REV (default HEAD) write, for a change to tools/*report*.py,
# tools/plots.py or tools/report_sections.py that must not change the output.
#
# Both sets of scripts render, from the committed bench/results/: every suite's section into a
# copy of BENCHMARKS.md (with the command its committed section names), the Targets summary
# and the README headline, every section again into a file without markers, and the plots
# (gnuplot's .gp and .dat inputs and the PNGs). The outputs must be byte-for-byte the same.
# Writes nothing in the tree; exit 0 when they are, 1 with the differences otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rev=${1:-HEAD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "$tmp/rev"
git archive "$rev" tools | tar -x -C "$tmp/rev"

# committed_command SUITE: the command the committed BENCHMARKS.md names in SUITE's section.
committed_command() {
  sed -n "/<!-- $1-bench:begin -->/,/<!-- $1-bench:end -->/p" BENCHMARKS.md |
    sed -n 's/^- Command: `\(.*\)`$/\1/p' | head -n 1
}

# render TOOLS OUT: everything the scripts in TOOLS write, into OUT.
render() {
  local tools=$1 out=$2 suite script notes
  mkdir -p "$out"
  cp BENCHMARKS.md README.md "$out/"
  for suite in ring bus queue persist durable metrics kafka cdc; do
    script=${suite}_bench_report.py notes=bench/${suite}_notes.json
    [[ $suite == ring ]] && script=bench_report.py notes=bench/notes.json
    python3 "$tools/$script" --results "bench/results/${suite}_bench.json" --notes "$notes" \
      --output "$out/BENCHMARKS.md" --command "$(committed_command "$suite")"
    printf 'intro\n' >"$out/no_markers_$suite.md"
    python3 "$tools/$script" --results "bench/results/${suite}_bench.json" \
      --output "$out/no_markers_$suite.md"
  done
  python3 "$tools/targets_report.py" --output "$out/BENCHMARKS.md" --readme "$out/README.md"
  python3 "$tools/plots.py" --dir "$out/plots"
} >"$tmp/log" 2>&1

render "$tmp/rev/tools" "$tmp/before" || { cat "$tmp/log"; exit 1; }
render tools "$tmp/after" || { cat "$tmp/log"; exit 1; }
if diff -r "$tmp/before" "$tmp/after"; then
  echo "report_check: the scripts write the same as $rev's ($(find "$tmp/after" -type f | wc -l) files)"
else
  echo "report_check: the scripts' output differs from $rev's" >&2
  exit 1
fi
