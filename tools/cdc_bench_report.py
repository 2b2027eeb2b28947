#!/usr/bin/env python3
"""tools/cdc_bench_report.py: the "Change data capture" section of BENCHMARKS.md from cdc_bench's
results (bench/cdc_bench.cpp): lanes::cdc into a durable topic against pg_recvlogical on the
same WAL, in interleaved rounds of the same run, and the COMMIT-to-poll latency.
"""
from report_sections import commit_line, notes_lines, section_head, section_text, suite_report_main

GOAL = 0.8


def throughput_lines(t):
    m = t["ratio_median"]
    return ["### Throughput: rows/s, median (min-max)", "",
            f"{t['transactions']} transactions of {t['rows_per_transaction']} rows "
            "(a bigint key, a short text, an int) per round.", "",
            "| ours: lanes::cdc into a durable (async) topic | peer: pg_recvlogical to /dev/null "
            "| ours / peer | goal | result |", "| --- | --- | --- | --- | --- |",
            f"| {t['ours_median']:,.0f} ({t['ours_min']:,.0f}-{t['ours_max']:,.0f}) | "
            f"{t['peer_median']:,.0f} ({t['peer_min']:,.0f}-{t['peer_max']:,.0f}) | "
            f"{m:.2f} ({t['ratio_min']:.2f}-{t['ratio_max']:.2f}) | >= {GOAL} | "
            f"{'met' if m >= GOAL else '**missed**'} |"]


def latency_lines(lat):
    lines = ["", f"### Latency from COMMIT to poll, microseconds ({lat['transactions']} "
             f"single-row transactions at {lat['rate_per_s']}/s)", "",
             "| consumer | p50 | p99 | p99.9 | max | polled before COMMIT returned |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key, what in (("durable_only", "durable records only (the default)"),
                      ("not_durable", "read_durable_only = false (same topic)")):
        c = lat[key]
        lines.append(f"| {what} | {c['p50_us']:,.0f} | {c['p99_us']:,.0f} | {c['p999_us']:,.0f} "
                     f"| {c['max_us']:,.0f} | {c['polled_before_commit_returned']} |")
    return lines


def render(d, results_path, command, notes):
    lines = section_head("Change data capture from PostgreSQL (cdc_bench)",
                         "cdc_bench_report", results_path, command)
    lines += [f"{commit_line(d)}, {d['rounds']} rounds "
              "(ours and the peer interleaved in each, which goes first alternates)",
              f"- Server: {d['server']}",
              "- Each round: a fresh logical slot per side, both created before the writes, "
              "so both read the same WAL. Each timing runs from the start of the client "
              "(cdc_stream::run, the pg_recvlogical process) until the end: connecting and "
              "START_REPLICATION are included on both sides. Ours ends when every transaction "
              "is on disk in lanes and confirmed to the server; the peer ends when it exits at "
              "--endpos (the WAL position after the writes).",
              "- Ratio: ours / peer per round, then the median and the min-max over rounds", ""]
    lines += throughput_lines(d["cases"]["throughput"])
    lines += latency_lines(d["cases"]["latency"])
    lines += notes_lines(notes, "bench/cdc_notes.json")
    return section_text("cdc-bench", lines + [""])


if __name__ == "__main__":
    suite_report_main("cdc", render)
