// tests/bus/bus_publish_batch_test.cpp: publish_batch in both producer modes: records in order,
// the call stops at the first failure, and many partitions and full rings with a consumer
// reading meanwhile lose nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

// Both producer modes: a single-producer topic publishes each call's records together.
class PublishBatch : public ::testing::TestWithParam<lanes::producer_mode> {};

INSTANTIATE_TEST_SUITE_P(Modes, PublishBatch,
                         ::testing::Values(lanes::producer_mode::single,
                                           lanes::producer_mode::multi),
                         [](const auto& param_info) {
                           return param_info.param == lanes::producer_mode::single ? "single"
                                                                                   : "multi";
                         });

TEST_P(PublishBatch, InOrderAndStopsAtFirstFailure) {
  lanes::topic_config tc = log_topic(2);
  tc.producers = GetParam();
  lanes_test::bus_with_topic bt("t", tc);
  auto& [b, p] = bt;
  std::vector<lanes::message> ms;
  for (int i = 0; i < 5; ++i) {
    lanes::message m;
    m.value = i % 2 == 0 ? "even" : "odd";
    m.options.partition = static_cast<std::uint32_t>(i % 2);
    m.options.timestamp_ns = 1000 + i;
    ms.push_back(m);
  }
  std::vector<lanes::publish_result> rs(5);
  ASSERT_EQ(p.publish_batch(ms, rs), 5u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(rs[i]);
    EXPECT_EQ(rs[i].partition, static_cast<std::uint32_t>(i % 2));
    EXPECT_EQ(rs[i].offset, static_cast<std::uint64_t>(i / 2));
  }

  // The third message names a partition that does not exist: two go out, then it stops.
  ms[2].options.partition = 9;
  std::vector<lanes::publish_result> rs2(5);
  EXPECT_EQ(p.publish_batch(ms, rs2), 2u);
  EXPECT_EQ(rs2[2].status, errc::invalid_partition);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{4, 3}));

  // Fewer result slots than messages: only that many are published.
  std::vector<lanes::publish_result> rs3(1);
  ms[2].options.partition = 0;
  EXPECT_EQ(p.publish_batch(ms, rs3), 1u);
  EXPECT_EQ(end_offsets(b, "t"), (std::vector<std::uint64_t>{5, 3}));

  lanes::consumer c = reader_of(b, "t", 2);
  const auto got = lanes_test::poll_until(c, 8);
  ASSERT_EQ(got.size(), 8u);
  for (const owned_record& r : got) EXPECT_EQ(r.value, r.partition == 0 ? "even" : "odd");

  // Records without a timestamp of their own get the call's time (one clock read).
  std::vector<lanes::message> plain(3);
  for (auto& m : plain) m.value = "t";
  plain[1].options.timestamp_ns = 77;
  const std::int64_t before = lanes::realtime_ns();
  ASSERT_EQ(p.publish_batch(plain, rs), 3u);
  const auto stamped = lanes_test::poll_until(c, 3);
  ASSERT_EQ(stamped.size(), 3u);
  std::vector<std::int64_t> ts;
  for (const owned_record& r : stamped) ts.push_back(r.timestamp_ns);
  std::sort(ts.begin(), ts.end());
  EXPECT_EQ(ts[0], 77);
  EXPECT_EQ(ts[1], ts[2]);
  EXPECT_GE(ts[1], before);
}

// More partitions than a call keeps open at once, rings smaller than one call's records and
// a consumer reading meanwhile: every record arrives once, per key in order, offsets dense.
TEST_P(PublishBatch, ManyPartitionsAndFullRingsWithAConcurrentConsumer) {
  lanes::topic_config tc = log_topic(12, 4096);
  tc.producers = GetParam();
  lanes_test::bus_with_topic bt("t", tc);
  auto& [b, p] = bt;
  lanes::consumer c = reader_of(b, "t", 12);
  constexpr int kCalls = 40, kPerCall = 150, kKeys = 37;
  std::thread producer([&] {
    std::vector<std::string> keys, values;
    for (int i = 0; i < kPerCall; ++i) values.emplace_back(24, ' ');
    for (int k = 0; k < kKeys; ++k) keys.push_back("key-" + std::to_string(k));
    std::vector<lanes::message> ms(kPerCall);
    std::vector<lanes::publish_result> rs(kPerCall);
    for (int call = 0; call < kCalls; ++call) {
      for (int i = 0; i < kPerCall; ++i) {
        const int seq = call * kPerCall + i;
        const int key = seq % kKeys;
        std::snprintf(values[i].data(), values[i].size() + 1, "%08d:%015d", key, seq);
        ms[i].key = keys[static_cast<std::size_t>(key)];
        ms[i].value = values[i];
      }
      ASSERT_EQ(p.publish_batch(ms, rs), static_cast<std::size_t>(kPerCall));
    }
  });
  const auto got = lanes_test::poll_until(c, kCalls * kPerCall, 20s);
  producer.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCalls * kPerCall));
  std::vector<std::uint64_t> next_offset(12, 0);
  std::vector<int> last_seq(kKeys, -1);
  for (const owned_record& r : got) {
    EXPECT_EQ(r.offset, next_offset[r.partition]++) << "partition " << r.partition;
    const int key = std::stoi(r.value.substr(0, 8));
    const int seq = std::stoi(r.value.substr(9));
    EXPECT_EQ(r.key, "key-" + std::to_string(key));
    EXPECT_GT(seq, last_seq[static_cast<std::size_t>(key)]) << "key " << key << " out of order";
    last_seq[static_cast<std::size_t>(key)] = seq;
  }
  EXPECT_EQ(end_offsets(b, "t"), next_offset);
}

}  // namespace
