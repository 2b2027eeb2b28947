// tools/perf.hpp: `lanes perf`, producer and consumer performance of an in-memory bus in one
// process, as Kafka's producer/consumer perf tests measure a cluster.
//
// Producers publish stamped messages (at a fixed rate or as fast as they can); consumer
// groups read them; the report gives producer and per-group throughput and end-to-end
// latency percentiles. With --rate, latency counts from when each message was due, not
// when it was sent, so a stalled producer cannot hide latency (no coordinated omission).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}

namespace lanes_tools {

enum class key_mode : std::uint8_t { none, uniform, skewed };
enum class wait_mode : std::uint8_t { park, spin };

struct perf_options {
  std::string topic = "perf";
  // log: consumer groups poll; queue: one queue topic whose consumers receive and ack each
  // message (--groups 1, --consumers compete for all partitions).
  lanes::topic_mode mode = lanes::topic_mode::log;
  std::uint32_t partitions = 1;
  unsigned producers = 1;
  unsigned consumers = 1;  // per group
  unsigned groups = 1;
  std::size_t message_size = 64;  // value bytes
  std::uint64_t count = 1'000'000;
  double duration_s = 0;  // > 0: run this long instead of --count
  key_mode keys = key_mode::none;
  std::uint32_t key_space = 1000;
  double rate = 0;  // messages/s over all producers; 0: as fast as possible
  std::size_t ring_capacity = std::size_t{8} << 20;
  lanes::backpressure policy = lanes::backpressure::block;
  wait_mode wait = wait_mode::park;
  bool zero_copy = false;
  std::size_t max_poll_records = 500;
  std::uint64_t warmup = 10'000;
  double timeout_s = 30;  // no progress for this long: the run failed
  double report_interval_s = 5;
  bool pin = true;
  bool json = false;
  std::string out;
  // Persistence: a bus on this data directory, the topic with this durability (none keeps
  // the topic in memory even with a data directory). Durable runs read durable records only,
  // so latency includes the disk.
  std::string data_dir;
  std::string metrics_listen;  // --metrics-listen
  lanes::durability durability = lanes::durability::none;
  bool keep_topic = false;  // durable runs: keep the topic and its files after the run
  // A live progress line on stderr (messages, rate, elapsed, latency so far): when stderr is
  // a terminal, or always with --progress.
  bool progress = false;
};

// Adds the `perf` subcommand to app; when it was given, run_perf(options) is what to run.
CLI::App* add_perf_command(CLI::App& app, perf_options& options);

// Runs a perf test and prints its report. Returns the process exit code: 0 ok, 1 the run
// failed (messages missing or out of order, publish errors, timeout), 2 usage error.
int run_perf(const perf_options& options);

}  // namespace lanes_tools
