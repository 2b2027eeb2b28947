#!/usr/bin/env python3
"""tools/metrics_bench_report.py: the "Metrics" section of BENCHMARKS.md from metrics_bench's
results (bench/metrics_bench.cpp): publish and poll rates with lanes::prometheus serving and
scraped every second, against the same pipeline without it, in alternating rounds.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_sections import generated_by, section_main  # noqa: E402

BEGIN = "<!-- metrics-bench:begin -->"
END = "<!-- metrics-bench:end -->"


def ratios(d, key):
    return [r["with"][key] / r["without"][key] for r in d["rounds"]]


def render(d, results_path, command, _notes):
    lines = ["## Metrics (metrics_bench)", ""]
    lines += generated_by("metrics_bench_report", results_path, command)
    lines += [f"- Commit `{d['commit']}`, {d['compiler']}, {d['cpu']}, run {d['date']}, "
              f"load average {d['load_average']:.2f} at start, {len(d['rounds'])} rounds of "
              f"{d['seconds_per_case']:.1f} s per case" + (" (--quick)" if d.get("quick") else ""),
              f"- One producer, one consumer group, one partition, {d['value_bytes']} B values; "
              "with: lanes::prometheus serving the bus and a scrape of /metrics over HTTP every "
              "second", "",
              "| target | goal | measured (median of rounds) | spread | result |",
              "| --- | --- | --- | --- | --- |"]
    for key, label in (("published_per_s", "publish rate with metrics scraped / without"),
                       ("polled_per_s", "poll rate with metrics scraped / without")):
        xs = ratios(d, key)
        m = statistics.median(xs)
        lines.append(f"| {label} | >= 0.97 | {m:.3f} | {min(xs):.3f}-{max(xs):.3f} | "
                     f"{'met' if m >= 0.97 else '**missed**'} |")
    w = [r["with"] for r in d["rounds"]]
    wo = [r["without"] for r in d["rounds"]]
    lines += ["", "| case | published (M/s, median) | polled (M/s, median) | scrapes | failed | "
              "largest scrape (bytes) | slowest scrape (ms) |", "| --- | --- | --- | --- | --- | --- | --- |",
              f"| without | {statistics.median(x['published_per_s'] for x in wo) / 1e6:.2f} | "
              f"{statistics.median(x['polled_per_s'] for x in wo) / 1e6:.2f} | - | - | - | - |",
              f"| with | {statistics.median(x['published_per_s'] for x in w) / 1e6:.2f} | "
              f"{statistics.median(x['polled_per_s'] for x in w) / 1e6:.2f} | "
              f"{sum(x['scrapes'] for x in w)} | {sum(x['scrape_failures'] for x in w)} | "
              f"{max(x['scrape_bytes'] for x in w)} | {max(x['scrape_ms_max'] for x in w):.1f} |", ""]
    return "\n".join(lines) + "\n" + END + "\n"


def main():
    section_main("metrics_bench_report", "metrics-bench",
                 lambda d, p, c, n: BEGIN + "\n" + render(d, p, c, n), BEGIN, END,
                 results="results/metrics_bench.json", notes="bench/metrics_notes.json",
                 command="tools/bench.sh --only metrics")


if __name__ == "__main__":
    main()
