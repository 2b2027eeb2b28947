// bench/bench_bus.hpp: how the benchmarks that drive a lanes bus (bus_bench, persist_bench,
// queue_bench, durable_bench, kafka_bench, cdc_bench) set it up and check what came through: the
// bus and topic settings, a consumer group member that holds every partition, the keys, and the
// sequence number each value carries in its first 8 bytes. Set-up is cold; the value readers are
// inlined into timed loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"
#include <lanes/lanes.hpp>

namespace lanes_bench {

// `n` distinct 8-byte keys ("key-0000" ...), made once before a run (formatting one per
// message would cost more than the publish).
inline std::vector<std::string> make_keys(int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    char b[16];
    std::snprintf(b, sizeof b, "key-%04d", i);
    keys.emplace_back(b);
  }
  return keys;
}

// A bus writing under `dir` (empty: memory only), with lanes' default housekeeping.
inline lanes::bus_config bus_at(const std::filesystem::path& dir) {
  lanes::bus_config c;
  c.data_dir = dir.string();
  return c;
}

// The same with no housekeeping thread (nothing to expire in a benchmark run).
inline lanes::bus_config quiet_bus(const std::filesystem::path& dir = {}) {
  lanes::bus_config c = bus_at(dir);
  c.housekeeping_interval = std::chrono::milliseconds(0);
  return c;
}

// A topic of `partitions` partitions with rings of `ring_bytes`, for one or many producers.
inline lanes::topic_config ring_topic(std::uint32_t partitions, std::size_t ring_bytes,
                                      lanes::producer_mode producers) {
  lanes::topic_config tc;
  tc.partitions = partitions;
  tc.ring_capacity = ring_bytes;
  tc.producers = producers;
  return tc;
}

inline void create_topic(lanes::bus& b, const std::string& name, const lanes::topic_config& tc) {
  if (b.create_topic(name, tc) != lanes::errc::ok) die("create_topic(" + name + ") failed");
}

// A member of consumer group `group` on `topic`, from the earliest offset, no auto-commit, up
// to 1024 records a poll; returned once it holds all `partitions` (taken over inside poll).
inline lanes::consumer group_member(lanes::bus& b, const std::string& topic,
                                    const std::string& group, bool busy_spin,
                                    std::size_t partitions) {
  lanes::consumer_config cc;
  cc.group = group;
  cc.reset = lanes::offset_reset::earliest;
  cc.busy_spin = busy_spin;
  cc.auto_commit = false;
  cc.max_poll_records = 1024;
  lanes::consumer c = b.make_consumer(cc);
  if (c.subscribe({topic}) != lanes::errc::ok) die("subscribe(" + topic + ") failed");
  for (int i = 0; i < 1000 && c.assignment().size() < partitions; ++i) {
    (void)c.poll(std::chrono::milliseconds(1));
  }
  if (c.assignment().size() != partitions) die("group " + group + " did not take every partition");
  return c;
}

// The 8-byte number at the start of `value` (a message's sequence number or due time).
inline std::uint64_t number_at(const void* value) noexcept {
  std::uint64_t n = 0;
  std::memcpy(&n, value, sizeof n);
  return n;
}

// Adds the numbers a poll's records carry to `sum`; returns how many records it had.
inline std::size_t add_numbers(const lanes::poll_result& r, std::uint64_t& sum) noexcept {
  for (const lanes::record_view& rec : r.records) sum += number_at(rec.value.data());
  return r.records.size();
}

// Whether `count` messages numbered 0 .. count - 1 arrived each exactly once, given the sum of
// the numbers received (and that `count` arrived).
constexpr bool each_once(std::uint64_t sum, std::uint64_t count) noexcept {
  return sum == count * (count - 1) / 2;
}

}  // namespace lanes_bench
