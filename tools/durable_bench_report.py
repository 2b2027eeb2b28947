#!/usr/bin/env python3
"""tools/durable_bench_report.py: the "Durable topics" section of BENCHMARKS.md from
durable_bench's results (bench/durable_bench.cpp): each target of a durable topic against
its reference measured in the same run (fio on the same directory, or memory), ratios per
round and their median, met or missed.
"""
import statistics

from report_sections import (commit_line, round_targets_table, section_head, section_text,
                             suite_report_main)


def med(xs):
    return statistics.median(xs) if xs else 0.0


def targets(d):
    """(name, goal text, measured ratios per round, ok(median)) for every target."""
    rounds = d["rounds"]
    window_ms = d.get("sync_interval_us", 1000) / 1000.0
    out = []
    for key, label in (("latency_async_20k", "20 000"), ("latency_async_200k", "200 000")):
        p50 = [r[key]["p50_us"] / 1e3 / (2 * (window_ms + r["fio_fdatasync_4k"]["p50_us"] / 1e3))
               for r in rounds]
        p99 = [r[key]["p99_us"] / 1e3 / (4 * (window_ms + r["fio_fdatasync_4k"]["p99_us"] / 1e3))
               for r in rounds]
        out.append((f"async, {label} msg/s: consumer p50 vs 2 x (sync_interval + fio fdatasync p50)",
                    "<= 1.0", p50, lambda m: m <= 1.0))
        out.append((f"async, {label} msg/s: consumer p99 vs 4 x (sync_interval + fio fdatasync p99)",
                    "<= 1.0", p99, lambda m: m <= 1.0))
    out.append(("sync topic at 500 msg/s: publish-to-poll p50 vs 2 x fio fdatasync p50 at 500 writes/s",
                "<= 1.0",
                [r["latency_sync_500"]["p50_us"] / (2 * r["fio_fdatasync_4k_500"]["p50_us"])
                 for r in rounds], lambda m: m <= 1.0))
    out.append(("wait_durable at a 100 us window: p50 vs 2 x (window + fio fdatasync p50)", "<= 1.0",
                [r["durable_ack_100us"]["p50_us"] / (2 * (100 + r["fio_fdatasync_4k"]["p50_us"]))
                 for r in rounds], lambda m: m <= 1.0))
    for i, size in enumerate((64, 1024, 16384)):
        for side in ("producer", "consumer"):
            mem = [r["throughput"][i]["durable"][f"{side}_mbs"] / r["throughput"][i]["memory"][f"{side}_mbs"]
                   for r in rounds]
            fio = [r["throughput"][i]["durable"][f"{side}_mbs"] / r["fio_write_mbs"] for r in rounds]
            if size == 64:
                out.append((f"async {size} B: {side} rate vs memory-only", ">= 0.5", mem,
                            lambda m: m >= 0.5))
            else:
                out.append((f"async {size} B: {side} MB/s vs fio buffered sequential write "
                            "(or >= 0.5x memory)", ">= 0.85", fio, lambda m: m >= 0.85))
    c = d["catchup"]
    for temp in ("cold", "warm"):
        out.append((f"catch-up from the files, {temp} cache: consumer vs fio sequential read", ">= 0.8",
                    [x[f"lanes_{temp}"]["mbs"] / x[f"fio_{temp}_mbs"] for x in c], lambda m: m >= 0.8))
    out.append(("catch-up, cold: the CRC checks' share of the replay time (CRC32C over every "
                "byte read / the consumer's cold replay time)", "<= 0.10",
                [x["crc_seconds"] / x["lanes_cold"]["seconds"] for x in c], lambda m: m <= 0.10))
    out.append(("idle bus (durable topic, parked consumer): CPU, % of one core", "< 0.5",
                [d["idle"]["cpu_percent"]], lambda m: m < 0.5))
    return out


def cold_pass_lines(c):
    """Each round's cold reads per reader, after fio, the plain walk and the consumer."""
    if "cold_after" not in c[0]:
        return ["- (this run kept only the medians)"]
    def fmt(reader, x):
        return " / ".join(f"{x['cold_after'][reader][prev]:.0f}" for prev in "FRL")
    return [f"- round {n + 1}: fio {fmt('F', x)}; plain walk {fmt('R', x)}; consumer {fmt('L', x)}"
            for n, x in enumerate(c)]


def render(d, results_path, command, notes):
    lines = section_head("Durable topics (durable_bench)",
                         "durable_bench_report", results_path, command)
    lines += [f"{commit_line(d)}, {len(d['rounds'])} rounds"
              + (" (--quick)" if d.get("quick") else ""),
              f"- Directory {d['dir']}; async topics with sync_interval {d.get('sync_interval_us', 1000)} us; "
              "consumers read durable records only (the default)", ""]
    lines += round_targets_table(targets(d))
    r0 = d["rounds"]
    lines += ["", "Absolute numbers (medians of rounds):", "",
              "| measurement | p50 | p99 |", "| --- | --- | --- |"]
    for key, label in (("fio_fdatasync_4k", "fio: 4 KiB write + fdatasync, back to back (us)"),
                       ("fio_fdatasync_4k_500", "fio: 4 KiB write + fdatasync, 500 writes/s (us)"),
                       ("latency_async_20k", "async, 20 000 msg/s, due to poll (us)"),
                       ("latency_async_200k", "async, 200 000 msg/s, due to poll (us)"),
                       ("latency_sync_500", "sync, 500 msg/s, due to poll (us)"),
                       ("durable_ack_100us", "wait_durable, 100 us window (us)")):
        lines.append(f"| {label} | {med([r[key]['p50_us'] for r in r0]):.0f} | "
                     f"{med([r[key]['p99_us'] for r in r0]):.0f} |")
    b2b = med([r["latency_sync_500"]["p50_us"] / (2 * r["fio_fdatasync_4k"]["p50_us"]) for r in r0])
    lines += ["", "The sync row's reference is fio at the bus's own pace: on this machine an fdatasync "
              "costs more after the disk was idle for a millisecond or two than right after the last "
              "one, so fio back to back would be the faster disk. Against it, the sync p50 would be "
              f"{b2b:.2f} x 2 x fio's p50 (median of rounds)."]
    lines += ["", "| values | memory producer MB/s | memory consumer MB/s | durable producer MB/s | "
              "durable consumer MB/s | disk bytes per record | fio buffered write MB/s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, size in enumerate((64, 1024, 16384)):
        t = [r["throughput"][i] for r in r0]
        lines.append(f"| {size} B | {med([x['memory']['producer_mbs'] for x in t]):.0f} | "
                     f"{med([x['memory']['consumer_mbs'] for x in t]):.0f} | "
                     f"{med([x['durable']['producer_mbs'] for x in t]):.0f} | "
                     f"{med([x['durable']['consumer_mbs'] for x in t]):.0f} | "
                     f"{med([x['durable']['disk_bytes_per_record'] for x in t]):.0f} | "
                     f"{med([r['fio_write_mbs'] for r in r0]):.0f} |")
    c = d["catchup"]
    lines += ["", f"Catch-up: {d['catchup_records']} records of 1 KiB, {d['catchup_file_mb']:.0f} MB "
              "of segment files, read from offset 0 (MB/s of file bytes):", "",
              "| reader | cold | warm |", "| --- | --- | --- |",
              f"| lanes consumer (every CRC checked) | {med([x['lanes_cold']['mbs'] for x in c]):.0f} | "
              f"{med([x['lanes_warm']['mbs'] for x in c]):.0f} |",
              f"| plain pread walk (no checks, no per-record work) | {med([x['raw_cold_mbs'] for x in c]):.0f} | "
              f"{med([x['raw_warm_mbs'] for x in c]):.0f} |",
              f"| fio sequential read | {med([x['fio_cold_mbs'] for x in c]):.0f} | "
              f"{med([x['fio_warm_mbs'] for x in c]):.0f} |", "",
              "Cold reads here depend on what ran just before (see bench/durable_catchup.cpp), so "
              "each round reads cold ten times in the order F F R F L R R L L F (F fio, R the plain "
              "walk, L the consumer), each after a drop; every reader follows every reader once, and "
              "the table takes each reader's median of those three. Every read, MB/s, after F / R / L "
              "in turn:", ""] + cold_pass_lines(c) + ["",
              f"CRC32C over all {d['catchup_file_mb']:.0f} MB, each 1 MiB timed right after it was read "
              "(as the consumer checks it): "
              f"{med([x['crc_seconds'] for x in c]) * 1e3:.0f} ms; the consumer's cold replay: "
              f"{med([x['lanes_cold']['seconds'] for x in c]) * 1e3:.0f} ms, warm: "
              f"{med([x['lanes_warm']['seconds'] for x in c]) * 1e3:.0f} ms.", "",
              f"Offsets were dense in every catch-up; with a producer publishing meanwhile the consumer "
              f"read {d['catchup_rejoin']['records_read']} records with no gap and no duplicate "
              f"(dense: {str(d['catchup_rejoin']['dense']).lower()}). Idle: "
              f"{d['idle']['cpu_percent']:.2f}% of one core; the first publish after idle reached the "
              f"consumer in {d['idle']['first_publish_to_poll_us'] / 1e3:.2f} ms.", ""]
    return section_text("durable-bench", lines)


if __name__ == "__main__":
    suite_report_main("durable", render)
