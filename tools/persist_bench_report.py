#!/usr/bin/env python3
"""Render persist_bench results (JSON) into the marked persist-bench section of BENCHMARKS.md.

    tools/persist_bench_report.py [--results results/persist_bench.json] [--output BENCHMARKS.md]
                                  [--notes bench/persist_notes.json] [--command "tools/bench.sh"]

Every number comes from the results file (persist_bench parses fio's JSON and stores, per
round, the bus's and fio's numbers and their ratios). The section sits between
<!-- persist-bench:begin --> and <!-- persist-bench:end -->; the rest of the file is left
alone. A missed target gets a "why" from the notes file (target id -> text), written by a
person after looking at the numbers. Python 3 standard library only.
"""

import statistics

from report_sections import (fmt_ratio, ratio_targets_table, rounds_line, section_head,
                             section_text, suite_report_main)

# id, what it says, ratio id in the results, op, threshold (issue 5's benchmark points)
TARGETS = [
    ("async_tput_vs_fio",
     "async durability: sustained publish throughput (1 KiB values, until the last is durable) "
     "vs fio sequential buffered writes to the same directory, same bs, best of io_uring/psync at "
     "the configured and at the bus's observed fdatasync cadence",
     "async_vs_fio_best", ">=", 0.85),
    ("sync_p50_vs_fio_p99",
     "sync durability: durable-ack latency p50 (1 KiB value, one producer) vs fio's fdatasync p99 "
     "at the same write size",
     "sync_p50_vs_fio_sync_p99", "<=", 1.5),
    ("sync_p99_vs_fio_p99",
     "sync durability: durable-ack latency p99 vs fio's fdatasync p99 at the same write size",
     "sync_p99_vs_fio_sync_p99", "<=", 1.5),
    ("memory_only_with_data_dir",
     "memory-only throughput: durability::none topic on a bus with a data directory vs a topic "
     "on a bus without one",
     "mem_dir_vs_nodir", ">=", 0.95),
]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def span(xs, fmt):
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})" if xs else "-"


def metric(data, case, name):
    return data["cases"][case].get(name, {}).get("samples", [])


def per_round(a, b, fn):
    return [fn(x, y) for x, y in zip(a, b) if y]


def render(data, results_path, command, notes):
    d = data["disk"]
    p = data["params"]
    r = data["ratios"]
    out = section_head("Persistence: durable topics against fio on the same disk (persist_bench)",
                       "persist_bench_report", results_path, command)
    out.append(f"- Commit `{data['git_commit']}`, {data['compiler']}, CPU {data['cpu_model']} "
               f"({data['cpus']} CPUs, shared), run {data['date']}, load average "
               f"{data['load_average']:.2f} at start, {data['load_average_end']:.2f} at end (per round: "
               f"{', '.join(f'{x:.1f}' for x in data.get('round_load_average', []))})")
    out.append(f"{rounds_line(data)}; every case once per round, fio and "
               "the bus alternating; ratios are taken within a round, then their median")
    out.append(f"- Disk: `{d['dir']}` on `{d['device']}` ({d['fs_type']}, mounted on "
               f"`{d['mount_point']}` with `{d['mount_options']}`), block device `{d['block_device']}` "
               f"({d['size_bytes'] / 2**30:.0f} GiB, write cache: {d['write_cache']}, "
               f"rotational={d['rotational']}, journal: {d.get('journal', '?')}): {d['kind']}. "
               f"{data['fio_version']}. fio and the bus "
               "write fresh files in the same directory, appending from empty")
    out.append(f"- Async: one producer, `publish_batch` of {p['async_batch_msgs']} x "
               f"{p['async_value_bytes']}-byte values, {p['async_bytes'] >> 20} MiB per run, "
               f"{p['async_ring_bytes'] >> 20} MiB ring, group commit every "
               f"{p['async_sync_bytes'] >> 20} MiB or {p['async_sync_interval_us']} us; the clock "
               "stops when the last record is durable (`wait_durable`). fio: "
               f"`--bs={p['fio_seq_bs']} --fdatasync={p['fio_seq_fdatasync']}` (the persister's "
               "batch target and the sync_bytes cadence), the same number of bytes")
    out.append(f"- Sync: {p['sync_ops']} publishes of {p['sync_value_bytes']}-byte values per run, "
               f"each returning once durable; the bus writes {p['sync_write_bytes']} bytes per such "
               f"publish (batch header + frame, measured), so fio writes `--bs={p['sync_write_bytes']} "
               "--fdatasync=1` and its `sync` latency percentiles are the reference. Both are "
               "closed loops (the next write starts when the previous is durable)")
    out.append(f"- Group commit: a multi-producer sync topic, 1/2/4 threads publishing "
               f"{p['sync_value_bytes']}-byte values for {p['multi_seconds']} s each, parked while "
               "they wait for their ack (more threads than cores: they do not spin)")
    out.append(f"- Memory only: {p['mem_count']} x {p['mem_value_bytes']}-byte values, one producer "
               "on CPU 0, one busy consumer-group member on CPU 1, single-producer topic, "
               f"{p['mem_ring_bytes'] >> 20} MiB ring; the two peers alternate which goes first")
    out.append("")

    out.append("### Targets")
    out.append("")
    out.append("Measured: median (min-max) over rounds of the per-round ratio. The disk is shared "
               "with other tenants: a round in which one of them was syncing shows up as a wide "
               "range; \"rounds on both sides\" marks a target whose rounds fell on both sides "
               "of the goal.")
    out.append("")
    # A median on the right side with rounds on the wrong side is reported as such.
    out += ratio_targets_table(TARGETS, r, notes, "bench/persist_notes.json", both_sides=True)
    out.append("")

    out.append("### Sequential writes, MB/s (10^6 bytes/s): median (min-max)")
    out.append("")
    out.append("| case | MB/s | bus / this | CPU s per GB |")
    out.append("| --- | --- | --- | --- |")
    out.append(f"| lanes bus, async, value bytes | {span(metric(data, 'bus_async', 'value'), '{:.0f}')} | - | "
               f"{med(metric(data, 'bus_async', 'cpu_s_per_gb')):.2f} |")
    out.append(f"| lanes bus, async, segment bytes (headers included) | "
               f"{span(metric(data, 'bus_async', 'disk_mb_s'), '{:.0f}')} | - | - |")
    for cid, name, rid in [
            ("fio_seq_uring", f"fio buffered, io_uring iodepth {p['fio_iodepth']}, --fdatasync={p['fio_seq_fdatasync']}",
             "async_vs_fio_uring"),
            ("fio_seq_psync", f"fio buffered, psync, --fdatasync={p['fio_seq_fdatasync']}", "async_vs_fio_psync"),
            ("fio_seq_psync_matched", "fio buffered, psync, --fdatasync matched to the bus's flushes",
             "async_vs_fio_psync_matched"),
            ("fio_seq_uring_matched", f"fio buffered, io_uring iodepth {p['fio_iodepth']}, --fdatasync matched",
             "async_vs_fio_uring_matched"),
            ("fio_seq_best", "**best buffered fio run of the round (the target's reference)**", "async_vs_fio_best"),
            ("fio_seq_direct", f"fio O_DIRECT, io_uring iodepth {p['fio_iodepth']}, --fdatasync={p['fio_seq_fdatasync']}",
             "async_vs_fio_direct")]:
        x = r[rid]
        out.append(f"| {name} | {span(metric(data, cid, 'value'), '{:.0f}')} | "
                   f"{fmt_ratio(x)} | "
                   f"{med(metric(data, cid, 'cpu_s_per_gb')):.2f} |")
    which = [p["best_buffered_of"][int(w)] for w in metric(data, "fio_seq_best", "which")]
    every = metric(data, "fio_seq_psync_matched", "fdatasync_every")
    out.append("")
    out.append(f"Matched cadence: one fdatasync every {span(every, '{:.0f}')} writes of "
               f"{p['fio_seq_bs'] >> 10} KiB, from the bus's block-device flushes in the same round "
               f"(median {med(metric(data, 'bus_async', 'dev_flushes')):.0f} per run; segment rolls "
               "add a few, so fio gets slightly more syncs than the bus did). Best buffered run per "
               f"round: {', '.join(f'`{w}`' for w in which)}. CPU: user + system time of every "
               "thread of the process over the run (the bus: producer, persister and io_uring's io-wq "
               f"workers; fio: the whole process less its start-up, {data.get('fio_startup_cpu_s', 0):.2f} s "
               "measured with a one-block job), per GB of values; a rough gauge on a shared machine.")
    out.append("")
    out.append(f"The bus's writes averaged {med(metric(data, 'bus_async', 'avg_batch_bytes')) / 1024:.0f} KiB "
               f"({med(metric(data, 'bus_async', 'batches')):.0f} batches per run); publishing alone "
               f"ran at {med(metric(data, 'bus_async', 'publish_mb_s')):.0f} MB/s and the last "
               f"record became durable {med(metric(data, 'bus_async', 'tail_ms')):.1f} ms after the "
               f"last publish (medians).")
    out.append("")

    out.append("### Durable-ack latency, one producer, milliseconds: median over rounds")
    out.append("")
    out.append("| case | p50 | p99 | p99.9 | max | ops/s | CPU us per op | context switches per op |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    f = "{:.3f}"
    bus = "bus_sync_lat"
    fio = "fio_sync_lat"
    out.append(f"| lanes bus `publish` on a sync topic (write + fdatasync + ack) | "
               f"{f.format(med(metric(data, bus, 'p50')) / 1e6)} | {f.format(med(metric(data, bus, 'p99')) / 1e6)} | "
               f"{f.format(med(metric(data, bus, 'p999')) / 1e6)} | {f.format(med(metric(data, bus, 'max')) / 1e6)} | "
               f"{med(metric(data, bus, 'ops_per_s')):.0f} | {med(metric(data, bus, 'cpu_us_per_op')):.0f} | "
               f"{med(metric(data, bus, 'switches_per_op')):.1f} |")
    out.append(f"| fio `fdatasync` alone (`sync` clat, psync, --fdatasync=1) | "
               f"{f.format(med(metric(data, fio, 'p50')) / 1e6)} | {f.format(med(metric(data, fio, 'p99')) / 1e6)} | "
               f"{f.format(med(metric(data, fio, 'p999')) / 1e6)} | {f.format(med(metric(data, fio, 'max')) / 1e6)} | "
               f"{med(metric(data, fio, 'iops')):.0f} (write + fdatasync) | "
               f"{med(metric(data, fio, 'cpu_us_per_op')):.0f} | {med(metric(data, fio, 'switches_per_op')):.1f} |")
    x = r["sync_p50_vs_fio_sync_p50"]
    out.append("")
    out.append(f"Bus p50 / fio fdatasync p50: {fmt_ratio(x)}. "
               f"fio's write() alone: p50 {med(metric(data, fio, 'write_p50')) / 1e3:.1f} us. "
               "Block-device flushes per fdatasync (fio): "
               f"{med(metric(data, fio, 'flushes_per_sync')):.2f}; per bus publish: "
               f"{med(metric(data, bus, 'flushes_per_msg')):.2f}. Flushes from other tenants of the disk "
               "during each fio fdatasync run (device flushes less fio's fdatasyncs): "
               f"{', '.join(f'{a - b:.0f}' for a, b in zip(metric(data, fio, 'dev_flushes'), metric(data, fio, 'syncs')))}. "
               "CPU and context switches: the bus's whole process over the run (producer, persister, "
               "io-wq workers); fio's job thread, which does both the write and the fdatasync (psync).")
    out.append("")

    out.append("### Group commit: sync topic, 1 KiB values, each producer waits for its durable ack")
    out.append("")
    out.append("fdatasyncs per message, two ways: *measured*, the block device's flush requests during "
               "the run per message, divided by fio's flushes per fdatasync in the same round (other "
               "tenants of the disk add a few); *derived*, fio's single-stream write+fdatasync rate over "
               "the bus's durable message rate (exact when each bus sync costs what fio's does).")
    out.append("")
    out.append("| producers | durable msgs/s | vs 1 producer | records per written batch | "
               "fdatasyncs/msg measured | fdatasyncs/msg derived | ack p50 ms | ack p99 ms | "
               "CPU us per msg | context switches per msg |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    fps = metric(data, fio, "flushes_per_sync")
    for n in (1, 2, 4):
        cid = f"bus_sync_p{n}"
        vs = "1.00x" if n == 1 else fmt_ratio(r[f"sync_p{n}_vs_p1"])
        measured = per_round(metric(data, cid, "flushes_per_msg"), fps, lambda a, b: a / b)
        derived = [1 / v for v in r[f"sync_p{n}_vs_fio_rate"]["per_round"] if v]
        out.append(f"| {n} | {span(metric(data, cid, 'value'), '{:.0f}')} | {vs} | "
                   f"{med(metric(data, cid, 'records_per_batch')):.2f} | {span(measured, '{:.2f}')} | "
                   f"{span(derived, '{:.2f}')} | {med(metric(data, cid, 'p50')) / 1e6:.3f} | "
                   f"{med(metric(data, cid, 'p99')) / 1e6:.3f} | {med(metric(data, cid, 'cpu_us_per_msg')):.0f} | "
                   f"{med(metric(data, cid, 'switches_per_msg')):.1f} |")
    out.append("")

    out += render_window(data)

    out.append("### Memory only, million msgs/s: median (min-max)")
    out.append("")
    out.append("| case | msgs/s |")
    out.append("| --- | --- |")
    out.append(f"| bus without a data directory | {span([v / 1e6 for v in metric(data, 'mem_nodir', 'value')], '{:.2f}')} |")
    out.append(f"| bus with a data directory, durability::none topic | "
               f"{span([v / 1e6 for v in metric(data, 'mem_dir', 'value')], '{:.2f}')} |")
    return section_text("persist-bench", out)


def render_window(data):
    """The group-commit window sweep, when the run has it."""
    sw = data.get("window_sweep")
    if not sw:
        return []
    ms = "{:.3f}"

    def lat(x, k):
        v = x["latency"].get(k)
        return "-" if v is None else ms.format(v["median"] / 1e6)

    def lat_span(x, k):
        v = x["latency"].get(k)
        return "-" if v is None else (f"{ms.format(v['median'] / 1e6)} "
                                      f"({ms.format(v['min'] / 1e6)}-{ms.format(v['max'] / 1e6)})")

    out = ["### Durable-ack latency against the group-commit window (async durability)", ""]
    out.append(
        f"One producer, one partition, {sw['value_bytes']}-byte values, group commit at "
        f"`sync_bytes` = {sw['sync_bytes'] >> 20} MiB or the window (`topic_config::sync_interval`), "
        f"whichever comes first; a fresh topic per run ({sw['ring_bytes'] >> 20} MiB ring), "
        f"{sw['reps']} runs per row, rows interleaved. **Fixed rate**: {sw['rate_per_s']:.0f} msgs/s "
        f"for {sw['latency_seconds']} s, each record timed from when it was due to when the producer "
        "learned it was durable (no coordinated omission); at this rate the window, not "
        "`sync_bytes`, triggers every commit. The acks come from `bus::on_durable` (the persister's "
        "report; the producer does not wait). The `wait_durable` row has the producer call "
        "`producer::wait_durable` after each publish instead (closed loop; the API says it asks the "
        "persister for a sync): its service time shows whether a waiting producer still waits "
        "out the window. **Saturated**: the producer publishes "
        f"back to back (one `publish` per message) for at most {sw['throughput_max_seconds']} s or "
        f"{sw['throughput_max_bytes'] >> 20} MiB, and the clock stops when the last record is "
        "reported durable; its ack latency runs from the start of each publish call. The sync "
        "row is the reference: a sync topic, `publish` returns once the record is durable. "
        "Service time: from the publish call instead of the due time; it differs from the "
        "latency only where the producer fell behind the rate (the closed-loop rows, sync and "
        "`wait_durable`, when a sync takes longer than the period). "
        "Device flushes: the block device's flush requests during the run (other tenants of the "
        "disk add some). Milliseconds, median (min-max) over runs. Plot: "
        "`bench/results/plots/persist_window.png`.")
    out.append("")
    out.append("| durability | window | ack via | ack p50 | ack p99 | ack p99.9 | ack max | "
               "service p50 | service p99 | device flushes/s | records per written batch | "
               "saturated durable msgs/s | saturated MB/s | saturated ack p50 | saturated ack p99 |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in sw["points"]:
        t = x.get("throughput")
        window = "-" if x["durability"] == "sync" else (
            f"{x['window_us'] / 1000:g} ms" if x["window_us"] >= 1000 else f"{x['window_us']} us")
        fl = x["latency"].get("flushes_per_s")
        rb = x["latency"].get("records_per_batch")
        if t:
            v = t["value"]
            sat = [f"{v['median']:.0f} ({v['min']:.0f}-{v['max']:.0f})", f"{t['mb_s']['median']:.0f}",
                   ms.format(t["p50"]["median"] / 1e6), ms.format(t["p99"]["median"] / 1e6)]
        else:
            sat = ["-"] * 4
        out.append(f"| {x['durability']} | {window} | {x['ack']} | {lat_span(x, 'p50')} | "
                   f"{lat_span(x, 'p99')} | {lat(x, 'p999')} | {lat(x, 'max')} | "
                   f"{lat(x, 'svc_p50')} | {lat(x, 'svc_p99')} | "
                   f"{'-' if fl is None else format(fl['median'], '.0f')} | "
                   f"{'-' if rb is None else format(rb['median'], '.2f')} | " + " | ".join(sat) + " |")
    out.append("")
    asyncs = sorted((x for x in sw["points"] if x["durability"] == "async" and x["ack"] == "on_durable"),
                    key=lambda x: x["window_us"])
    sync = next((x for x in sw["points"] if x["durability"] == "sync"), None)
    if asyncs and sync and "svc_p50" in sync["latency"]:
        lo, hi = asyncs[0], asyncs[-1]

        def p50(x, k="p50"):
            return x["latency"][k]["median"] / 1e6

        def flushes(x):
            v = x["latency"].get("flushes_per_s")
            return "-" if v is None else f"{v['median']:.0f}"
        out.append(f"In this run: at the smallest window ({lo['window_us']} us) the ack p50 was "
                   f"{p50(lo):.2f} ms, {p50(lo) / p50(sync, 'svc_p50'):.1f}x the sync topic's "
                   f"publish-to-durable p50 ({p50(sync, 'svc_p50'):.2f} ms); at the largest "
                   f"({hi['window_us'] / 1000:g} ms) {p50(hi):.2f} ms. Device flushes per second "
                   f"went from {flushes(lo)} to {flushes(hi)}. A record reaches the persister "
                   "within its idle slice (modes/persist.cpp: 500 us; a publish does not wake "
                   "it), is written, waits out the window and is synced; the on_durable report "
                   "follows on the persister's next pass.")
        wait = next((x for x in sw["points"] if x["ack"] == "wait_durable"
                     and "svc_p50" in x["latency"]), None)
        same = next((x for x in asyncs if wait and x["window_us"] == wait["window_us"]), None)
        if wait and same:
            w_ms = wait["window_us"] / 1000
            got = p50(wait, "svc_p50")
            verdict = ("so the waiting producer still waited out the window (its request for a "
                       "sync did not cut the window short)" if got >= 0.5 * w_ms else
                       "so the waiting producer got its sync before the window ran out")
            out[-1] += (f" With `wait_durable` after each publish at the {w_ms:g} ms window, "
                        f"publish to durable took {got:.2f} ms (p50) against {p50(same):.2f} ms "
                        f"for on_durable at the same window and {p50(sync, 'svc_p50'):.2f} ms on "
                        f"a sync topic, {verdict}; a producer that waits for each record "
                        f"cannot keep {sw['rate_per_s']:.0f} msgs/s then, hence its latency "
                        "from the due time.")
        out.append("")
    return out


if __name__ == "__main__":
    suite_report_main("persist", render, command="tools/bench.sh")
