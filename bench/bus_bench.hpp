// bench/bus_bench.hpp: what the files of bus_bench share: its options and sizes, one run's
// result (sample), and the steps each file provides (the bus cases, the raw frame ring and
// ZeroMQ peers, fan-out, fixed-rate latency, scaling, memory, the results file). See
// bus_bench_main.cpp for what it measures and how.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench_bus.hpp"
#include "bench_common.hpp"
#include "harness.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {

// Heap allocations so far: every operator new in this binary counts itself
// (bus_allocations.cpp).
std::uint64_t allocations() noexcept;

constexpr std::size_t kValueBytes = 64;
constexpr std::size_t kBatch = 64;  // messages per publish_batch in the bus_batch case
constexpr std::size_t kRingBytes = std::size_t{8} << 20;
constexpr int kKeys = 1024;
constexpr std::size_t kScalingRingBytes = std::size_t{2} << 20;  // per partition, scaling runs

struct options : run_options {
  options() : run_options{7, false, "results/bus_bench.json"} {}
  std::uint64_t count = 2'000'000;  // messages per throughput run
  double rate = 100'000;            // messages/s for the latency runs
  double latency_seconds = 1.0;
  std::string profile;  // --profile CASE: run only that throughput case, print, no file
  bool sweep = true;
  bool scaling = true;
  bool memory = true;
  int sweep_reps = 3;
  double sweep_seconds = 0.5;
  int scaling_reps = 3;
  std::uint64_t scaling_bytes = std::uint64_t{128} << 20;  // value bytes per scaling run
  double scaling_seconds = 1.0;  // and at most this long (producers stop at the deadline)
};

// Latency percentiles recorded per run, as HdrHistogram plots them (max is separate).
constexpr double kQuantiles[] = {0.50, 0.90, 0.99, 0.999, 0.9999};
constexpr const char* kQuantileNames[] = {"p50", "p90", "p99", "p999", "p9999"};
constexpr std::size_t kNq = std::size(kQuantiles);
constexpr double kSweepRates[] = {50e3, 100e3, 200e3, 500e3, 1e6, 2e6};

struct sample {
  double value = 0;  // msgs/s for throughput; ns for latency percentiles
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  double q[kNq] = {};         // latency at kQuantiles
  double floor_ns = 0;        // placement probe (ping-pong ns/trip) before the run
  double allocs_per_msg = 0;  // operator new calls (any thread) per message while timed
  std::uint64_t lost = 0;     // fan-out: messages sent that a reader did not get (all readers)
  bool ok = true;
};

// The timed part of a throughput run: the clock and the allocation count at its start and at
// its end (bus_cases.cpp).
struct timed_span {
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0;
  void start() noexcept;
  void stop() noexcept;
  // A sample of `count` messages over the span: msgs/s and allocations per message.
  sample rates(std::uint64_t count) const noexcept;
};

options parse(int argc, char** argv);  // bus_options.cpp

// A throughput case on the pinned pair (harness.hpp): produce() on CPU 0 and consume(sum) on
// CPU 1 from one start line, timed from the producer's start to the consumer's end;
// consume() adds the number each of the `count` messages carries to sum.
template <class Produce, class Consume>
sample pinned_throughput(std::uint64_t count, Produce&& produce, Consume&& consume) {
  start_barrier barrier;
  timed_span span;
  std::uint64_t sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        barrier.arrive_and_wait();
        span.start();
        produce();
      },
      [&] {
        barrier.arrive_and_wait();
        consume(sum);
        span.stop();
      });
  sample s = span.rates(count);
  s.floor_ns = o.floor_before_ns;
  s.ok = each_once(sum, count);
  return s;
}

// ---- the bus (bus_cases.cpp) ----

// One log topic "bench" of `partitions` partitions, its producer, and one busy-polling
// consumer-group member that holds every partition.
struct bus_fixture {
  explicit bus_fixture(std::uint32_t partitions);
  lanes::bus b;
  lanes::producer prod;
  lanes::consumer cons;
};

// batch == 0: one publish() per message; else publish_batch() of `batch` messages.
sample bus_throughput(std::uint32_t partitions, std::uint64_t count,
                      const std::vector<std::string>& keys, std::size_t batch = 0);
sample queue_throughput(std::uint64_t count, const std::vector<std::string>& keys);

// ---- the peers: the raw frame ring and ZeroMQ PUSH/PULL (bus_peers.cpp) ----

sample ring_throughput(std::uint64_t count, std::size_t payload = kValueBytes);
sample zmq_throughput(std::uint64_t count, const std::vector<std::string>& keys);

// A ZeroMQ message: the same key + value bytes as a bus message.
constexpr std::size_t kZmqMsgBytes = 8 + kValueBytes;
// Sends messages 0 .. count - 1 (each numbered in its value) on `socket`.
void zmq_send_numbered(void* socket, std::uint64_t count, const std::vector<std::string>& keys);

// ---- fan-out (bus_fanout.cpp) ----

constexpr int kFanoutReaders = 2;

sample bus_fanout(std::uint64_t count, const std::vector<std::string>& keys);
sample zmq_fanout(std::uint64_t count, const std::vector<std::string>& keys);

// ---- latency at a fixed rate (bus_latency.cpp) ----

sample bus_latency(double rate, double seconds, const std::vector<std::string>& keys);
sample ring_latency(double rate, double seconds);
sample zmq_latency(double rate, double seconds, const std::vector<std::string>& keys);

// ---- scaling: partitions x producers x value size (bus_scaling.cpp) ----

sample scaling_run(std::uint32_t partitions, int producers, std::size_t value_bytes,
                   std::uint64_t count, double max_seconds, const std::vector<std::string>& keys);

// ---- memory (bus_memory.cpp) ----

struct memory_result {
  std::uint32_t partitions = 0;
  std::size_t ring_bytes = 0;
  double per_partition_created = 0;       // bytes resident per partition once the topic exists
  double per_partition_full = 0;          // and once every ring has been filled
  std::uint64_t full_retained_bytes = 0;  // ring bytes held by records then, all partitions
  std::uint64_t retained = 0;             // messages retained in the one-partition topic
  std::size_t retained_ring_bytes = 0;
  double per_million_retained = 0;  // bytes resident per million retained messages
  double allocs_per_msg_fill = 0;   // operator new calls per publish while filling
};

memory_result measure_memory(const std::vector<std::string>& keys);

// ---- the results file (bus_results.cpp) ----

// The rate sweep: one case (bus or zmq) at one rate, its runs.
struct sweep_point {
  std::string id;
  double rate = 0;
  std::vector<sample> runs;
};

// The scaling matrix: one cell, its rates (msgs/s) over the reps.
struct scaling_cell {
  std::uint32_t partitions = 0;
  int producers = 0;
  std::size_t value_bytes = 0;
  std::uint64_t messages = 0;
  std::vector<double> rates;
};

// Everything a run measured, by case id and in the order the cases run.
struct bus_run {
  std::vector<std::string> cases;
  std::map<std::string, std::vector<sample>> results;
  std::vector<sweep_point> sweep;
  std::vector<scaling_cell> scaling;
  memory_result mem;
};

// Writes the run to opt.out and prints the ratios to stderr.
void write_results(const options& opt, bus_run& run);

}  // namespace lanes_bench
