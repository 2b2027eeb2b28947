#!/usr/bin/env python3
"""tools/kafka_bench_report.py: the "Kafka bridge" section of BENCHMARKS.md from kafka_bench's
results (bench/kafka_bench.cpp): the bridge in each direction against librdkafka alone on the
same mock cluster, in rounds of the same run where every side runs once and the order turns.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_sections import generated_by, notes_lines, section_main  # noqa: E402

BEGIN = "<!-- kafka-bench:begin -->"
END = "<!-- kafka-bench:end -->"
GOAL = 0.8

WHAT = {
    "to_kafka": "lanes -> Kafka: kafka_bridge against librdkafka's idempotent producer alone",
    "from_kafka": "Kafka -> lanes (memory topic): kafka_bridge against librdkafka's consumer alone",
    "from_kafka_durable": "Kafka -> lanes (async-durable topic), against the same consumer",
}


def render(d, results_path, command, notes):
    lines = ["## Kafka bridge (kafka_bench)", ""]
    lines += generated_by("kafka_bench_report", results_path, command)
    lines += [f"- Commit `{d['commit']}`, {d['compiler']}, {d['cpu']}, run {d['date']}, "
              f"load average {d['load_average']:.2f} at start, {d['rounds']} rounds "
              "(every side once in each, the order turning from round to round)",
              f"- Cluster: {d['cluster']}",
              "- Ratio: ours / peer per round, then the median and the min-max over rounds", "",
              "| case | value | records | ours, records/s | peer, records/s | ours / peer | goal "
              "| result |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in d["cases"].items():
        base, size = name.rsplit("_", 1)
        durable = "durable" in base
        m = c["ratio_median"]
        result = "for information" if durable else ("met" if m >= GOAL else "**missed**")
        lines.append(f"| {WHAT[base]} | {size} B | {c['records']} | {c['ours_median']:,.0f} | "
                     f"{c['peer_median']:,.0f} | {m:.2f} ({c['ratio_min']:.2f}-{c['ratio_max']:.2f})"
                     f" | {'-' if durable else f'>= {GOAL}'} | {result} |")
    lines += notes_lines(notes, "bench/kafka_notes.json")
    return "\n".join(lines) + "\n\n" + END + "\n"


def main():
    section_main("kafka_bench_report", "kafka-bench",
                 lambda d, p, c, n: BEGIN + "\n" + render(d, p, c, n), BEGIN, END,
                 results="results/kafka_bench.json", notes="bench/kafka_notes.json",
                 command="tools/bench.sh --only kafka")


if __name__ == "__main__":
    main()
