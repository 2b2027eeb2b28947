#!/usr/bin/env python3
"""tools/metrics_bench_report.py: the "Metrics" section of BENCHMARKS.md from metrics_bench's
results (bench/metrics_bench.cpp): publish and poll rates with lanes::prometheus serving and
scraped every second, against the same pipeline without it, in alternating rounds.
"""
import statistics

from report_sections import (commit_line, round_targets_table, section_head, section_text,
                             suite_report_main, table_head)


def ratios(d, key):
    return [r["with"][key] / r["without"][key] for r in d["rounds"]]


def median_rate(runs, key):
    """The median of a rate over runs, in millions per second: "12.34"."""
    return f"{statistics.median(x[key] for x in runs) / 1e6:.2f}"


def rates_table(rounds):
    """Publish and poll rates without and with the scrapes, and what the scrapes took."""
    w = [r["with"] for r in rounds]
    wo = [r["without"] for r in rounds]
    return table_head(["case", "published (M/s, median)", "polled (M/s, median)", "scrapes",
                       "failed", "largest scrape (bytes)", "slowest scrape (ms)"]) + [
        f"| without | {median_rate(wo, 'published_per_s')} | {median_rate(wo, 'polled_per_s')} "
        "| - | - | - | - |",
        f"| with | {median_rate(w, 'published_per_s')} | {median_rate(w, 'polled_per_s')} | "
        f"{sum(x['scrapes'] for x in w)} | {sum(x['scrape_failures'] for x in w)} | "
        f"{max(x['scrape_bytes'] for x in w)} | {max(x['scrape_ms_max'] for x in w):.1f} |"]


def render(d, results_path, command, _notes):
    lines = section_head("Metrics (metrics_bench)", "metrics_bench_report", results_path, command)
    lines += [f"{commit_line(d)}, {len(d['rounds'])} rounds of "
              f"{d['seconds_per_case']:.1f} s per case" + (" (--quick)" if d.get("quick") else ""),
              f"- One producer, one consumer group, one partition, {d['value_bytes']} B values; "
              "with: lanes::prometheus serving the bus and a scrape of /metrics over HTTP every "
              "second", ""]
    goals = [("publish rate with metrics scraped / without", ">= 0.97", ratios(d, "published_per_s"),
              lambda m: m >= 0.97),
             ("poll rate with metrics scraped / without", ">= 0.97", ratios(d, "polled_per_s"),
              lambda m: m >= 0.97)]
    lines += round_targets_table(goals, digits=3)
    lines += [""] + rates_table(d["rounds"]) + [""]
    return section_text("metrics-bench", lines)


if __name__ == "__main__":
    suite_report_main("metrics", render)
