// tests/bus/bus_group_assignment_test.cpp: consumer groups: range and round-robin assignment,
// generations, and rebalance callbacks with the hand-over inside poll.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;
using lanes::assignment_strategy;

constexpr std::uint32_t kPartitions = 6;

// Polls every member in turn until their assignments cover all partitions of "t" without
// overlap (hand-over needs the old owner to poll too), or `limit` passes.
bool settle(std::vector<lanes::consumer*> ms, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::size_t owned = 0;
    std::set<std::uint32_t> all;
    for (lanes::consumer* m : ms) {
      (void)m->poll();
      for (const auto& tp : m->assignment()) {
        ++owned;
        all.insert(tp.partition);
      }
    }
    if (owned == kPartitions && all.size() == kPartitions) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// Each partition owned by exactly one member: union is everything, pairwise disjoint.
void expect_partitioned(const std::vector<lanes::consumer*>& ms) {
  std::vector<int> owners(kPartitions, 0);
  for (lanes::consumer* m : ms) {
    for (const auto& tp : m->assignment()) {
      EXPECT_EQ(tp.topic, "t");
      ASSERT_LT(tp.partition, kPartitions);
      ++owners[tp.partition];
    }
  }
  for (std::uint32_t p = 0; p < kPartitions; ++p) {
    EXPECT_EQ(owners[p], 1) << "partition " << p;
  }
}

class GroupAssignment : public ::testing::TestWithParam<std::tuple<assignment_strategy, int>> {};

TEST_P(GroupAssignment, EachPartitionToExactlyOneMemberBalanced) {
  const auto [strategy, members] = GetParam();
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(kPartitions, 4096)), errc::ok);
  std::vector<std::unique_ptr<lanes::consumer>> cs;
  std::vector<lanes::consumer*> ms;
  for (int i = 0; i < members; ++i) {
    cs.push_back(std::make_unique<lanes::consumer>(
        b.make_consumer(lanes_test::cc().group("g").strategy(strategy))));
    ASSERT_EQ(cs.back()->subscribe({"t"}), errc::ok);
    ms.push_back(cs.back().get());
  }
  ASSERT_TRUE(settle(ms));
  expect_partitioned(ms);

  const std::size_t k = static_cast<std::size_t>(members);
  for (std::size_t i = 0; i < k; ++i) {
    const auto mine = sorted(ms[i]->assignment());
    // Balanced: sizes differ by at most one.
    EXPECT_GE(mine.size(), kPartitions / k);
    EXPECT_LE(mine.size(), (kPartitions + k - 1) / k);
    if (strategy == assignment_strategy::range) {
      for (std::size_t j = 1; j < mine.size(); ++j) {
        EXPECT_EQ(mine[j].partition, mine[j - 1].partition + 1) << "range is contiguous";
      }
    } else {
      for (std::size_t j = 1; j < mine.size(); ++j) {
        EXPECT_EQ(mine[j].partition, mine[j - 1].partition + k) << "round-robin deals in turn";
      }
    }
  }
  // Every member has applied the same, latest generation.
  for (lanes::consumer* m : ms) EXPECT_EQ(m->generation(), ms.front()->generation());
}

INSTANTIATE_TEST_SUITE_P(RangeAndRoundRobin, GroupAssignment,
                         ::testing::Combine(::testing::Values(assignment_strategy::range,
                                                              assignment_strategy::round_robin),
                                            ::testing::Values(1, 2, 3, 4)),
                         [](const auto& param_info) {
                           return std::string(std::get<0>(param_info.param) ==
                                                      assignment_strategy::range
                                                  ? "range"
                                                  : "round_robin") +
                                  lanes_test::cat("_", std::get<1>(param_info.param), "_members");
                         });

TEST(BusGroups, GenerationGrowsOnJoinLeaveAndClose) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(kPartitions, 4096)), errc::ok);
  lanes::consumer a = b.make_consumer(lanes_test::cc().group("g"));
  EXPECT_EQ(a.generation(), 0u);
  ASSERT_EQ(a.subscribe({"t"}), errc::ok);
  (void)a.poll();
  const std::uint64_t g1 = a.generation();
  EXPECT_GT(g1, 0u);
  EXPECT_EQ(a.assignment().size(), kPartitions);

  std::uint64_t g2 = 0;
  {
    lanes::consumer c = b.make_consumer(lanes_test::cc().group("g"));
    ASSERT_EQ(c.subscribe({"t"}), errc::ok);
    ASSERT_TRUE(settle({&a, &c}));
    g2 = a.generation();
    EXPECT_GT(g2, g1) << "join";
    EXPECT_EQ(c.generation(), g2);
    EXPECT_EQ(a.assignment().size(), 3u);
    c.close();  // leave
    EXPECT_EQ(c.poll().status, errc::closed);
  }
  ASSERT_TRUE(settle({&a}));
  const std::uint64_t g3 = a.generation();
  EXPECT_GT(g3, g2) << "close";
  EXPECT_EQ(a.assignment().size(), kPartitions);

  {
    lanes::consumer d = b.make_consumer(lanes_test::cc().group("g"));
    ASSERT_EQ(d.subscribe({"t"}), errc::ok);
    ASSERT_TRUE(settle({&a, &d}));
    EXPECT_GT(a.generation(), g3);
  }  // destroyed without close(): leaves too
  const std::uint64_t g4 = a.generation();
  ASSERT_TRUE(settle({&a}));
  EXPECT_GT(a.generation(), g4) << "destruction";
  EXPECT_EQ(a.assignment().size(), kPartitions);

  // Another group has its own generations and its own ownership.
  lanes::consumer other = b.make_consumer(lanes_test::cc().group("h"));
  ASSERT_EQ(other.subscribe({"t"}), errc::ok);
  (void)other.poll();
  EXPECT_EQ(other.assignment().size(), kPartitions);
  EXPECT_EQ(a.assignment().size(), kPartitions);
}

TEST(BusGroups, CallbacksFireWithTheMovedPartitionsAndHandOverHappensInPoll) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(kPartitions, 4096)), errc::ok);
  struct log {
    std::vector<std::vector<topic_partition>> assigned, revoked;
  };
  auto config = [](log& l) {
    lanes::consumer_config c;
    c.group = "g";
    c.on_assigned = [&l](std::span<const topic_partition> ps) {
      l.assigned.emplace_back(ps.begin(), ps.end());
    };
    c.on_revoked = [&l](std::span<const topic_partition> ps) {
      l.revoked.emplace_back(ps.begin(), ps.end());
    };
    return c;
  };
  log la, lb;
  lanes::consumer a = b.make_consumer(config(la));
  ASSERT_EQ(a.subscribe({"t"}), errc::ok);
  EXPECT_TRUE(la.assigned.empty()) << "callbacks run inside poll only";
  (void)a.poll();
  ASSERT_EQ(la.assigned.size(), 1u);
  EXPECT_EQ(sorted(la.assigned[0]), parts({0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(la.revoked.empty());

  lanes::consumer c = b.make_consumer(config(lb));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  // The new member may not take partitions that `a` has not let go of yet.
  (void)c.poll();
  EXPECT_TRUE(c.assignment().empty());
  EXPECT_TRUE(lb.assigned.empty());
  // A bounded poll returns even though the hand-over is still pending.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.poll(30ms).records.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "poll overran its timeout";
  EXPECT_TRUE(c.assignment().empty());

  (void)a.poll();  // a applies the rebalance: range keeps 0..2, gives up 3..5
  ASSERT_EQ(la.revoked.size(), 1u);
  EXPECT_EQ(sorted(la.revoked[0]), parts({3, 4, 5}));
  EXPECT_EQ(la.assigned.size(), 1u) << "nothing new for a";
  EXPECT_EQ(sorted(a.assignment()), parts({0, 1, 2}));

  (void)c.poll();
  ASSERT_EQ(lb.assigned.size(), 1u);
  EXPECT_EQ(sorted(lb.assigned[0]), parts({3, 4, 5}));
  EXPECT_EQ(sorted(c.assignment()), parts({3, 4, 5}));

  c.close();
  ASSERT_EQ(lb.revoked.size(), 0u) << "close releases without a revoke callback";
  (void)a.poll();
  ASSERT_EQ(la.assigned.size(), 2u);
  EXPECT_EQ(sorted(la.assigned[1]), parts({3, 4, 5}));
  EXPECT_EQ(sorted(a.assignment()), parts({0, 1, 2, 3, 4, 5}));
}

}  // namespace
