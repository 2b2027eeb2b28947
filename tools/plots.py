#!/usr/bin/env python3
"""Draw the benchmark plots (PNG, gnuplot) from the result files.

    tools/plots.py [--ring bench/results/ring_bench.json] [--bus bench/results/bus_bench.json]
                   [--persist bench/results/persist_bench.json]
                   [--queue bench/results/queue_bench.json] [--dir results/plots]
                   [--publish bench/results/plots]

For each plot a data file (.dat) and a gnuplot script (.gp) are written to --dir and gnuplot
draws the PNG beside them; --publish also copies the PNGs there (the committed copies that
README.md and BENCHMARKS.md show). A result file that is missing, or lacks a case, skips the
plots that need it. Every number comes from the JSON; nothing is typed in here.

  ring_throughput.png    rings vs Boost, moodycamel, atomic_queue, TBB: median, min-max bars
  bus_throughput.png     bus cases vs the frame ring and ZeroMQ (PUSH/PULL, and PUB/SUB for the
                         fan-out to two readers): median, min-max bars
  bus_latency.png        latency percentile curves (p50..p99.99, max) at the same fixed rate
  bus_sweep.png          p99 against the offered rate: where latency turns up
  bus_scaling.png        msgs/s by partitions x producers, one line per value size
  persist_throughput.png durable async throughput against fio on the same disk
  persist_ack.png        durable-ack latency (sync topic) by producers against fio fdatasync
  persist_window.png     durable-ack latency p50 and p99 against the async group-commit window,
                         sync as the reference
  queue_throughput.png   queue mode (receive + ack) vs boost::lockfree::queue and atomic_queue at
                         1+1 and 2+2 threads: median, min-max bars
"""

import argparse
import os
import shutil
import subprocess
import sys

from report_sections import add_result_args, load_json

TERMINAL = "set terminal pngcairo size 960,560 noenhanced font 'sans,10'"


def quote(s):
    return '"' + str(s).replace('"', "'") + '"'


class Plotter:
    def __init__(self, out_dir):
        self.dir = out_dir
        self.made = []
        os.makedirs(out_dir, exist_ok=True)

    def draw(self, name, data, script):
        """data: text of name.dat; script: gnuplot commands that read DAT and write OUT."""
        dat = os.path.join(self.dir, name + ".dat")
        gp = os.path.join(self.dir, name + ".gp")
        png = os.path.join(self.dir, name + ".png")
        with open(dat, "w", encoding="utf-8") as f:
            f.write(data)
        with open(gp, "w", encoding="utf-8") as f:
            f.write(f"{TERMINAL}\nset output {quote(name + '.png')}\nDAT = {quote(name + '.dat')}\n")
            f.write(script)
        subprocess.run(["gnuplot", name + ".gp"], cwd=self.dir, check=True)
        self.made.append(png)
        print(f"plots: wrote {png}")


def source_line(d):
    """Where a result file came from: commit, compiler, CPU, date (ring_bench says date_utc)."""
    date = d.get("date", d.get("date_utc"))
    return f"commit {d['git_commit']}, {d['compiler']}, {d['cpu_model']}, {date}"


def bar_cells(x):
    """A case's median, min and max in millions, the three columns of a bar with its error bar;
    three dashes (gnuplot's missing value) for a case the results lack."""
    if x is None:
        return ["-", "-", "-"]
    return [x["median"] / 1e6, x["min"] / 1e6, x["max"] / 1e6]


def data_row(name, values):
    """One line of a plot's data file: the quoted name, then the values."""
    return f"{quote(name)} " + " ".join(str(v) for v in values)


def log_log(xlabel, ylabel, xtics=""):
    """The settings of a plot with both axes logarithmic, a grid and the key at the top left
    (the latency plots); `xtics`, when given, places the x tics (gnuplot's `set xtics` list)."""
    tics = f"set xtics {xtics}\n" if xtics else ""
    return (f"set logscale x\nset logscale y\nset xlabel {quote(xlabel)}\nset ylabel {quote(ylabel)}\n"
            f"{tics}set grid\nset key top left\n")


BARS = """set datafile missing "-"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -30 left
set key top right
"""


def ring_throughput(p, ring):
    names = {q["id"]: q["name"] for q in ring["queues"]}
    order = [q["id"] for q in ring["queues"] if q["family"] != "floor"]
    rows = []
    for qid in order:
        cells = []
        for size in (8, 64):
            r = next((r for r in ring["results"] if r["queue"] == qid and r["metric"] == "throughput"
                      and r["item_bytes"] == size and r.get("median")), None)
            cells += bar_cells(r)
        rows.append(data_row(names[qid], cells))
    m = ring["metadata"]
    script = BARS + f"""set title "Rings, 1 producer / 1 consumer: throughput, median and min-max over {m['reps']} rounds\\n{source_line(m)}"
set ylabel "million items/s (log scale)"
set logscale y
set yrange [0.5:*]
set bmargin 9
plot DAT using 2:3:4:xtic(1) title "8-byte items", '' using 5:6:7 title "64-byte items"
"""
    p.draw("ring_throughput", "# queue  8B median min max  64B median min max (M items/s)\n" + "\n".join(rows) + "\n", script)


BUS_NAMES = {
    "bus_p1": "bus, 1 partition",
    "bus_batch": "bus, publish_batch 64",
    "bus_p4": "bus, 4 partitions",
    "bus_p16": "bus, 16 partitions",
    "queue_p1": "queue topic, receive+ack",
    "frame_ring": "raw frame_ring",
    "zmq_push_pull": "ZeroMQ inproc PUSH/PULL",
    "bus_latency": "lanes bus publish -> poll",
    "ring_latency": "lanes frame_ring (one way)",
    "zmq_latency": "ZeroMQ inproc PUSH -> PULL",
    "bus_fanout": "fan-out: bus, 2 groups",
    "zmq_pub_sub": "fan-out: ZeroMQ PUB, 2 SUB",
}


def bus_throughput(p, bus):
    c = bus["cases"]
    ids = [i for i in ("bus_p1", "bus_batch", "bus_p4", "bus_p16", "queue_p1", "frame_ring",
                       "zmq_push_pull", "bus_fanout", "zmq_pub_sub") if i in c]
    if not ids:
        return
    rows = [data_row(BUS_NAMES[i], bar_cells(c[i])) for i in ids]
    fanout = ("\\nfan-out: 1 producer / 2 readers that each get every message, msgs/s per reader"
              if "bus_fanout" in ids else "")
    script = BARS + f"""set title "Bus end to end, 1 producer / 1 consumer, {bus['value_bytes']}-byte values: median and min-max over {bus['reps']} rounds{fanout}\\n{source_line(bus)}"
set rmargin 14
set ylabel "million msgs/s"
set yrange [0:*]
set key off
set bmargin 8
plot DAT using 2:3:4:xtic(1) lc rgb "#4477aa"
"""
    p.draw("bus_throughput", "# case median min max (M msgs/s)\n" + "\n".join(rows) + "\n", script)


QNAMES = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("p9999", 0.9999)]


def bus_latency(p, bus):
    c = bus["cases"]
    ids = [i for i in ("bus_latency", "ring_latency", "zmq_latency") if i in c and "percentiles" in c[i]]
    if not ids:
        return
    lines = ["# x = 1/(1-q); then latency us per case: " + " ".join(ids)]
    for name, q in QNAMES:
        lines.append(f"{1 / (1 - q)} {quote(name)} " + " ".join(str(c[i]['percentiles'][name] / 1e3) for i in ids))
    plots = ", ".join(f"DAT using 1:{k + 3} with linespoints lw 2 title {quote(BUS_NAMES[i])}"
                      for k, i in enumerate(ids))
    axes = log_log("percentile", "latency, microseconds (log scale)",
                   '("50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000)')
    script = f"""set title "Latency percentiles at {bus['latency_rate_per_s']:.0f} msgs/s, timed from when each message was due (median of {bus['reps']} rounds)\\n{source_line(bus)}"
{axes}plot {plots}
"""
    p.draw("bus_latency", "\n".join(lines) + "\n", script)


def bus_sweep(p, bus):
    sw = bus.get("sweep")
    if not sw:
        return
    blocks = []
    ids = [i for i in ("bus", "zmq") if any(x["case"] == i for x in sw["points"])]
    for i in ids:
        pts = sorted((x for x in sw["points"] if x["case"] == i), key=lambda x: x["rate_per_s"])
        blocks.append(f"# {i}: rate p99 p99_min p99_max p50 (us)\n" + "\n".join(
            f"{x['rate_per_s']} {x['p99'] / 1e3} {x['p99_min'] / 1e3} {x['p99_max'] / 1e3} {x['p50'] / 1e3}"
            for x in pts))
    label = {"bus": "lanes bus", "zmq": "ZeroMQ inproc PUSH/PULL"}
    plots = ", ".join(
        f"DAT index {k} using 1:2:3:4 with yerrorlines lw 2 title {quote(label[i] + ' p99')}, "
        f"DAT index {k} using 1:5 with linespoints dt 2 title {quote(label[i] + ' p50')}"
        for k, i in enumerate(ids))
    axes = log_log("offered rate, msgs/s (log scale)", "latency, microseconds (log scale)")
    script = f"""set title "Latency against offered rate ({sw['seconds']} s per point, median of {sw['reps']} runs, bars min-max p99)\\n{source_line(bus)}"
{axes}plot {plots}
"""
    p.draw("bus_sweep", "\n\n\n".join(blocks) + "\n", script)


def bus_scaling(p, bus):
    sc = bus.get("scaling")
    if not sc:
        return
    cells = sc["cells"]
    combos = sorted({(x["partitions"], x["producers"]) for x in cells})
    sizes = sorted({x["value_bytes"] for x in cells})
    lines = ["# combo " + " ".join(f"{s}B_median min max" for s in sizes)]
    for parts, prods in combos:
        row = []
        for s in sizes:
            x = next((x for x in cells if x["partitions"] == parts and x["producers"] == prods
                      and x["value_bytes"] == s), None)
            row += bar_cells(x)
        lines.append(data_row(f"{parts}p x {prods} prod", row))
    plots = ", ".join(
        (f"DAT using {2 + 3 * k}:{3 + 3 * k}:{4 + 3 * k}:xtic(1)" if k == 0 else
         f"'' using {2 + 3 * k}:{3 + 3 * k}:{4 + 3 * k}") + f" title {quote(str(s) + ' B values')}"
        for k, s in enumerate(sizes))
    script = BARS + f"""set title "Bus scaling: partitions x producers x value size (median, min-max of {sc['reps']} runs)\\n{source_line(bus)}"
set ylabel "million msgs/s (log scale)"
set logscale y
set bmargin 7
plot {plots}
"""
    p.draw("bus_scaling", "\n".join(lines) + "\n", script)


PERSIST_NAMES = {
    "bus_async": "lanes bus, async group commit",
    "fio_seq_uring": "fio buffered io_uring, fdatasync each",
    "fio_seq_psync": "fio buffered psync, fdatasync each",
    "fio_seq_psync_matched": "fio buffered psync, matched syncs",
    "fio_seq_uring_matched": "fio buffered io_uring, matched syncs",
    "fio_seq_direct": "fio O_DIRECT io_uring",
}


def persist_throughput(p, d):
    c = d["cases"]
    ids = [i for i in PERSIST_NAMES if i in c]
    if "bus_async" not in c or "fio_seq_best" not in c:
        return
    rows = [data_row(PERSIST_NAMES[i], [c[i]["value"][k] for k in ("median", "min", "max")]) for i in ids]
    best = c["fio_seq_best"]["value"]["median"]
    prm = d["params"]
    script = BARS + f"""set title "Durable writes, {prm['async_value_bytes']}-byte values, {prm['async_bytes'] >> 20} MiB per run: MB/s, median and min-max over {d['reps']} rounds\\n{source_line(d)}"
set ylabel "MB/s (10^6 bytes/s)"
set yrange [0:*]
set key top right
set bmargin 9
plot DAT using 2:3:4:xtic(1) lc rgb "#4477aa" notitle, {best} with lines lw 2 dt 2 lc rgb "#cc3311" title "best buffered fio run per round (the target reference), median {best:.0f} MB/s"
"""
    p.draw("persist_throughput", "# case median min max (MB/s)\n" + "\n".join(rows) + "\n", script)


def persist_ack(p, d):
    c = d["cases"]
    ids = [i for i in ("bus_sync_p1", "bus_sync_p2", "bus_sync_p4") if i in c]
    if not ids or "fio_sync_lat" not in c:
        return
    rows = []
    for i in ids:
        n = i[-1]
        rows.append(f"{n} {c[i]['p50']['median'] / 1e6} {c[i]['p99']['median'] / 1e6}")
    f50 = c["fio_sync_lat"]["p50"]["median"] / 1e6
    f99 = c["fio_sync_lat"]["p99"]["median"] / 1e6
    prm = d["params"]
    script = f"""set title "Durable-ack latency on a sync topic by producers ({prm['sync_value_bytes']}-byte values), median over {d['reps']} rounds;\\nfio fdatasync at the same write size as lines (against the async window: persist_window.png)\\n{source_line(d)}"
set xlabel "producers waiting for their acks (group commit)"
set ylabel "milliseconds (log scale)"
set logscale y
set xrange [0.5:4.5]
set xtics 1
set grid
set key top right
set arrow from graph 0, first {f50} to graph 1, first {f50} nohead dt 2 lc rgb "#228833"
set arrow from graph 0, first {f99} to graph 1, first {f99} nohead dt 2 lc rgb "#cc3311"
set label "fio fdatasync p50" at graph 0.02, first {f50} offset 0,0.6 tc rgb "#228833"
set label "fio fdatasync p99" at graph 0.02, first {f99} offset 0,0.6 tc rgb "#cc3311"
plot DAT using 1:2 with linespoints lw 2 lc rgb "#228833" title "bus ack p50", DAT using 1:3 with linespoints lw 2 lc rgb "#cc3311" title "bus ack p99"
"""
    p.draw("persist_ack", "# producers ack_p50_ms ack_p99_ms\n" + "\n".join(rows) + "\n", script)


def persist_window(p, d):
    sw = d.get("window_sweep")
    if not sw:
        return
    pts = sw["points"]
    asyncs = sorted((x for x in pts if x["durability"] == "async" and x["ack"] == "on_durable"),
                    key=lambda x: x["window_us"])
    if not asyncs:
        return
    lat = lambda x, k: x["latency"][k]["median"] / 1e6  # noqa: E731
    rows = [f"{x['window_us']} {lat(x, 'p50')} {lat(x, 'p99')} {x['latency']['p99']['min'] / 1e6} "
            f"{x['latency']['p99']['max'] / 1e6}" for x in asyncs]
    refs = []
    sync = next((x for x in pts if x["durability"] == "sync"), None)
    if sync:
        # The sync topic's own cost per publish (publish -> durable, closed loop): at this
        # rate a sync producer may fall behind, and its latency from the due time is then
        # queueing (both are in the table of BENCHMARKS.md).
        if "svc_p50" in sync["latency"]:
            refs += [(lat(sync, "svc_p50"), "sync topic, publish -> durable p50", "#228833", 2),
                     (lat(sync, "svc_p99"), "sync topic, publish -> durable p99", "#cc3311", 2)]
    wait = next((x for x in pts if x["ack"] == "wait_durable" and "svc_p50" in x["latency"]), None)
    extra = ""
    if wait:
        title = f"wait_durable after each publish at {wait['window_us']} us: publish -> durable p50"
        extra = f", DAT2 using 1:2 with points pt 7 ps 1.5 lc rgb \"#aa3377\" title {quote(title)}"
    arrows = "".join(
        f"set arrow from graph 0, first {v} to graph 1, first {v} nohead dt {dt} lc rgb {quote(col)}\n"
        f"set label {quote(name)} at graph 0.02, first {v} offset 0,0.6 tc rgb {quote(col)}\n"
        for v, name, col, dt in refs)
    data = ("# window_us ack_p50_ms ack_p99_ms p99_min p99_max\n" + "\n".join(rows) + "\n")
    # Log y range over every value drawn, the reference lines included, with room for the key.
    values = [v for x in asyncs for v in (lat(x, "p50"), x["latency"]["p99"]["min"] / 1e6,
                                          x["latency"]["p99"]["max"] / 1e6)]
    values += [v for v, _, _, _ in refs] + ([lat(wait, "svc_p50")] if wait else [])
    values = [v for v in values if v > 0]
    yrange = f"set yrange [{min(values) / 2}:{max(values) * 8}]\n" if values else ""
    axes = log_log("group-commit window, microseconds (log scale)", "milliseconds (log scale)")
    script = f"""set title "Durable-ack latency against the async group-commit window (sync_interval): {sw['value_bytes']}-byte values at {sw['rate_per_s']:.0f} msgs/s,\\nacks from bus::on_durable, timed from when each record was due; median of {sw['reps']} runs, bars min-max p99\\n{source_line(d)}"
{axes}{yrange}{arrows}"""
    if wait:
        with open(os.path.join(p.dir, "persist_window_wait.dat"), "w", encoding="utf-8") as f:
            f.write(f"{wait['window_us']} {lat(wait, 'svc_p50')}\n")
        script += 'DAT2 = "persist_window_wait.dat"\n'
    script += ("plot DAT using 1:2 with linespoints lw 2 lc rgb \"#228833\" title \"async ack p50\", "
               "DAT using 1:3:4:5 with yerrorlines lw 2 lc rgb \"#cc3311\" title \"async ack p99\""
               + extra + "\n")
    p.draw("persist_window", data, script)


QUEUE_NAMES = [
    ("lanes_queue", "lanes queue: receive + ack"),
    ("lanes_log", "lanes log: poll, no ack"),
    ("boost_queue", "boost::lockfree::queue"),
    ("atomic_queue", "atomic_queue MPMC"),
]


def queue_throughput(p, q):
    c = q["cases"]
    rows = []
    for base, name in QUEUE_NAMES:
        cells = []
        for cfg in ("1p1c", "2p2c"):
            x = c.get(f"{base}_{cfg}")
            cells += bar_cells(x)
        if any(v != "-" for v in cells):
            rows.append(data_row(name, cells))
    if not rows:
        return
    script = BARS + f"""set title "Queue mode against queues without acknowledgement, {q['value_bytes']}-byte values: median and min-max over {q['reps']} rounds\\n{source_line(q)}"
set ylabel "million msgs/s"
set yrange [0:*]
set bmargin 8
plot DAT using 2:3:4:xtic(1) title "1 producer + 1 consumer", '' using 5:6:7 title "2 producers + 2 consumers (parking)"
"""
    p.draw("queue_throughput", "# case 1p1c median min max  2p2c median min max (M msgs/s)\n" + "\n".join(rows) + "\n", script)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_result_args(ap)
    ap.add_argument("--dir", default="results/plots")
    ap.add_argument("--publish", default="")
    a = ap.parse_args()
    if shutil.which("gnuplot") is None:
        sys.exit("plots: gnuplot not found (Debian package gnuplot-nox, see tools/setup.sh)")
    p = Plotter(a.dir)
    ring, bus, persist, queue = (load_json(path) for path in (a.ring, a.bus, a.persist, a.queue))
    if ring:
        ring_throughput(p, ring)
    if bus:
        bus_throughput(p, bus)
        bus_latency(p, bus)
        bus_sweep(p, bus)
        bus_scaling(p, bus)
    if persist:
        persist_throughput(p, persist)
        persist_ack(p, persist)
        persist_window(p, persist)
    if queue:
        queue_throughput(p, queue)
    if a.publish:
        os.makedirs(a.publish, exist_ok=True)
        for png in p.made:
            shutil.copy(png, a.publish)
        print(f"plots: copied {len(p.made)} PNGs to {a.publish}")


if __name__ == "__main__":
    main()
