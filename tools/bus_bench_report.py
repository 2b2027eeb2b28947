#!/usr/bin/env python3
"""Render bus_bench results (JSON) into the marked bus-bench section of BENCHMARKS.md.

    tools/bus_bench_report.py [--results results/bus_bench.json] [--output BENCHMARKS.md]
                              [--notes bench/bus_notes.json] [--command "tools/bench.sh"]

Every number comes from the results file. The section sits between <!-- bus-bench:begin -->
and <!-- bus-bench:end -->; the rest of the file is left alone. Missed targets get a "why"
from the optional notes file (target id -> text). Python 3 standard library only.
"""

from report_sections import (commit_line, fmt_millions, fmt_ratio, ratio_targets_table,
                             rounds_line, section_head, section_text, suite_report_main)

# id, what it says, ratio id in the results, op, threshold
TARGETS = [
    ("bus_tput_vs_frame_ring", "bus throughput (1 partition, one publish() per message) vs the raw frame ring",
     "bus_vs_frame_ring_tput", ">=", 0.7),
    ("bus_batch_tput_vs_frame_ring", "bus throughput (1 partition, publish_batch() of 64) vs the raw frame ring",
     "bus_batch_vs_frame_ring_tput", ">=", 0.7),
    ("bus_p99_vs_frame_ring", "bus publish-to-poll p99 at a fixed rate vs the frame ring's one-way p99",
     "bus_vs_ring_p99", "<=", 2.0),
    ("bus_tput_vs_zmq", "bus throughput (one publish() per message) vs ZeroMQ inproc:// PUSH/PULL",
     "bus_vs_zmq_tput", ">=", 10.0),
    ("bus_batch_tput_vs_zmq", "bus throughput (publish_batch() of 64) vs ZeroMQ inproc:// PUSH/PULL",
     "bus_batch_vs_zmq_tput", ">=", 10.0),
]

NAMES = {
    "bus_p1": "lanes bus, 1 partition",
    "bus_batch": "lanes bus, 1 partition, publish_batch() of 64",
    "bus_p4": "lanes bus, 4 partitions",
    "bus_p16": "lanes bus, 16 partitions",
    "frame_ring": "lanes::frame_ring (raw)",
    "zmq_push_pull": "ZeroMQ inproc PUSH/PULL",
    "bus_latency": "lanes bus publish -> poll",
    "ring_latency": "lanes::frame_ring claim/commit -> peek",
    "zmq_latency": "ZeroMQ inproc PUSH -> PULL",
    "queue_p1": "lanes queue, 1 partition, receive + ack",
    "bus_fanout": "fan-out: lanes bus, 1 partition, 2 consumer groups (per group)",
    "zmq_pub_sub": "fan-out: ZeroMQ inproc PUB, 2 SUB sockets (per SUB)",
}


def render(data, results_path, command, notes):
    c = data["cases"]
    out = section_head("Bus end to end: one producer, one consumer (bus_bench)",
                       "bus_bench_report", results_path, command)
    out.append(commit_line(data))
    out.append(f"{rounds_line(data)}; every case once per round, same order")
    out.append(f"- {data['value_bytes']}-byte values with {data['key_bytes']}-byte keys, memory only, "
               f"{data['ring_bytes'] // (1 << 20)} MiB ring per partition, single-producer topic, "
               "consumer group polling with busy spin; producer on CPU 0, consumer on CPU 1; "
               f"{data['messages_per_throughput_run']} messages per bus/ring run (a quarter for ZeroMQ)")
    out.append(f"- Latency: {data['latency_rate_per_s']:.0f} msgs/s for {data['latency_seconds']} s, "
               "timed from when each message was due (no coordinated omission), steady_clock")
    out.append("")
    out.append("### Throughput, million msgs/s: median (min-max)")
    out.append("")
    out.append("| case | msgs/s | heap allocations per message (worst round) |")
    out.append("| --- | --- | --- |")
    for cid in ["bus_p1", "bus_batch", "frame_ring", "zmq_push_pull", "bus_p4", "bus_p16", "queue_p1",
                "bus_fanout", "zmq_pub_sub"]:
        if cid not in c:  # results from before the case existed
            continue
        x = c[cid]
        allocs = x.get("allocs_per_msg_max")
        allocs = "-" if allocs is None else f"{allocs:.6g}"
        out.append(f"| {NAMES[cid]} | {fmt_millions(x)} | {allocs} |")
    out.append("")
    out.append("Heap allocations: calls of the benchmark binary's counting `operator new` (any "
               "thread, ZeroMQ's included; ZeroMQ's message buffers come from malloc and are not "
               "counted) between the producer's start and the consumer's last message, per "
               "message. Plot: `bench/results/plots/bus_throughput.png`.")
    out += render_fanout(data)
    out.append("")
    out.append("### Latency at a fixed rate, microseconds (median over rounds)")
    out.append("")
    if data["load_average"] > 2.0:
        out.append(f"**Load average {data['load_average']:.2f} at the start of this run:** with more "
                   "runnable threads than the 2 CPUs, the pinned producer and consumer are "
                   "descheduled for whole scheduler ticks (milliseconds), so these percentiles "
                   "and the sweep below measure the scheduler, not the bus; compare the rows "
                   "(same run, same conditions), not the absolute values. Rerun on a quiet machine.")
        out.append("")
    out.append("| case | p50 | p90 | p99 | p99.9 | p99.99 | max |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for cid in ["bus_latency", "ring_latency", "zmq_latency"]:
        if cid not in c:
            continue
        x = c[cid]
        pc = x.get("percentiles", {})
        cells = [pc.get("p50", x["p50_median"]), pc.get("p90"), pc.get("p99", x["p99_median"]),
                 pc.get("p999", x["p999_median"]), pc.get("p9999"), pc.get("max", x["max_median"])]
        out.append(f"| {NAMES[cid]} | " + " | ".join("-" if v is None else f"{v / 1e3:.2f}" for v in cells)
                   + " |")
    out.append("")
    out.append("### Targets")
    out.append("")
    out.append("Measured: median (min-max) over rounds of the per-round ratio.")
    out.append("")
    out += ratio_targets_table(TARGETS, data["ratios"], notes, "bench/bus_notes.json")
    out.append("")
    out.append("Scaling (same run): 4 partitions / 1 partition "
               f"{data['ratios']['bus_p4_vs_p1_tput']['median']:.2f}x, 16 partitions / 1 partition "
               f"{data['ratios']['bus_p16_vs_p1_tput']['median']:.2f}x (one producer and one "
               "consumer spread over more rings).")
    out += render_extras(data)
    return section_text("bus-bench", out)


def render_fanout(data):
    """The fan-out rows' method, their ratio and what each reader received."""
    c = data["cases"]
    if "bus_fanout" not in c or "zmq_pub_sub" not in c:
        return []
    b, z = c["bus_fanout"], c["zmq_pub_sub"]
    r = data["ratios"].get("bus_fanout_vs_zmq_pub_sub_tput")
    out = ["", f"Fan-out rows: one producer, {b['readers']} readers that each receive every message; "
           "msgs/s is messages delivered to each reader per second (the clock stops when the "
           "last reader has the last message; all readers together get "
           f"{b['readers']}x as many). Three threads on two CPUs, so none is pinned and every "
           f"wait parks. lanes: {b['waits']}; {b['messages_per_run']} messages per run. "
           f"ZeroMQ: {z['waits']}; {z['messages_per_run']} messages per run."]
    if r:
        out[-1] += f" lanes / ZeroMQ per round: {fmt_ratio(r)}."
    lost = z.get("lost", [])
    if any(lost):
        out[-1] += (f" **ZeroMQ readers missed messages** (sent but not received, both readers, "
                    f"per round): {', '.join(f'{x:.0f}' for x in lost)}.")
    else:
        out[-1] += (f" Every reader counted every message in every round (lanes: each offset "
                    f"once, checked by sum; ZeroMQ: 0 lost in {len(lost)} rounds).")
    return out


def fmt_rate(r):
    return f"{r / 1e6:g}M" if r >= 1e6 else f"{r / 1e3:g}k"


def render_extras(data):
    """The rate sweep, the scaling matrix and the memory figures, when the run has them."""
    out = []
    sw = data.get("sweep")
    if sw:
        pts = sw["points"]
        rates = sorted({p["rate_per_s"] for p in pts})
        ids = [i for i in ("bus", "zmq") if any(p["case"] == i for p in pts)]
        label = {"bus": "lanes bus", "zmq": "ZeroMQ PUSH/PULL"}
        out += ["", "### Rate sweep: p99 publish-to-receive latency, microseconds", "",
                f"Each rate for {sw['seconds']} s, {sw['reps']} runs per point (median p99, "
                "min-max over runs), bus and ZeroMQ alternating; latency from when each message "
                "was due, so a producer that cannot keep up shows as growing latency. "
                "Plot: `bench/results/plots/bus_sweep.png`.", ""]
        out.append("| msgs/s | " + " | ".join(label[i] for i in ids) + " |")
        out.append("| --- |" + " --- |" * len(ids))
        for r in rates:
            row = [fmt_rate(r)]
            for i in ids:
                p = next((p for p in pts if p["case"] == i and p["rate_per_s"] == r), None)
                row.append("-" if p is None else
                           f"{p['p99'] / 1e3:.1f} ({p['p99_min'] / 1e3:.1f}-{p['p99_max'] / 1e3:.1f})")
            out.append("| " + " | ".join(row) + " |")
    sc = data.get("scaling")
    if sc:
        cells = sc["cells"]
        sizes = sorted({x["value_bytes"] for x in cells})
        combos = sorted({(x["partitions"], x["producers"]) for x in cells})
        out += ["", "### Scaling: million msgs/s (MB/s of values) by partitions x producers x value size",
                "", f"Median of {sc['reps']} runs per cell (cells interleaved); each run moves "
                f"min(messages per run, {sc['value_bytes_per_run'] >> 20} MiB of values); "
                f"{sc['ring_bytes'] >> 20} MiB ring per partition, one consumer-group member reads "
                f"every partition and reads the first 8 bytes of each value (so large values measure "
                "the producer's copy into a cache-resident ring). "
                f"Waits: {sc['waits']}.", ""]
        out.append("| partitions | producers | " + " | ".join(
            f"{s} B" if s < 1024 else f"{s // 1024} KiB" for s in sizes) + " |")
        out.append("| --- | --- |" + " --- |" * len(sizes))
        for parts, prods in combos:
            row = [str(parts), str(prods)]
            for s in sizes:
                x = next((x for x in cells if x["partitions"] == parts and x["producers"] == prods
                          and x["value_bytes"] == s), None)
                row.append("-" if x is None else
                           f"{x['median'] / 1e6:.3f} ({x['median'] * s / 1e6:.0f} MB/s)")
            out.append("| " + " | ".join(row) + " |")
    m = data.get("memory")
    if m:
        out += ["", "### Memory", "",
                "Resident set (`/proc/self/statm`) measured first in the run, on a fresh heap.", "",
                "| what | bytes |", "| --- | --- |",
                f"| per partition, topic created ({m['partitions']} partitions, "
                f"{m['ring_bytes_per_partition'] >> 10} KiB rings) | "
                f"{m['resident_bytes_per_partition_created'] / 1024:.0f} KiB |",
                f"| per partition, every ring full "
                f"({m.get('retained_bytes_all_partitions_full', 0) / m['partitions'] / 1024:.0f} KiB of records each) | "
                f"{m['resident_bytes_per_partition_full'] / 1024:.0f} KiB |",
                f"| per million retained {data['value_bytes']}-byte messages ({m['retained_messages']} "
                f"retained in one {m['retained_ring_bytes'] >> 20} MiB partition) | "
                f"{m['resident_bytes_per_million_retained'] / 2**20:.1f} MiB "
                f"({m['resident_bytes_per_million_retained'] / 1e6:.0f} B per message) |",
                f"| heap allocations per publish while filling | {m['allocs_per_publish_fill']:.6g} |"]
    return out


if __name__ == "__main__":
    suite_report_main("bus", render, command="tools/bench.sh")
