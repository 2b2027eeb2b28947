// bench/durable_bench_main.cpp: durable_bench, what a user of a durable topic sees, each
// against its reference measured on the same directory in the same run (issue 13's targets,
// and the cost of the read checks):
//   latency    async topic, consumer reading durable records only (the default): end-to-end
//              latency from due time at fixed rates, against sync_interval + fio's fdatasync;
//              sync topic publish-to-poll at 500 msg/s, against fio's fdatasync at 500 writes/s;
//              wait_durable at a 100 us window, against fio's fdatasync
//   throughput async topic, one producer and one consumer: against the same run in memory
//              (64 B) and against fio's buffered sequential writes (1 KiB, 16 KiB)
//   catch-up   a consumer reading the segment files from the start, cold and warm page cache,
//              with every batch's CRC32C checked (the consumer) and without (a plain pread walk
//              of the same files), against fio's sequential read of the same files; offsets
//              dense while a producer keeps publishing
//   idle       CPU of a bus with a durable topic and a parked consumer, nothing published
// Rounds interleave lanes and its reference; ratios are per round, then their median.
//   durable_bench [--quick] [--reps N] [--dir PATH] [--out PATH]
#include <cstdio>

#include "durable_bench.hpp"

namespace lanes_bench {
namespace {

using namespace std::chrono_literals;

// One round of the latency and throughput cases, each next to its reference.
json run_round(const options& o, const fs::path& root, double secs) {
  json round;
  round["fio_fdatasync_4k"] = fio_fdatasync(root / "fio", o.quick ? 300 : 1000);
  round["latency_async_20k"] =
      paced_latency(root / "lat", durable_topic(lanes::durability::async, 1000us), 20000, secs);
  round["latency_async_200k"] =
      paced_latency(root / "lat", durable_topic(lanes::durability::async, 1000us), 200000, secs);
  round["latency_sync_500"] =
      paced_latency(root / "lat", durable_topic(lanes::durability::sync, 1000us), 500, secs);
  round["fio_fdatasync_4k_500"] = fio_fdatasync(root / "fio", o.quick ? 300 : 1000, 500);
  round["durable_ack_100us"] = durable_ack(root / "ack", 100us, o.quick ? 300 : 1000);
  const std::uint64_t mib = o.quick ? 64 : 256;
  round["fio_write_mbs"] = fio_write_mbs(root / "fio", mib);
  json tp = json::array();
  for (std::size_t v : {std::size_t{64}, std::size_t{1024}, std::size_t{16384}}) {
    const std::uint64_t bytes = (v == 64 ? mib / 4 : mib) << 20;
    tp.push_back({{"memory", throughput(root / "tp", lanes::durability::none, v, bytes)},
                  {"durable", throughput(root / "tp", lanes::durability::async, v, bytes)}});
  }
  round["throughput"] = tp;
  return round;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options o = parse_options(argc, argv);
  const fs::path root = fs::path(o.dir) / "durable";
  fs::remove_all(root);
  fs::create_directories(root);
  const double secs = o.quick ? 1.0 : 3.0;
  durable_run run;
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "durable_bench: round %d of %d\n", r + 1, o.reps);
    run.rounds.push_back(run_round(o, root, secs));
  }
  // Catch-up: one data set, read cold and warm by each reader in turn.
  run.catchup_set = write_catchup_data(o, root / "catchup");
  run.catchup = catchup_rounds(o, run.catchup_set);
  run.rejoin =
      catch_up(run.catchup_set.dir, run.catchup_set.records, run.catchup_set.file_mb, true);
  run.idle_result = idle(root / "idle", o.quick ? 2.0 : 5.0);
  fs::remove_all(root);
  write_results(o, run);
  return 0;
}
