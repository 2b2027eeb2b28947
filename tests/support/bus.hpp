// tests/support/bus.hpp: a bus, its log topics and records in tests (bus/, queue/, connect/).
//
//   errc, offset_reset, topic_partition, tp0, tp1  (partitions 0 and 1 of topic "t")
//   quiet_bus()          bus_config without the housekeeping thread: only enforce_retention
//                        moves the log start, so tests are deterministic. quiet_bus(dir):
//                        the same with a data directory.
//   clocked_bus(clock)   a quiet bus on a shifted_clock the test moves: visibility timeouts,
//                        delays and retention by age pass when the test says, not by sleeping.
//   log_topic(n, ring)   a log topic_config with n partitions of `ring` bytes.
//   durable_topic(n, d, ring)  the same, kept in the data directory with durability d.
//   parts({0, 1}, topic) those partitions of `topic` ("t" unless told).
//   bus_with_topic       a quiet bus, one topic and a producer of it.
//   owned_record, own    lanes::owned_record and lanes::own (views die at the next poll).
//   poll_until(c, n, d)  polls until n records arrived or d passed; returns them in order
//                        (the loop is fetch_until, shared with receive_until).
//   poll_quiet(c, d)     polls until one poll of duration d returns nothing.
//   reader_of(b, t, n)   a group-less consumer of the n partitions of topic t from the log
//                        start; end_offsets(b, t): the end offset of each of its partitions.
//   read_topic(b, t, n, k)  the first k records of topic t's n partitions from the log start
//                        (only durable ones when told), through reader_of.
//   snapshot(b, topic)   the describe_topic numbers as one comparable value, to check that a
//                        failed call changed nothing.
//   tag_value / value_tag  an 8-byte (producer, sequence) tag as a message value.
//   every_offset_reset(), offset_reset_name  the reset policies as test parameters.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/bus_clock.hpp"
#include "support/concurrency.hpp"

namespace lanes_test {

using namespace std::chrono_literals;
// The lanes names every bus and queue test uses, and the partitions of the usual topic "t".
using lanes::errc;
using lanes::offset_reset;
using lanes::topic_partition;
inline const topic_partition tp0{"t", 0};
inline const topic_partition tp1{"t", 1};

inline lanes::bus_config quiet_bus() {
  lanes::bus_config c;
  c.housekeeping_interval = std::chrono::milliseconds(0);
  return c;
}
// The same, with durable topics kept under `data_dir`.
inline lanes::bus_config quiet_bus(const std::filesystem::path& data_dir) {
  lanes::bus_config c = quiet_bus();
  c.data_dir = data_dir.string();
  return c;
}

// The same, on `clock` (lanes/bus_clock.hpp): the test advances it past a deadline.
inline lanes::bus_config clocked_bus(std::shared_ptr<const lanes::clock_source> clock) {
  lanes::bus_config c = quiet_bus();
  c.clock = std::move(clock);
  return c;
}

// Builders for publish_options and consumer_config. (Designated initializers that leave
// members out trip GCC 12's -Wmissing-field-initializers, which -Werror makes fatal.)
// Each call sets one member and returns the builder: cc().group("g").auto_commit(false).
template <class Self, class Config>
struct builder {
 protected:
  template <class Member, class Value>
  Self& set(Member Config::*member, Value&& value) {
    static_cast<Self&>(*this).c.*member = std::forward<Value>(value);
    return static_cast<Self&>(*this);
  }
};

struct opts : builder<opts, lanes::publish_options> {
  lanes::publish_options c;
  opts& partition(std::uint32_t p) { return set(&lanes::publish_options::partition, p); }
  opts& timestamp_ns(std::int64_t t) { return set(&lanes::publish_options::timestamp_ns, t); }
  opts& headers(std::span<const lanes::header> h) {
    return set(&lanes::publish_options::headers, h);
  }
  operator const lanes::publish_options&() const { return c; }  // NOLINT: implicit on purpose
};

struct cc : builder<cc, lanes::consumer_config> {
  lanes::consumer_config c;
  cc& group(std::string g) { return set(&lanes::consumer_config::group, std::move(g)); }
  cc& strategy(lanes::assignment_strategy s) { return set(&lanes::consumer_config::strategy, s); }
  cc& reset(lanes::offset_reset r) { return set(&lanes::consumer_config::reset, r); }
  cc& auto_commit(bool on) { return set(&lanes::consumer_config::auto_commit, on); }
  cc& max_poll_records(std::size_t n) { return set(&lanes::consumer_config::max_poll_records, n); }
  cc& busy_spin(bool on) { return set(&lanes::consumer_config::busy_spin, on); }
  operator lanes::consumer_config() const { return c; }  // NOLINT: implicit on purpose
};

// A bus (quiet_bus() unless told) with one topic created and a producer of it: the usual
// start of a bus or queue test. Throws (failing the test) when the topic cannot be created.
//   lanes_test::bus_with_topic bt("q", queue_topic(1));
//   auto& [b, p] = bt;
struct bus_with_topic {
  lanes::bus bus;
  lanes::producer producer;

  bus_with_topic(const std::string& topic, const lanes::topic_config& tc,
                 const lanes::bus_config& bc = quiet_bus())
      : bus(bc), producer(create_then_produce(bus, topic, tc)) {}

 private:
  static lanes::producer create_then_produce(lanes::bus& b, const std::string& topic,
                                             const lanes::topic_config& tc) {
    const lanes::errc st = b.create_topic(topic, tc);
    if (st != lanes::errc::ok)
      throw std::runtime_error("create_topic " + topic + ": " + std::string(lanes::to_string(st)));
    return b.make_producer(topic);
  }
};

inline lanes::topic_config log_topic(std::uint32_t partitions,
                                     std::size_t ring = std::size_t{1} << 16) {
  lanes::topic_config c;
  c.partitions = partitions;
  c.ring_capacity = ring;
  return c;
}

// The same, kept in the bus's data directory with durability `d`.
inline lanes::topic_config durable_topic(std::uint32_t partitions, lanes::durability d,
                                         std::size_t ring = 64 * 1024) {
  lanes::topic_config c = log_topic(partitions, ring);
  c.durable = d;
  return c;
}

inline std::vector<topic_partition> parts(std::initializer_list<std::uint32_t> ps,
                                          const std::string& topic = "t") {
  std::vector<topic_partition> v;
  for (std::uint32_t p : ps) v.push_back({topic, p});
  return v;
}

// The tests keep what they poll as lanes::owned_record (lanes::own copies a record_view).
using lanes::own;
using lanes::owned_record;

// Calls fetch(k) (one poll or receive of at most 10 ms, for at most k items) until `n` items
// arrived or `limit` passed, keeping own_item(x) of each x in its result's `items`. A status
// other than ok fails the test and ends the loop. (poll_until, receive_until.)
template <class Item, class Fetch, class Result, class Items, class Own>
std::vector<Item> fetch_until(std::size_t n, std::chrono::milliseconds limit, Fetch fetch,
                              Items Result::*items, Own own_item) {
  std::vector<Item> out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    const Result r = fetch(n - out.size());
    EXPECT_EQ(r.status, lanes::errc::ok) << lanes::to_string(r.status);
    if (r.status != lanes::errc::ok) break;
    for (const auto& x : r.*items) out.push_back(own_item(x));
  }
  return out;
}

// Polls (in slices of at most 10 ms) until `n` records arrived or `limit` passed. A poll
// status other than ok fails the test.
inline std::vector<owned_record> poll_until(lanes::consumer& c, std::size_t n,
                                            std::chrono::milliseconds limit = 5s) {
  const auto poll = [&](std::size_t) { return c.poll(10ms); };
  const auto own_view = [](const lanes::record_view& v) { return own(v); };
  return fetch_until<owned_record>(n, limit, poll, &lanes::poll_result::records, own_view);
}

// Polls until one poll of `quiet` returns no record; returns everything read.
inline std::vector<owned_record> poll_quiet(lanes::consumer& c,
                                            std::chrono::milliseconds quiet = 20ms) {
  std::vector<owned_record> out;
  for (int guard = 0; guard < 100000; ++guard) {
    const lanes::poll_result r = c.poll(quiet);
    EXPECT_EQ(r.status, lanes::errc::ok) << lanes::to_string(r.status);
    if (r.status != lanes::errc::ok || r.records.empty()) break;
    for (const lanes::record_view& v : r.records) out.push_back(own(v));
  }
  return out;
}

// A group-less consumer assigned every partition of `topic`, reading from the log start
// (`config` gives the rest; its reset is set to earliest).
inline lanes::consumer reader_of(lanes::bus& b, const std::string& topic, std::uint32_t partitions,
                                 lanes::consumer_config config = {}) {
  config.reset = offset_reset::earliest;
  lanes::consumer c = b.make_consumer(config);
  std::vector<topic_partition> all;
  for (std::uint32_t i = 0; i < partitions; ++i) all.push_back({topic, i});
  EXPECT_EQ(c.assign(all), errc::ok);
  return c;
}

// Every record of `topic` from the start (at least `expect`, waiting up to 10 s for them);
// with `durable_only`, only what is durable (consumer_config::read_durable_only).
inline std::vector<owned_record> read_topic(lanes::bus& b, const std::string& topic,
                                            std::uint32_t partitions, std::size_t expect,
                                            bool durable_only = false) {
  lanes::consumer_config config;
  config.read_durable_only = durable_only;
  lanes::consumer c = reader_of(b, topic, partitions, config);
  return poll_until(c, expect, 10s);
}

inline std::vector<std::uint64_t> end_offsets(const lanes::bus& b, const std::string& topic) {
  std::vector<std::uint64_t> out;
  const auto info = b.describe_topic(topic);
  if (!info) return out;
  for (const auto& p : info->partitions) out.push_back(p.end_offset);
  return out;
}

// (partition, log start, end, bytes, [(group, committed, lag)...]) for every partition.
using group_numbers = std::tuple<std::string, std::int64_t, std::uint64_t>;
using partition_numbers = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::uint64_t,
                                     std::vector<group_numbers>>;

inline std::optional<std::vector<partition_numbers>> snapshot(const lanes::bus& b,
                                                              std::string_view topic) {
  const auto info = b.describe_topic(topic);
  if (!info) return std::nullopt;
  std::vector<partition_numbers> out;
  for (const lanes::partition_stats& p : info->partitions) {
    std::vector<group_numbers> gs;
    for (const auto& g : p.groups) gs.emplace_back(g.group, g.committed, g.lag);
    out.emplace_back(p.partition, p.log_start_offset, p.end_offset, p.bytes, std::move(gs));
  }
  return out;
}

inline lanes::partition_stats stats(const lanes::bus& b, std::string_view topic,
                                    std::uint32_t partition) {
  const auto info = b.describe_topic(topic);
  EXPECT_TRUE(info.has_value()) << topic;
  if (!info || partition >= info->partitions.size()) return {};
  return info->partitions[partition];
}

inline std::string tag_value(std::uint64_t producer, std::uint64_t seq) {
  const std::uint64_t t = lanes_test::make_tag(producer, seq);
  std::string s(sizeof t, '\0');
  std::memcpy(s.data(), &t, sizeof t);
  return s;
}

inline std::uint64_t value_tag(std::string_view v) {
  std::uint64_t t = 0;
  EXPECT_EQ(v.size(), sizeof t);
  if (v.size() == sizeof t) std::memcpy(&t, v.data(), sizeof t);
  return t;
}

// Concatenates strings and numbers. (GCC 12 at -O3 gives a false -Wrestrict on
// "literal" + std::string, which -Werror makes fatal.)
inline void append_to(std::string& s, std::string_view v) { s.append(v); }
inline void append_to(std::string& s, const char* v) { s.append(v); }
inline void append_to(std::string& s, const std::string& v) { s.append(v); }
template <class N>
requires std::is_arithmetic_v<N>
inline void append_to(std::string& s, N n) { s.append(std::to_string(n)); }
template <class... T>
std::string cat(const T&... parts) {
  std::string s;
  (append_to(s, parts), ...);
  return s;
}

inline std::vector<lanes::topic_partition> sorted(std::vector<lanes::topic_partition> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return v;
}

// The three offset_reset policies as test parameters, and their names for the test names
// ("Policies/Overrun.X/earliest"): INSTANTIATE_TEST_SUITE_P(Policies, Suite,
// every_offset_reset(), offset_reset_name).
inline auto every_offset_reset() {
  return ::testing::Values(lanes::offset_reset::earliest, lanes::offset_reset::latest,
                           lanes::offset_reset::error);
}
inline std::string offset_reset_name(const ::testing::TestParamInfo<lanes::offset_reset>& info) {
  switch (info.param) {
    case lanes::offset_reset::earliest: return "earliest";
    case lanes::offset_reset::latest: return "latest";
    case lanes::offset_reset::error: return "error";
  }
  return "unknown";
}

// Bytes a record with this key, header and value payload holds in a partition's ring.
inline std::uint64_t record_footprint(std::size_t body) {
  return lanes::frame_footprint(sizeof(lanes::record_header) + body);
}

}  // namespace lanes_test
