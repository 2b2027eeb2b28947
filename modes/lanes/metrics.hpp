// lanes/metrics.hpp: a snapshot of everything a monitoring system watches on a bus
// (bus::metrics()). lanes::prometheus (connect/prometheus) exports it in Prometheus' text
// format; an application may also log it or feed it to its own system.
//
// Counters (`_total` in Prometheus) count since the bus was opened and only grow; gauges are
// the value at the time of the snapshot. Record bytes everywhere are a record as stored: its
// 32-byte header, key, encoded headers and value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/queue.hpp"

namespace lanes {

// The persister's work for one partition of a durable topic.
struct persist_metrics {
  std::uint64_t bytes_written = 0;  // to segment files (completed writes)
  std::uint64_t syncs = 0;          // successful fdatasyncs
  // Writes resubmitted (short writes, EAGAIN/EINTR): the device pushed back, nothing lost.
  std::uint64_t retries = 0;
  // Sync groups (the fdatasyncs that make a group of writes durable) by latency, from
  // submission to the completion of the last: count per bucket (not cumulative); bucket i
  // holds latencies <= sync_bounds_seconds[i] and above the one before; the last bucket
  // holds everything above the last bound.
  static constexpr std::array<double, 14> sync_bounds_seconds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    5.0};
  std::array<std::uint64_t, sync_bounds_seconds.size() + 1> sync_latency{};
  double sync_latency_sum_seconds = 0;
  // ok, or the I/O error that failed the partition's log (it takes no writes after it).
  errc status = errc::ok;
};

struct partition_metrics {
  std::uint32_t partition = 0;
  std::uint64_t log_start_offset = 0;  // oldest retained (durable topics: on disk)
  std::uint64_t end_offset = 0;        // next offset to be written
  std::uint64_t durable_offset = 0;    // durable topics: every offset below is on disk
  std::uint64_t ring_bytes = 0;        // ring bytes held by retained records
  std::uint64_t records_in = 0;        // published since the bus was opened
  std::uint64_t bytes_in = 0;
  // Handed out by log consumers' polls (each consumer counts; a record read by two groups
  // counts twice). Queue deliveries are in queue_metrics.
  std::uint64_t records_out = 0;
  std::uint64_t bytes_out = 0;
  bool durable = false;
  persist_metrics persist;  // durable topics
};

struct topic_metrics {
  std::string name;
  topic_mode mode = topic_mode::log;
  lanes::durability durability = lanes::durability::none;
  std::vector<partition_metrics> partitions;
};

struct group_partition_metrics {
  std::uint32_t partition = 0;
  std::int64_t committed = -1;  // -1: nothing committed yet
  std::uint64_t lag = 0;        // end_offset - committed (or - log start when none)
};

// A consumer group (log mode) on one topic.
struct group_metrics {
  std::string group;
  std::string topic;
  std::uint32_t members = 0;     // consumers in the group now (all its topics)
  std::uint64_t rebalances = 0;  // assignments computed since the group formed
  std::vector<group_partition_metrics> partitions;
};

struct bus_metrics {
  std::vector<topic_metrics> topics;
  std::vector<group_metrics> groups;
  std::vector<queue_group_stats> queues;  // every queue and queue group (describe_queue)
  bool read_only = false;
};

}  // namespace lanes
