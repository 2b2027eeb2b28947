#!/usr/bin/env python3
"""tools/metrics_bench_report.py: the "Metrics" section of BENCHMARKS.md from metrics_bench's
results (bench/metrics_bench.cpp): publish and poll rates with lanes::prometheus serving and
scraped every second, against the same pipeline without it, in alternating rounds.
"""
import statistics

from report_sections import commit_line, section_head, section_text, suite_report_main


def ratios(d, key):
    return [r["with"][key] / r["without"][key] for r in d["rounds"]]


def median_rate(runs, key):
    """The median of a rate over runs, in millions per second: "12.34"."""
    return f"{statistics.median(x[key] for x in runs) / 1e6:.2f}"


def render(d, results_path, command, _notes):
    lines = section_head("Metrics (metrics_bench)", "metrics_bench_report", results_path, command)
    lines += [f"{commit_line(d)}, {len(d['rounds'])} rounds of "
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
              f"| without | {median_rate(wo, 'published_per_s')} | {median_rate(wo, 'polled_per_s')} "
              "| - | - | - | - |",
              f"| with | {median_rate(w, 'published_per_s')} | {median_rate(w, 'polled_per_s')} | "
              f"{sum(x['scrapes'] for x in w)} | {sum(x['scrape_failures'] for x in w)} | "
              f"{max(x['scrape_bytes'] for x in w)} | {max(x['scrape_ms_max'] for x in w):.1f} |", ""]
    return section_text("metrics-bench", lines)


if __name__ == "__main__":
    suite_report_main("metrics", render)
