// bench/bus_bench_main.cpp: bus_bench, the log-mode bus end to end against the raw frame ring it is
// built on and against ZeroMQ inproc:// PUSH/PULL, one producer on CPU 0 and one consumer on CPU 1.
//
//   throughput   1 partition: bus (64-byte values, 8-byte keys, single-producer topic,
//                busy polling consumer group), raw frame_ring (64-byte frames, batch reads),
//                ZeroMQ PUSH/PULL (72-byte messages: the same key + value bytes)
//   scaling      bus throughput with 1, 4 and 16 partitions (keys spread over all of them)
//   queue        1 partition of a queue topic: receive (busy spin) and ack every message
//   fan-out      one producer, two readers that each get every message: the bus (one log
//                topic, 1 partition, two consumer groups of one consumer each) against
//                ZeroMQ inproc PUB with two SUB sockets; three threads on two CPUs, so all
//                of them are unpinned and every wait parks (no busy spin)
//   latency      publish -> poll at a fixed rate below saturation, busy-spin consumer, timed
//                from when each message was due (no coordinated omission); the same for the
//                raw frame ring (one-way claim/commit -> peek)
//
// Method (shared/BENCHMARKING.md): one warm-up round discarded, then --reps rounds in which
// every case runs once, in the same order; ratios are taken within a round, then their
// median. Results (every sample, medians, ratios, machine facts) go to --out as JSON, which
// tools/bench_report.py renders into BENCHMARKS.md.
//
//   sweep        bus and ZeroMQ latency at fixed rates from 50k to 2M msgs/s: where p99 turns up
//   scaling      (--scaling, on by default) bus throughput for 1/4/16 partitions x 1/2/4
//                producers x 16 B..64 KiB values; more threads than cores park, not spin
//   memory       resident bytes per partition and per million retained messages
//                (/proc/self/statm), heap allocations per message (a counting operator new)
//
#include <cstdio>
#include <map>
#include <string>

#include "bus_bench.hpp"

namespace lanes_bench {
namespace {

// Case ids, in the order they run within a round.
const std::vector<std::string> kCases = {"bus_p1",   "bus_batch",   "frame_ring",  "zmq_push_pull",
                                         "bus_p4",   "bus_p16",     "bus_latency", "ring_latency",
                                         "queue_p1", "zmq_latency", "bus_fanout",  "zmq_pub_sub"};

// --profile CASE: runs only that throughput case, --reps times, prints it, writes no file.
void run_profile(const options& opt, const std::vector<std::string>& keys) {
  for (int round = 0; round < opt.reps; ++round) {
    sample s;
    if (opt.profile == "bus_p1")
      s = bus_throughput(1, opt.count, keys);
    else if (opt.profile == "bus_p4")
      s = bus_throughput(4, opt.count, keys);
    else if (opt.profile == "bus_p16")
      s = bus_throughput(16, opt.count, keys);
    else if (opt.profile == "bus_batch")
      s = bus_throughput(1, opt.count, keys, kBatch);
    else if (opt.profile == "frame_ring")
      s = ring_throughput(opt.count);
    else if (opt.profile == "frame_ring_record")
      s = ring_throughput(opt.count, 104);
    else if (opt.profile == "queue_p1")
      s = queue_throughput(opt.count, keys);
    else if (opt.profile == "zmq_push_pull")
      s = zmq_throughput(opt.count, keys);
    else if (opt.profile == "bus_fanout")
      s = bus_fanout(opt.count, keys);
    else if (opt.profile == "zmq_pub_sub")
      s = zmq_fanout(opt.count, keys);
    else
      die("unknown case " + opt.profile);
    std::printf("%s: %.2fM msgs/s (floor %.0f ns)%s", opt.profile.c_str(), s.value / 1e6,
                s.floor_ns, s.ok ? "" : " LOST OR DUPLICATED");
    if (s.lost != 0) std::printf(" (%llu lost)", static_cast<unsigned long long>(s.lost));
    std::printf("\n");
  }
}

// Memory first, on a fresh heap: freed rings of earlier cases would otherwise be reused
// without adding to the resident size.
memory_result run_memory(const std::vector<std::string>& keys) {
  const memory_result mem = measure_memory(keys);
  std::fprintf(stderr,
               "memory: %.0f KiB per partition created, %.0f KiB full (%zu KiB ring); %.1f MiB "
               "per million retained; %.3f allocations per publish\n",
               mem.per_partition_created / 1024, mem.per_partition_full / 1024,
               mem.ring_bytes / 1024, mem.per_million_retained / (1 << 20),
               mem.allocs_per_msg_fill);
  return mem;
}

void print_round(int round, std::map<std::string, sample>& r) {
  std::fprintf(
      stderr,
      "round %d%s: bus %.2fM/s batch %.2fM/s ring %.2fM/s zmq %.2fM/s p4 %.2fM/s p16 %.2fM/s | "
      "p99 bus %.0f ns ring %.0f ns zmq %.0f ns | queue %.2fM/s | fan-out per reader bus "
      "%.2fM/s zmq %.2fM/s (zmq lost %llu) | floor %.0f ns\n",
      round, round == 0 ? " (warm-up)" : "", r["bus_p1"].value / 1e6, r["bus_batch"].value / 1e6,
      r["frame_ring"].value / 1e6, r["zmq_push_pull"].value / 1e6, r["bus_p4"].value / 1e6,
      r["bus_p16"].value / 1e6, r["bus_latency"].p99, r["ring_latency"].p99, r["zmq_latency"].p99,
      r["queue_p1"].value / 1e6, r["bus_fanout"].value / 1e6, r["zmq_pub_sub"].value / 1e6,
      static_cast<unsigned long long>(r["zmq_pub_sub"].lost), r["bus_p1"].floor_ns);
}

// --reps rounds after a warm-up round (0, discarded), every case once per round.
void run_rounds(const options& opt, const std::vector<std::string>& keys,
                std::map<std::string, std::vector<sample>>& results) {
  for (int round = 0; opt.reps > 0 && round <= opt.reps; ++round) {  // 0: warm-up, discarded
    std::map<std::string, sample> r;
    r["bus_p1"] = bus_throughput(1, opt.count, keys);
    r["bus_batch"] = bus_throughput(1, opt.count, keys, kBatch);
    r["frame_ring"] = ring_throughput(opt.count);
    r["zmq_push_pull"] = zmq_throughput(opt.count / 4, keys);  // ZeroMQ is slower: fewer msgs
    r["bus_p4"] = bus_throughput(4, opt.count, keys);
    r["bus_p16"] = bus_throughput(16, opt.count, keys);
    r["bus_latency"] = bus_latency(opt.rate, opt.latency_seconds, keys);
    r["ring_latency"] = ring_latency(opt.rate, opt.latency_seconds);
    r["queue_p1"] = queue_throughput(opt.count, keys);
    r["zmq_latency"] = zmq_latency(opt.rate, opt.latency_seconds, keys);
    r["bus_fanout"] = bus_fanout(opt.count, keys);
    r["zmq_pub_sub"] = zmq_fanout(opt.count / 4, keys);  // as PUSH/PULL: fewer msgs
    print_round(round, r);
    for (auto& [id, s] : r) {
      if (!s.ok) die("case " + id + " lost or duplicated messages");
      if (round > 0) results[id].push_back(s);
    }
  }
}

// Rate sweep: bus and ZeroMQ latency at each fixed rate, interleaved, sweep_reps each.
void run_sweep(const options& opt, const std::vector<std::string>& keys,
               std::vector<sweep_point>& sweep) {
  for (const double rate : kSweepRates) {
    sweep.push_back({"bus", rate, {}});
    sweep.push_back({"zmq", rate, {}});
  }
  for (int rep = 0; rep < opt.sweep_reps; ++rep) {
    for (sweep_point& sp : sweep) {
      const sample s = sp.id == "bus" ? bus_latency(sp.rate, opt.sweep_seconds, keys)
                                      : zmq_latency(sp.rate, opt.sweep_seconds, keys);
      if (!s.ok) die("sweep: lost messages");
      sp.runs.push_back(s);
      std::fprintf(stderr, "sweep %d %s %.0fk/s: p50 %.0f ns p99 %.0f ns max %.0f ns\n", rep,
                   sp.id.c_str(), sp.rate / 1e3, s.p50, s.p99, s.max);
    }
  }
}

// Scaling matrix: every cell once per rep, reps interleaved.
void run_scaling(const options& opt, const std::vector<std::string>& keys,
                 std::vector<scaling_cell>& scaling) {
  for (const std::size_t vb :
       {std::size_t{16}, std::size_t{256}, std::size_t{4096}, std::size_t{65536}}) {
    for (const std::uint32_t parts : {1u, 4u, 16u}) {
      for (const int prods : {1, 2, 4}) {
        const std::uint64_t n = std::min<std::uint64_t>(opt.count, opt.scaling_bytes / vb);
        scaling.push_back({parts, prods, vb, n, {}});
      }
    }
  }
  for (int rep = 0; rep < opt.scaling_reps; ++rep) {
    for (scaling_cell& c : scaling) {
      const sample s = scaling_run(c.partitions, c.producers, c.value_bytes, c.messages,
                                   opt.scaling_seconds, keys);
      if (!s.ok) die("scaling: lost or duplicated messages");
      c.rates.push_back(s.value);
      std::fprintf(stderr, "scaling %d: %2u partitions %d producers %5zu B: %.3fM msgs/s\n", rep,
                   c.partitions, c.producers, c.value_bytes, s.value / 1e6);
    }
  }
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options opt = parse(argc, argv);
  const std::vector<std::string> keys = make_keys(kKeys);
  if (!opt.profile.empty()) {
    run_profile(opt, keys);
    return 0;
  }
  bus_run run;
  run.cases = kCases;
  if (opt.memory) run.mem = run_memory(keys);
  run_rounds(opt, keys, run.results);
  if (opt.sweep) run_sweep(opt, keys, run.sweep);
  if (opt.scaling) run_scaling(opt, keys, run.scaling);
  write_results(opt, run);
  return 0;
}
