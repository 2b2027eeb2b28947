// bench/persist_bench_main.cpp: persist_bench, durable topics against what fio measures on the same
// disk, in the same run.
//
//   seq          async durability: one producer publishes --async-mib of 1 KiB values
//                (publish_batch of 64) and the clock stops when the last one is durable;
//                MB/s of values against fio's sequential buffered writes to the same
//                directory with the bus's write size and group-commit cadence
//                (--bs = 1 MiB = the persister's batch target, --fdatasync = sync_bytes / bs),
//                io_uring (iodepth 4) and psync; O_DIRECT with the same cadence is reported too
//   sync latency one producer publishes 1 KiB values to a sync topic, one at a time; every
//                publish is timed (it returns when its record is durable) against fio
//                --fdatasync=1 --bs=<bytes the bus writes per such publish> (fio's `sync`
//                latency percentiles)
//   group commit a multi-producer sync topic, 1, 2 and 4 producer threads, each publishing
//                1 KiB values and waiting for its durable ack: ops/s, records per written
//                batch (from the segment files) and flushes per message (the block device's
//                flush counter, normalised by fio's flushes per fdatasync in the same round)
//   memory only  a memory-only topic on a bus without a data directory against a
//                durability::none topic on a bus with one: one producer (CPU 0), one busy
//                consumer group member (CPU 1), 64-byte values
//   window       async durability at group-commit windows (topic_config::sync_interval) of
//                100 us .. 5 ms, and a sync topic as the reference: durable-ack latency of 1 KiB
//                values published at a fixed rate (timed from when each was due), and the
//                throughput of one producer publishing back to back until the last is durable.
//                The acks come from bus::on_durable (the persister's report; the producer
//                does not wait). One extra row has the producer wait with wait_durable after
//                each publish (closed loop), which the API says asks for a sync: its service
//                time shows whether the window still applies to a waiting producer
//
// Method (shared/BENCHMARKING.md): one warm-up round discarded, then --reps rounds in which
// every case runs once, fio and bus alternating; ratios are taken within a round, then their
// median. Every case writes to a fresh directory under --dir (same filesystem for fio and
// the bus), deleted after it. Results go to --out as JSON (tools/persist_bench_report.py).
//
//   persist_bench [--reps N] [--quick] [--dir PATH] [--out PATH] [--fio PATH]
//   persist_bench --profile async|sync|sync_p4|mem_dir|mem_nodir [--reps N] [--dir PATH]
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lanes_support/run_info.hpp"
#include "persist_bench.hpp"

namespace lanes_bench {
namespace {

// Case ids, in the order they run within a round.
const std::vector<std::string> kCases = {"fio_seq_uring",
                                         "bus_async",
                                         "fio_seq_psync",
                                         "fio_seq_psync_matched",
                                         "fio_seq_uring_matched",
                                         "fio_seq_direct",
                                         "fio_seq_best",
                                         "fio_sync_lat",
                                         "bus_sync_lat",
                                         "bus_sync_p1",
                                         "bus_sync_p2",
                                         "bus_sync_p4",
                                         "mem_nodir",
                                         "mem_dir"};

// --profile CASE: runs only that case, --reps times, prints its metrics, writes no file.
void run_profile(const options& opt, const fs::path& work, const disk_info& disk) {
  for (int round = 0; round < opt.reps; ++round) {
    sample s;
    if (opt.profile == "async")
      s = bus_async(opt, work / "bus", disk);
    else if (opt.profile == "sync")
      s = bus_sync_latency(opt, work / "bus", disk);
    else if (opt.profile == "sync_p4")
      s = bus_sync_producers(opt, work / "bus", disk, 4);
    else if (opt.profile == "mem_dir")
      s = memory_only(opt, work / "bus", true);
    else if (opt.profile == "mem_nodir")
      s = memory_only(opt, work / "bus", false);
    else if (opt.profile == "window") {
      for (const window_point& wp : window_points()) {
        const sample l = window_latency(opt, work / "bus", disk, wp.mode, wp.window_us, wp.via);
        std::fprintf(stderr, "%-26s p50 %.3f p90 %.3f p99 %.3f max %.3f ms (service p99 %.3f)\n",
                     wp.id.c_str(), get(l, "p50") / 1e6, get(l, "p90") / 1e6, get(l, "p99") / 1e6,
                     get(l, "max") / 1e6, get(l, "svc_p99") / 1e6);
      }
      continue;
    } else
      die("unknown case " + opt.profile);
    std::fprintf(stderr, "%s:", opt.profile.c_str());
    for (const auto& [k, v] : s) std::fprintf(stderr, " %s=%.4g", k.c_str(), v);
    std::fprintf(stderr, "\n");
  }
}

// The fio runs of one round, the bus's async run among them (its flushes give fio a matched
// --fdatasync), and the best buffered fio run as the async target's reference.
void run_sequential(const options& opt, const fs::path& work, const disk_info& disk,
                    std::map<std::string, sample>& r,
                    std::map<std::string, std::string>& commands) {
  const std::string uring = "--ioengine=io_uring --iodepth=" + std::to_string(kFioIodepth);
  // Group-commit cadence, configured: one fdatasync per sync_bytes. Observed: the bus
  // keeps one sync in flight and batches what is written meanwhile, so it syncs less
  // often; its block-device flushes in this round give fio a matched --fdatasync.
  const std::uint64_t cfg_every = kSyncBytes / kBusWriteBytes;
  r["fio_seq_uring"] =
      fio_seq(opt, work / "fio", uring, cfg_every, disk, &commands["fio_seq_uring"]);
  r["bus_async"] = bus_async(opt, work / "bus", disk);
  const double writes = static_cast<double>((opt.async_mib << 20) / kBusWriteBytes);
  const double bus_syncs = std::max(1.0, get(r["bus_async"], "dev_flushes"));
  const auto matched = static_cast<std::uint64_t>(std::max(1.0, writes / bus_syncs + 0.5));
  r["fio_seq_psync"] =
      fio_seq(opt, work / "fio", "--ioengine=psync", cfg_every, disk, &commands["fio_seq_psync"]);
  r["fio_seq_psync_matched"] = fio_seq(opt, work / "fio", "--ioengine=psync", matched, disk,
                                       &commands["fio_seq_psync_matched"]);
  r["fio_seq_uring_matched"] =
      fio_seq(opt, work / "fio", uring, matched, disk, &commands["fio_seq_uring_matched"]);
  r["fio_seq_direct"] = fio_seq(opt, work / "fio", uring + " --direct=1", cfg_every, disk,
                                &commands["fio_seq_direct"]);
  // The reference for the async target: the best buffered fio run of this round.
  {
    sample best;
    const char* ids[] = {"fio_seq_uring", "fio_seq_psync", "fio_seq_psync_matched",
                         "fio_seq_uring_matched"};
    for (int k = 0; k < 4; ++k) {
      if (get(r[ids[k]], "value") > get(best, "value")) {
        best = r[ids[k]];
        best["which"] = k;  // index into best_buffered_of in the results
      }
    }
    r["fio_seq_best"] = best;
  }
}

void print_round(int round, std::map<std::string, sample>& r) {
  std::fprintf(stderr,
               "round %d%s: seq MB/s fio uring %.0f psync %.0f, every %.0f: psync %.0f uring "
               "%.0f, direct %.0f, bus %.0f | sync p50/p99 ms bus %.2f/%.2f fio %.2f/%.2f | "
               "sync msgs/s p1 %.0f p2 %.0f p4 %.0f | mem M/s nodir %.2f dir %.2f\n",
               round, round == 0 ? " (warm-up)" : "", get(r["fio_seq_uring"], "value"),
               get(r["fio_seq_psync"], "value"), get(r["fio_seq_psync_matched"], "fdatasync_every"),
               get(r["fio_seq_psync_matched"], "value"), get(r["fio_seq_uring_matched"], "value"),
               get(r["fio_seq_direct"], "value"), get(r["bus_async"], "value"),
               get(r["bus_sync_lat"], "p50") / 1e6, get(r["bus_sync_lat"], "p99") / 1e6,
               get(r["fio_sync_lat"], "p50") / 1e6, get(r["fio_sync_lat"], "p99") / 1e6,
               get(r["bus_sync_p1"], "value"), get(r["bus_sync_p2"], "value"),
               get(r["bus_sync_p4"], "value"), get(r["mem_nodir"], "value") / 1e6,
               get(r["mem_dir"], "value") / 1e6);
}

// One round: every case once, fio and bus alternating.
std::map<std::string, sample> run_round(const options& opt, const fs::path& work,
                                        const disk_info& disk, int round, persist_run& run) {
  std::map<std::string, sample> r;
  run_sequential(opt, work, disk, r, run.commands);
  r["fio_sync_lat"] =
      fio_sync_latency(opt, work / "fio", run.sync_write, disk, &run.commands["fio_sync_lat"]);
  r["bus_sync_lat"] = bus_sync_latency(opt, work / "bus", disk);
  r["bus_sync_p1"] = bus_sync_producers(opt, work / "bus", disk, 1);
  r["bus_sync_p2"] = bus_sync_producers(opt, work / "bus", disk, 2);
  r["bus_sync_p4"] = bus_sync_producers(opt, work / "bus", disk, 4);
  // Alternate which memory-only peer goes first, so neither always follows disk work.
  if (round % 2 == 0) {
    r["mem_nodir"] = memory_only(opt, work / "bus", false);
    r["mem_dir"] = memory_only(opt, work / "bus", true);
  } else {
    r["mem_dir"] = memory_only(opt, work / "bus", true);
    r["mem_nodir"] = memory_only(opt, work / "bus", false);
  }
  print_round(round, r);
  return r;
}

// Group-commit window sweep: every point once per rep, reps interleaved, after the rounds
// (which warmed the disk and the page cache).
void run_window_sweep(const options& opt, const fs::path& work, const disk_info& disk,
                      std::vector<window_point>& windows) {
  if (opt.window) windows = window_points();
  for (int rep = 0; rep < opt.window_reps && opt.window; ++rep) {
    for (window_point& wp : windows) {
      wp.latency.push_back(window_latency(opt, work / "bus", disk, wp.mode, wp.window_us, wp.via));
      if (wp.throughput) {
        wp.tput.push_back(window_throughput(opt, work / "bus", disk, wp.mode, wp.window_us));
      }
      const sample& l = wp.latency.back();
      std::fprintf(stderr,
                   "window %d %-26s ack p50 %.3f ms p99 %.3f ms, %.0f flushes/s | saturated %.0f "
                   "msgs/s, ack p50 %.3f ms p99 %.3f ms\n",
                   rep, wp.id.c_str(), get(l, "p50") / 1e6, get(l, "p99") / 1e6,
                   get(l, "flushes_per_s"), wp.tput.empty() ? 0.0 : get(wp.tput.back(), "value"),
                   wp.tput.empty() ? 0.0 : get(wp.tput.back(), "p50") / 1e6,
                   wp.tput.empty() ? 0.0 : get(wp.tput.back(), "p99") / 1e6);
    }
  }
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options opt = parse(argc, argv);
  fs::create_directories(opt.dir);
  const fs::path work = fs::path(opt.dir) / ("run-" + std::to_string(::getpid()));
  fs::create_directories(work);
  const disk_info disk = probe_disk(work);
  if (!opt.profile.empty()) {
    run_profile(opt, work, disk);
    fs::remove_all(work);
    return 0;
  }

  persist_run run;
  run.cases = kCases;
  run.load_start = lanes_tools::load_average();
  run.fio_version = fio_version(opt);
  run.sync_write = probe_sync_write_bytes(work / "probe");
  measure_fio_startup(opt, work / "fio");
  std::fprintf(stderr, "persist_bench: %s on %s (%s, %s), load %.2f; sync write %zu bytes; %s\n",
               work.c_str(), disk.device.c_str(), disk.fs_type.c_str(), disk.kind.c_str(),
               run.load_start, run.sync_write, run.fio_version.c_str());
  for (int round = 0; round <= opt.reps; ++round) {  // round 0: warm-up, discarded
    if (round > 0) run.round_load.push_back(lanes_tools::load_average());
    std::map<std::string, sample> r = run_round(opt, work, disk, round, run);
    if (round > 0) {
      for (auto& [id, s] : r) run.results[id].push_back(s);
    }
  }
  run_window_sweep(opt, work, disk, run.windows);
  run.load_end = lanes_tools::load_average();
  fs::remove_all(work);
  write_results(opt, disk, run);
  return 0;
}
