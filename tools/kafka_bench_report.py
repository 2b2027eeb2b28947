#!/usr/bin/env python3
"""tools/kafka_bench_report.py: the "Kafka bridge" section of BENCHMARKS.md from kafka_bench's
results (bench/kafka_bench.cpp): the bridge in each direction against librdkafka alone on the
same mock cluster, in rounds of the same run where every side runs once and the order turns.
"""
from report_sections import commit_line, notes_lines, section_head, section_text, suite_report_main

GOAL = 0.8

WHAT = {
    "to_kafka": "lanes -> Kafka: kafka_bridge against librdkafka's idempotent producer alone",
    "from_kafka": "Kafka -> lanes (memory topic): kafka_bridge against librdkafka's consumer alone",
    "from_kafka_durable": "Kafka -> lanes (async-durable topic), against the same consumer",
}


def render(d, results_path, command, notes):
    lines = section_head("Kafka bridge (kafka_bench)", "kafka_bench_report", results_path, command)
    lines += [f"{commit_line(d)}, {d['rounds']} rounds "
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
    return section_text("kafka-bench", lines + [""])


if __name__ == "__main__":
    suite_report_main("kafka", render)
