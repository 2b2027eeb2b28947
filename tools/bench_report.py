#!/usr/bin/env python3
"""Render ring_bench results (JSON) into the marked ring-bench section of BENCHMARKS.md.

    tools/bench_report.py [--results results/ring_bench.json] [--output BENCHMARKS.md]
                          [--notes bench/notes.json] [--command "tools/bench.sh"]

Every number in the section comes from the results file; nothing is typed by hand. The
section sits between <!-- ring-bench:begin --> and <!-- ring-bench:end -->; the rest of the
file is left alone (a missing file is created, a file without the markers gets the section
appended). Targets that are missed get a "why" from the optional notes file, a JSON object
mapping target id -> text, so people can explain a result without typing numbers.

Ratios follow ring_bench: ours/peer per round, only for rounds in which both runs had the
same core placement (their ping-pong probes agree), then the median of those ratios.
Python 3 standard library only.
"""

import argparse
import math
import statistics
import sys

from report_sections import fmt_ratio, goal_met, load_json, section_text, table_head, write_section

MIN_CLASS_SHARE = 0.1  # placements with fewer runs than this share get no tables
NEW_FILE = ("# lanes benchmarks\n\nEverything below is generated from saved results; "
            "see each section for the command.\n\n")

SPSC_PEERS = ["boost_spsc_queue", "moodycamel_rwq", "atomic_queue_spsc", "atomic_queue_nil_spsc"]
ATOMIC_QUEUE_MPMC = ["atomic_queue_mpmc", "atomic_queue_nil_mpmc"]

# id, what it says, ours, peers (best of them per round), metric, item bytes, op, threshold
TARGETS = [
    ("spsc_tput_vs_boost", "SPSC ring throughput vs boost::lockfree::spsc_queue",
     "lanes_spsc_ring", ["boost_spsc_queue"], "throughput", 8, ">=", 2.0),
    ("spsc_tput_vs_best_spsc", "SPSC ring throughput vs the best SPSC peer",
     "lanes_spsc_ring", SPSC_PEERS, "throughput", 8, ">=", 1.0),
    ("spsc_rtt_vs_boost", "SPSC ring round trip vs boost::lockfree::spsc_queue",
     "lanes_spsc_ring", ["boost_spsc_queue"], "round_trip", 8, "<=", 0.8),
    ("spsc_rtt_vs_pingpong", "SPSC ring round trip vs the bare cache-line ping-pong",
     "lanes_spsc_ring", ["pingpong"], "round_trip", 8, "<=", 1.3),
    ("mpmc_tput_vs_atomic_queue", "MPMC ring throughput vs atomic_queue MPMC (best variant)",
     "lanes_mpmc_ring", ATOMIC_QUEUE_MPMC, "throughput", 8, ">=", 1.5),
    ("mpmc_tput_vs_boost_queue", "MPMC ring throughput vs boost::lockfree::queue",
     "lanes_mpmc_ring", ["boost_queue"], "throughput", 8, ">=", 3.0),
    ("frame_tput_vs_spsc_64", "frame ring (64 B payloads) vs typed SPSC ring (64 B items), msgs/s",
     "lanes_frame_ring", ["lanes_spsc_ring"], "throughput", 64, ">=", 0.8),
]


class Results:
    def __init__(self, data):
        self.data = data
        self.meta = data["metadata"]
        self.factor = self.meta.get("same_placement_factor", 1.3)
        self.queues = {q["id"]: q for q in data["queues"]}
        self.order = [q["id"] for q in data["queues"]]
        self.cells = {(r["queue"], r["metric"], r["item_bytes"]): r for r in data["results"]}
        self.ratios = {(r["ours"], r["peer"], r["metric"], r["item_bytes"]): r
                       for r in data["ratios"]}

        self.classes = self._placement_classes()

    def cell(self, queue, metric, size):
        return self.cells.get((queue, metric, size))

    def _placement_classes(self):
        """Core placements seen in this run, as (low, high) ranges of probe floors (ns per
        ping-pong trip): the sorted floors of stable runs, split wherever one is more than
        the same-placement factor above the previous one."""
        floors = sorted(f for c in self.data["results"]
                        for f, ok in zip(c["floor_ns_samples"], c["stable_samples"]) if ok)
        if not floors:
            return []
        classes, low = [], floors[0]
        for prev, cur in zip(floors, floors[1:]):
            if cur > prev * self.factor:
                classes.append((low, prev))
                low = cur
        classes.append((low, floors[-1]))
        return classes

    def class_of(self, cell, i):
        """Index of the placement class of run i of a cell; None for an unstable run."""
        if not cell["stable_samples"][i]:
            return None
        f = cell["floor_ns_samples"][i]
        for k, (low, high) in enumerate(self.classes):
            if low <= f <= high:
                return k
        return None

    def class_samples(self, cell, k):
        if cell is None:
            return []
        return [v for i, v in enumerate(cell["samples"]) if self.class_of(cell, i) == k]

    def _within(self, a, b):
        return a > 0 and b > 0 and a <= b * self.factor and b <= a * self.factor

    def comparable(self, a, b, i):
        """Runs of cells a and b in round i had one placement (as ring_bench's comparable())."""
        if not (a["stable_samples"][i] and b["stable_samples"][i]):
            return False
        return self._within(a["floor_ns_samples"][i], b["floor_ns_samples"][i])

    def target_ratio(self, ours, peers, metric, size, placement=None):
        """Per round: ours / best peer of that round (highest throughput, lowest round trip),
        using only rounds where every run involved shares ours' placement (and, if given,
        only rounds in that placement class)."""
        a = self.cell(ours, metric, size)
        bs = [self.cell(p, metric, size) for p in peers]
        bs = [b for b in bs if b is not None]
        if a is None or not bs:
            return None
        n = min([len(a["samples"])] + [len(b["samples"]) for b in bs])
        ratios, skipped = [], 0
        for i in range(n):
            if not all(self.comparable(a, b, i) for b in bs):
                skipped += 1
                continue
            if placement is not None and self.class_of(a, i) != placement:
                continue
            values = [b["samples"][i] for b in bs]
            best = max(values) if metric == "throughput" else min(values)
            ratios.append(a["samples"][i] / best)
        return {"samples": ratios, "skipped": skipped,
                "median": statistics.median(ratios) if ratios else None,
                "min": min(ratios) if ratios else None, "max": max(ratios) if ratios else None}


# ---- formatting ----

def fmt_num(v, digits=3):
    """A number with about `digits` significant digits, no exponent."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(v)))))
    return f"{v:.{decimals}f}"


def fmt_samples(values, scale=1.0):
    if not values:
        return "-"
    values = [v * scale for v in values]
    return f"{fmt_num(statistics.median(values))} ({fmt_num(min(values))}-" \
           f"{fmt_num(max(values))}) [{len(values)}]"


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def placement_name(res, k):
    low, high = res.classes[k]
    return f"Placement {chr(ord('A') + k)} (ping-pong probe {fmt_num(low)}-{fmt_num(high)} ns)"


def placement_short(res, k):
    return chr(ord("A") + k)


def queue_label(res, q):
    return res.queues[q]["name"] + (" (ours)" if res.queues[q]["ours"] else "")


def waits_in_class(res, cell, k):
    if cell is None or "empty_waits_per_item_samples" not in cell:
        return "-"
    idx = [i for i in range(len(cell["samples"])) if res.class_of(cell, i) == k]
    if not idx:
        return "-"
    empty = statistics.median(cell["empty_waits_per_item_samples"][i] for i in idx)
    full = statistics.median(cell["full_waits_per_item_samples"][i] for i in idx)
    return f"{empty:.2f} / {full:.2f}"


def p99_in_class(res, cell, k):
    if cell is None or "p99_samples" not in cell:
        return "-"
    values = [v for i, v in enumerate(cell["p99_samples"]) if res.class_of(cell, i) == k]
    return fmt_num(statistics.median(values)) if values else "-"


def queue_rows(res, k, metric, row_of):
    """The rows of placement k's table of `metric`: one per queue, in the results' order, that
    has a result for 8-byte or 64-byte items, row_of(res, k, queue, cell_8, cell_64) (a missing
    cell is None)."""
    rows = []
    for q in res.order:
        a = res.cell(q, metric, 8)
        b = res.cell(q, metric, 64)
        if a is not None or b is not None:
            rows.append(row_of(res, k, q, a, b))
    return rows


def throughput_row(res, k, q, a, b):
    failed = " FAILED CHECK" if not all(c.get("ok", True) for c in (a, b) if c) else ""
    return [queue_label(res, q) + failed,
            fmt_samples(res.class_samples(a, k), 1e-6), waits_in_class(res, a, k),
            fmt_samples(res.class_samples(b, k), 1e-6), waits_in_class(res, b, k)]


def round_trip_row(res, k, q, a, b):
    row = [queue_label(res, q)]
    for c in (a, b):
        row += [fmt_samples(res.class_samples(c, k)), p99_in_class(res, c, k)]
    return row


def table(header, rows):
    return table_head(header) + ["| " + " | ".join(row) + " |" for row in rows]


# ---- the section ----

def render(res, results_path, command, notes, notes_path):
    m = res.meta
    lines = ["## Rings: one producer, one consumer (ring_bench)", ""]
    lines.append(f"Generated by `tools/bench_report.py` from `{results_path}`; do not edit by "
                 "hand, rerun the command.")
    lines.append("")
    if command:
        lines.append(f"- Command: `{command}`")
    lines.append(f"- ring_bench command line: `{m['command']}`")
    dirty = " (uncommitted changes in core/ or bench/)" if m.get("git_dirty_core_or_bench") else ""
    lines.append(f"- Commit `{m['git_commit']}`{dirty}, {m['compiler']}, "
                 f"build type {m['build_type'] or 'unset'}, run {m['date_utc']}")
    lines.append(f"- Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['kernel']}; "
                 f"producer on CPU {m['producer_cpu']}, consumer on CPU {m['consumer_cpu']}, "
                 f"pinned: {'yes' if m['pinned'] else 'NO (pinning failed)'}; "
                 f"load average {m['loadavg_start']} at start, {m['loadavg_end']} at end")
    lines.append(f"- {m['reps']} measured rounds after {m['warmup_rounds']} discarded warm-up "
                 f"round ({'--quick smoke run, ' if m['quick'] else ''}~{m['target_run_seconds']}"
                 f" s per run, {m['duration_s']:.0f} s in all); {m['order']}")
    fr = m["frame_ring_bytes"]
    lines.append(f"- Capacity {m['capacity']} slots for every queue; the frame ring gets "
                 f"{fr['8']} bytes for 8-byte payloads and {fr['64']} bytes for 64-byte payloads "
                 "(capacity x frame footprint, rounded up to a power of two)")
    lines.append(f"- Round trip: median per trip from a log-linear histogram, timer "
                 f"{m['round_trip_timer']} (it moves in steps of "
                 f"{fmt_num(m['timer_step_ns'], 2)} ns; each sample is spread over one step, "
                 "see tools/support/lanes_support/histogram.hpp)")
    floors = [f for c in res.data["results"] for f in c["floor_ns_samples"]]
    class_runs = [sum(1 for c in res.data["results"] for i in range(len(c["samples"]))
                      if res.class_of(c, i) == k) for k in range(len(res.classes))]
    repeated = sum(a - 1 for c in res.data["results"] for a in c["attempts"])
    unstable = sum(1 - s for c in res.data["results"] for s in c["stable_samples"])
    if floors:
        few = [n < MIN_CLASS_SHARE * sum(class_runs) for n in class_runs]
        groups = "; ".join(f"{placement_name(res, k)}: {plural(n, 'run')}" +
                           (" (too few for tables)" if few[k] else "")
                           for k, n in enumerate(class_runs))
        lines.append(f"- Placement: the hypervisor moves the two vCPUs between core placements "
                     f"that change every number several-fold, so a ping-pong probe brackets "
                     f"each run ({fmt_num(min(floors))}-{fmt_num(max(floors))} ns per trip "
                     f"here). {groups}. {plural(repeated, 'run')} repeated because the "
                     "placement moved during them or another task took their cores "
                     f"(involuntary context switches above {m.get('max_preemptions', '?')}); "
                     f"{unstable} still unstable after retries and left out. Tables are per placement; ratios pair only runs in the same one.")
    lines.append("")

    # Throughput and round-trip tables, one pair per placement that held a fair share of the
    # runs (a placement seen for a run or two gets no tables of its own).
    total_runs = sum(class_runs)
    for k in range(len(res.classes)):
        if class_runs[k] < MIN_CLASS_SHARE * total_runs:
            continue
        name = placement_name(res, k)
        lines.append(f"### {name}: throughput, million items/s")
        lines.append("")
        lines.append("median (min-max) [runs] over the runs in this placement; waits: failed "
                     "pops (ring empty) / failed pushes (ring full) per item, medians; they "
                     "tell whether the consumer kept up (empty ring, every item a cache-line "
                     "handoff) or fell behind (full ring, both sides streaming)")
        lines.append("")
        lines += table(["queue", "8 B", "8 B waits", "64 B", "64 B waits"],
                       queue_rows(res, k, "throughput", throughput_row))
        lines.append("")
        lines.append(f"### {name}: round trip, ns")
        lines.append("")
        lines.append("median per trip: median (min-max) [runs] over the runs in this placement; "
                     "p99: median over those runs")
        lines.append("")
        lines += table(["queue", "8 B", "8 B p99", "64 B", "64 B p99"],
                       queue_rows(res, k, "round_trip", round_trip_row))
        lines.append("")

    # Targets.
    lines.append("### Targets")
    lines.append("")
    lines.append("Measured: median (min-max) over rounds of ours/peer; for \"best\" the best peer "
                 "of each round. A round counts when the runs compared had the same placement; "
                 "the result is judged on all such rounds, the placement column splits them "
                 "[rounds].")
    lines.append("")
    rows = []
    for tid, what, ours, peers, metric, size, op, threshold in TARGETS:
        r = res.target_ratio(ours, peers, metric, size)
        if r is None or r["median"] is None:
            verdict = "not measured"
        else:
            verdict = "met" if goal_met(r["median"], op, threshold) else "**missed**"
        note = "see below" if tid in notes else ""
        if verdict != "met" and not note:
            note = "(no note yet: add one to bench/notes.json)"
        used = f", {len(r['samples'])} rounds" if r and r["median"] is not None else ""
        skipped = f", {r['skipped']} skipped" if r and r["skipped"] else ""
        unit = "throughput" if metric == "throughput" else "round trip"
        per_class = []
        for k in range(len(res.classes)):
            rk = res.target_ratio(ours, peers, metric, size, placement=k)
            if rk is not None and rk["median"] is not None:
                per_class.append(f"{placement_short(res, k)}: {rk['median']:.2f}x "
                                 f"[{len(rk['samples'])}]")
        rows.append([f"`{tid}`", f"{what} ({unit}, {size} B)", f"{op} {threshold:g}x",
                     fmt_ratio(r) + used + skipped, "; ".join(per_class) or "-", verdict, note])
    lines += table(["id", "target", "goal", "measured (all rounds)", "by placement", "result",
                    "why"], rows)
    lines.append("")
    if notes:
        lines.append(f"Why (explanations written by people in `{notes_path}`; every measured "
                     "number on this page comes from the results file):")
        lines.append("")
        for tid, *_ in TARGETS:
            if tid in notes:
                lines.append(f"- `{tid}`: {notes[tid]}")
        lines.append("")

    # All pair ratios of ours.
    lines.append("### Ours / peer, median of per-round ratios")
    lines.append("")
    lines.append("Throughput: above 1 is ours faster. Round trip: below 1 is ours faster.")
    lines.append("")
    cols = [("throughput", 8), ("throughput", 64), ("round_trip", 8), ("round_trip", 64)]
    rows = []
    for ours in [q for q in res.order if res.queues[q]["ours"]]:
        for peer in res.order:
            if peer == ours:
                continue
            vals = []
            for metric, size in cols:
                r = res.ratios.get((ours, peer, metric, size))
                vals.append("-" if r is None or r["median"] is None else f"{r['median']:.2f}")
            if any(v != "-" for v in vals):
                rows.append([res.queues[ours]["name"], res.queues[peer]["name"]] + vals)
    lines += table(["ours", "peer", "tput 8 B", "tput 64 B", "rtt 8 B", "rtt 64 B"], rows)
    lines.append("")
    return section_text("ring-bench", lines)


def check_ratios(res):
    """The single-peer target ratios computed here must equal ring_bench's own."""
    for tid, _, ours, peers, metric, size, _, _ in TARGETS:
        if len(peers) != 1:
            continue
        mine = res.target_ratio(ours, peers, metric, size)
        theirs = res.ratios.get((ours, peers[0], metric, size))
        if mine is None or theirs is None or mine["median"] is None:
            continue
        if not math.isclose(mine["median"], theirs["median"], rel_tol=1e-9):
            sys.exit(f"bench_report: {tid}: ratio {mine['median']} differs from the JSON's "
                     f"{theirs['median']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/ring_bench.json")
    ap.add_argument("--output", default="BENCHMARKS.md")
    ap.add_argument("--notes", default="bench/notes.json",
                    help="JSON object: target id -> why text (optional file)")
    ap.add_argument("--command", default="",
                    help="the command that produced the results, shown in the report")
    args = ap.parse_args()

    res = Results(load_json(args.results))
    notes = load_json(args.notes, {})
    unknown = set(notes) - {t[0] for t in TARGETS}
    if unknown:
        sys.exit(f"bench_report: {args.notes}: unknown target ids {sorted(unknown)}")
    check_ratios(res)
    write_section(args.output, render(res, args.results, args.command, notes, args.notes), "ring-bench",
                  new_file=NEW_FILE)
    print(f"bench_report: wrote the ring-bench section of {args.output} from {args.results}")


if __name__ == "__main__":
    main()
