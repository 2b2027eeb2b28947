// tests/bus/bus_produce_consume_test.cpp: per-producer order per partition, seen by several
// groups while several producer threads publish.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

// Several producer threads publish tagged values to a multi-producer topic while two groups
// of two members each read everything: every group sees every message exactly once, and each
// producer's messages to a partition arrive in publish order.
TEST(BusProduceConsume, PerProducerOrderPerPartitionInEveryGroup) {
  constexpr std::uint32_t partitions = 4;
  constexpr int producers = 3;
  constexpr int groups = 2;
  constexpr int members = 2;
  const std::uint64_t per_producer = lanes_test::stress_iters(10000);
  const std::uint64_t total = per_producer * producers;

  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(partitions, 1 << 14)), errc::ok);

  struct seen {
    std::uint32_t partition;
    std::uint64_t offset;
    std::uint64_t tag;
  };
  std::vector<lanes::consumer> cs;
  for (int g = 0; g < groups; ++g) {
    for (int m = 0; m < members; ++m) {
      cs.push_back(b.make_consumer(
          lanes_test::cc().group(lanes_test::cat("g", g)).reset(offset_reset::earliest)));
      ASSERT_EQ(cs.back().subscribe({"t"}), errc::ok);
    }
  }
  std::array<std::atomic<std::uint64_t>, groups> group_count{};
  std::vector<std::vector<seen>> got(cs.size());
  lanes_test::start_line settled(groups * members + producers);
  std::atomic<bool> give_up{false};

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    threads.emplace_back([&, i] {
      lanes::consumer& c = cs[i];
      const int g = static_cast<int>(i) / members;
      // Stable group first: own exactly this member's share before anyone publishes.
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (c.assignment().size() != partitions / members &&
             std::chrono::steady_clock::now() < deadline) {
        (void)c.poll(1ms);
      }
      settled.wait();
      while (group_count[g].load() < total && !give_up.load()) {
        const lanes::poll_result r = c.poll(5ms);
        if (r.status != errc::ok) break;
        for (const lanes::record_view& v : r.records) {
          got[i].push_back({v.partition, v.offset, lanes_test::value_tag(v.value)});
        }
        group_count[g].fetch_add(r.records.size());
      }
    });
  }
  for (int pr = 0; pr < producers; ++pr) {
    threads.emplace_back([&, pr] {
      lanes::producer p = b.make_producer("t");
      p.set_max_block(10s);
      settled.wait();
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        // Keyless (round-robin) for one producer, keyed for the others.
        const std::string key = lanes_test::cat("p", pr, "-", s % 7);
        const lanes::publish_result r =
            p.publish(pr == 0 ? std::nullopt : std::optional<std::string_view>(key),
                      lanes_test::tag_value(pr, s));
        if (!r) {
          ADD_FAILURE() << "publish: " << lanes::to_string(r.status);
          give_up = true;
          return;
        }
      }
    });
  }
  // A watchdog so that a lost message fails the test instead of hanging it.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((group_count[0].load() < total || group_count[1].load() < total) &&
         std::chrono::steady_clock::now() < deadline && !give_up.load()) {
    std::this_thread::sleep_for(1ms);
  }
  give_up = true;
  for (auto& t : threads) t.join();

  for (int g = 0; g < groups; ++g) {
    EXPECT_EQ(group_count[g].load(), total) << "group " << g;
    std::vector<std::uint8_t> once(total, 0);
    std::uint64_t dupes = 0;
    for (int m = 0; m < members; ++m) {
      const auto& v = got[static_cast<std::size_t>(g * members + m)];
      std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> next_seq;  // (part, prod)
      std::array<std::uint64_t, partitions> last_offset{};
      std::array<bool, partitions> any{};
      for (const seen& s : v) {
        const std::uint64_t pr = lanes_test::tag_producer(s.tag);
        const std::uint64_t seq = lanes_test::tag_seq(s.tag);
        ASSERT_LT(pr, static_cast<std::uint64_t>(producers));
        ASSERT_LT(seq, per_producer);
        auto& n = next_seq[{s.partition, pr}];
        EXPECT_GE(seq, n) << "group " << g << " partition " << s.partition << " producer " << pr
                          << " went back";
        n = seq + 1;
        if (any[s.partition]) {
          EXPECT_EQ(s.offset, last_offset[s.partition] + 1);
        }
        any[s.partition] = true;
        last_offset[s.partition] = s.offset;
        std::uint8_t& o = once[pr * per_producer + seq];
        if (o != 0) ++dupes;
        o = 1;
      }
    }
    EXPECT_EQ(dupes, 0u) << "group " << g;
    EXPECT_EQ(std::count(once.begin(), once.end(), 1), static_cast<std::ptrdiff_t>(total))
        << "group " << g << " missed messages";
  }
}

}  // namespace
