#!/usr/bin/env python3
"""Render queue_bench results (JSON) into the marked queue-bench section of BENCHMARKS.md.

    tools/queue_bench_report.py [--results results/queue_bench.json] [--output BENCHMARKS.md]
                                [--notes bench/queue_notes.json] [--command "..."]

Every number comes from the results file. The section sits between <!-- queue-bench:begin -->
and <!-- queue-bench:end -->; the rest of the file is left alone. A missed target gets its
"why" from the notes file (target id -> text). Python 3 standard library only.
"""

from report_sections import (commit_line, fmt_millions, ratio_targets_table, rounds_line,
                             section_head, section_text, suite_report_main)

# id, what, ratio id, op, threshold
TARGETS = [
    ("queue_vs_boost_1p1c", "queue receive+ack vs boost::lockfree::queue, 1 producer + 1 consumer",
     "queue_vs_boost_1p1c", ">=", 1.0),
    ("queue_vs_atomic_queue_1p1c", "queue receive+ack vs atomic_queue MPMC, 1 + 1",
     "queue_vs_atomic_queue_1p1c", ">=", 0.5),
    ("queue_vs_boost_2p2c", "queue receive+ack vs boost::lockfree::queue, 2 producers + 2 consumers",
     "queue_vs_boost_2p2c", ">=", 1.0),
    ("queue_vs_atomic_queue_2p2c", "queue receive+ack vs atomic_queue MPMC, 2 + 2",
     "queue_vs_atomic_queue_2p2c", ">=", 0.5),
]

NAMES = {
    "lanes_queue": "lanes queue mode: receive + ack every message",
    "lanes_log": "lanes log mode: one group polls (no ack)",
    "boost_queue": "boost::lockfree::queue (no ack)",
    "atomic_queue": "atomic_queue AtomicQueue2 MPMC (no ack)",
}


def render(data, results_path, command, notes):
    c = data["cases"]
    r = data["ratios"]
    out = section_head("Queue mode against queues without acknowledgement (queue_bench)",
                       "queue_bench_report", results_path, command)
    out.append(commit_line(data))
    out.append(f"{rounds_line(data)}; {data['messages_per_run']} messages "
               f"per run, {data['value_bytes']}-byte values (lanes: plus 8-byte keys; peers: "
               "64-byte items); every message checked to arrive exactly once")
    out.append("- 1+1 threads: one per CPU, lanes busy-spins; 2+2 threads on 2 CPUs: lanes parks "
               "(its default), the peers spin then yield")
    out.append("")
    out.append("### Throughput, million msgs/s: median (min-max)")
    out.append("")
    out.append("| case | 1 producer + 1 consumer | 2 producers + 2 consumers |")
    out.append("| --- | --- | --- |")
    for base in ["lanes_queue", "lanes_log", "boost_queue", "atomic_queue"]:
        cells = [fmt_millions(c.get(f"{base}_{cfg}")) for cfg in ("1p1c", "2p2c")]
        out.append(f"| {NAMES[base]} | {cells[0]} | {cells[1]} |")
    out.append("")
    out.append("Plot: `bench/results/plots/queue_throughput.png` (tools/plots.py).")
    out.append("")
    out.append("The cost of acknowledgement (queue vs log mode, ns per message, median of the "
               f"per-round difference): 1+1 {r['ack_cost_ns_1p1c']['median']:.0f} ns, "
               f"2+2 {r['ack_cost_ns_2p2c']['median']:.0f} ns.")
    out.append("")
    out.append("### Targets")
    out.append("")
    out += ratio_targets_table(TARGETS, r, notes, "bench/queue_notes.json")
    return section_text("queue-bench", out)


if __name__ == "__main__":
    suite_report_main("queue", render, command="build/release/bench/queue_bench")
