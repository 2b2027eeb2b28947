// lanes/topic_info.hpp: what a bus says about its topics (bus::describe_topic): a
// topic's configuration and damage, and per partition its offsets, bytes, durable point and
// consumer groups.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lanes/config.hpp"
#include "lanes/error.hpp"

namespace lanes {

struct topic_partition {
  std::string topic{};
  std::uint32_t partition = 0;
  friend bool operator==(const topic_partition&, const topic_partition&) = default;
};

struct group_partition_stats {
  std::string group;
  std::int64_t committed = -1;  // -1: nothing committed yet
  std::uint64_t lag = 0;        // end_offset - committed (or - log_start when none)
};

struct partition_stats {
  std::uint32_t partition = 0;
  std::uint64_t log_start_offset = 0;  // oldest retained offset
  std::uint64_t end_offset = 0;        // next offset to be written
  std::uint64_t bytes = 0;             // ring bytes held by retained records
  // Durable topics: every offset below this one is on disk (an fdatasync covered it).
  std::uint64_t durable_offset = 0;
  errc status = errc::ok;  // durable topics: the I/O error that failed the partition
  std::vector<group_partition_stats> groups;
};

struct topic_info {
  std::string name;
  topic_config config;
  std::vector<partition_stats> partitions;
  // What opening the data directory found and dealt with for this topic (damage_report).
  std::vector<damage_report> damage;
};

}  // namespace lanes
