// tests/bus/bus_stress_test.cpp: everything at once, for ThreadSanitizer and for order.
// Four producers, two groups of two consumers (one member leaves and rejoins again and
// again), retention by bytes applied by the housekeeping thread every millisecond. Each
// consumer object checks that each producer's messages in each partition come in publish
// order; retention may drop messages, so completeness is not asserted, only that reading
// made progress. Longer with LANES_STRESS=<k>.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"
#include "support/io.hpp"

namespace {

using namespace std::chrono_literals;
using lanes::errc;
using lanes::offset_reset;

constexpr std::uint32_t kPartitions = 4;
constexpr int kProducers = 4;

// Per consumer object: the next sequence number expected per (partition, producer).
struct order_check {
  std::array<std::array<std::uint64_t, kProducers>, kPartitions> next{};
  std::uint64_t records = 0;
  std::uint64_t violations = 0;

  void see(const lanes::record_view& r) {
    ++records;
    const std::uint64_t tag = lanes_test::value_tag(r.value);
    const std::uint64_t pr = lanes_test::tag_producer(tag);
    if (r.partition >= kPartitions || pr >= kProducers) {
      ++violations;
      return;
    }
    std::uint64_t& n = next[r.partition][pr];
    if (lanes_test::tag_seq(tag) < n) ++violations;
    n = lanes_test::tag_seq(tag) + 1;
  }
};

// Memory only, and durable: there the ring is a cache, consumers fall behind it onto the
// segment files and come back while the persister writes, rolls segments and applies
// retention to them.
class BusStress : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Storage, BusStress, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "durable" : "memory";
                         });

TEST_P(BusStress, ProducersGroupsChurnAndRetentionTogether) {
  const bool durable = GetParam();
  if (durable) LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes::bus_config bc;
  bc.housekeeping_interval = 1ms;
  if (durable) bc.data_dir = dir.path().string();
  lanes::bus b(bc);
  lanes::topic_config tc;
  tc.partitions = kPartitions;
  tc.ring_capacity = 1 << 14;
  tc.retention_bytes = 1 << 12;
  if (durable) {
    tc.durable = lanes::durability::async;
    tc.segment_bytes = 1 << 15;    // many rolls
    tc.retention_bytes = 1 << 17;  // whole segments deleted while consumers read them
  }
  ASSERT_EQ(b.create_topic("t", tc), errc::ok);

  // Time-based, so the same under ThreadSanitizer (each round is just slower there).
  const auto run_for = std::chrono::milliseconds(400 * lanes_test::env_u64("LANES_STRESS", 1));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> violations{0};
  std::atomic<std::uint64_t> rejoins{0};
  lanes_test::start_line go(kProducers + 4 + 1);

  std::vector<std::thread> ts;
  for (int pr = 0; pr < kProducers; ++pr) {
    ts.emplace_back([&, pr] {
      lanes::producer p = b.make_producer("t");
      p.set_max_block(20ms);
      go.wait();
      std::uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        // Keyed (to a partition of its own choice) for half the producers.
        const std::string key = lanes_test::cat("k", seq % 5);
        const lanes::publish_result r =
            p.publish(pr % 2 == 0 ? std::optional<std::string_view>(key) : std::nullopt,
                      lanes_test::tag_value(static_cast<std::uint64_t>(pr), seq));
        if (r) {
          ++seq;
          published.fetch_add(1, std::memory_order_relaxed);
        } else if (r.status != errc::timeout) {
          ADD_FAILURE() << "publish: " << lanes::to_string(r.status);
          return;
        }
      }
    });
  }
  auto member = [&](const char* group, bool churn) {
    return [&, group, churn] {
      go.wait();
      int round = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        lanes::consumer c = b.make_consumer(
            lanes_test::cc().group(group).reset(offset_reset::earliest).max_poll_records(128));
        if (c.subscribe({"t"}) != errc::ok) {
          ADD_FAILURE() << "subscribe";
          return;
        }
        order_check check;
        const auto leave_at =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(5 + round % 7);
        while (!stop.load(std::memory_order_relaxed) &&
               (!churn || std::chrono::steady_clock::now() < leave_at)) {
          const lanes::poll_result r = c.poll(1ms);
          if (r.status != errc::ok) {
            ADD_FAILURE() << "poll: " << lanes::to_string(r.status);
            return;
          }
          for (const lanes::record_view& v : r.records) check.see(v);
          if (round % 3 == 0 && churn) (void)c.commit();
        }
        consumed.fetch_add(check.records);
        violations.fetch_add(check.violations);
        if (!churn) return;
        ++round;
        rejoins.fetch_add(1);
        if (round % 2 == 0) c.close();  // else the destructor leaves
      }
    };
  };
  ts.emplace_back(member("a", false));
  ts.emplace_back(member("a", true));
  ts.emplace_back(member("b", false));
  ts.emplace_back(member("b", false));

  go.wait();
  std::this_thread::sleep_for(run_for);
  stop = true;
  for (auto& t : ts) t.join();

  EXPECT_EQ(violations.load(), 0u) << "a producer's messages came out of order";
  EXPECT_GT(published.load(), 0u);
  EXPECT_GT(consumed.load(), 0u);
  EXPECT_GT(rejoins.load(), 0u);
  const auto info = b.describe_topic("t");
  ASSERT_TRUE(info.has_value());
  for (const auto& p : info->partitions) {
    EXPECT_LE(p.log_start_offset, p.end_offset);
    EXPECT_LE(p.bytes, tc.ring_capacity);
  }
  std::printf("[ info     ] %llu published, %llu consumed, %llu rejoins in %lld ms\n",
              static_cast<unsigned long long>(published.load()),
              static_cast<unsigned long long>(consumed.load()),
              static_cast<unsigned long long>(rejoins.load()),
              static_cast<long long>(run_for.count()));
}

}  // namespace
