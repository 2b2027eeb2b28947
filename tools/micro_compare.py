#!/usr/bin/env python3
"""tools/micro_compare.py: compares a run of bench/micro (lanes_micro, Google Benchmark JSON
with --benchmark_repetitions) with a baseline, benchmark by benchmark, as Google Benchmark's
own compare tool does: the change of the median CPU time (less disturbed by other tenants than wall time), and whether it is beyond the noise.

Noise: a change counts only when it exceeds --min-change (default 5%) and three times the
larger coefficient of variation of the two runs' repetitions (the spread of one commit's
runs against itself). Prints one line per benchmark; exit 1 when a benchmark got slower
beyond the noise (with --fail-on-slower), else 0.

  tools/micro_compare.py --baseline bench/results/micro_bench.json --run results/micro_bench.json
"""
import argparse
import json
import sys


def aggregates(path):
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") != "aggregate":
            continue
        name = b.get("run_name", b["name"])
        out.setdefault(name, {})[b.get("aggregate_name")] = b
    return data.get("context", {}), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--min-change", type=float, default=0.05)
    ap.add_argument("--fail-on-slower", action="store_true")
    a = ap.parse_args()
    base_ctx, base = aggregates(a.baseline)
    run_ctx, run = aggregates(a.run)
    print(f"micro_compare: baseline {a.baseline} ({base_ctx.get('date', '?')}), "
          f"run {a.run} ({run_ctx.get('date', '?')})")
    slower = 0
    for name in sorted(set(base) & set(run)):
        b, r = base[name], run[name]
        if "median" not in b or "median" not in r:
            continue
        bt, rt = b["median"]["cpu_time"], r["median"]["cpu_time"]
        change = rt / bt - 1.0 if bt > 0 else 0.0
        cv = max(b.get("cv", {}).get("cpu_time", 0.0), r.get("cv", {}).get("cpu_time", 0.0))
        noise = max(a.min_change, 3.0 * cv)
        verdict = "same"
        if change > noise:
            verdict = "SLOWER"
            slower += 1
        elif change < -noise:
            verdict = "faster"
        unit = r["median"].get("time_unit", "ns")
        print(f"  {name:55s} {bt:12.1f} -> {rt:12.1f} {unit}  {change:+7.1%}  "
              f"(noise {noise:.1%})  {verdict}")
    for name in sorted(set(run) - set(base)):
        print(f"  {name:55s} new")
    print(f"micro_compare: {slower} slower beyond the noise")
    return 1 if (slower and a.fail_on_slower) else 0


if __name__ == "__main__":
    sys.exit(main())
