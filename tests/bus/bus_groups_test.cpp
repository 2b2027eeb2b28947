// tests/bus/bus_groups_test.cpp: consumer groups: range and round-robin assignment, generations,
// rebalance callbacks, hand-over inside poll, commit/committed, and a rebalance while
// producers keep publishing (at-least-once with commit on revoke).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::assignment_strategy;
using namespace lanes_test;

constexpr std::uint32_t kPartitions = 6;

std::vector<topic_partition> parts(std::initializer_list<std::uint32_t> ps,
                                   const std::string& topic = "t") {
  std::vector<topic_partition> v;
  for (std::uint32_t p : ps) v.push_back({topic, p});
  return v;
}

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

TEST(BusGroups, CommitAndCommittedAndANewMemberStartsThere) {
  lanes_test::bus_with_topic bt("t", log_topic(2));
  auto& [b, p] = bt;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(p.publish(std::nullopt, std::to_string(i), lanes_test::opts().partition(0)));
  }
  {
    lanes::consumer c = b.make_consumer(
        lanes_test::cc().group("g").reset(offset_reset::earliest).auto_commit(false));
    ASSERT_EQ(c.subscribe({"t"}), errc::ok);
    EXPECT_EQ(lanes_test::poll_until(c, 10).size(), 10u);
    EXPECT_EQ(c.committed(tp0), -1);
    EXPECT_EQ(c.position(tp0), 10);
    ASSERT_EQ(c.commit(), errc::ok);
    EXPECT_EQ(c.committed(tp0), 10);
    EXPECT_EQ(c.committed(tp1), 0);  // position of an empty partition

    ASSERT_EQ(c.commit(tp0, 4), errc::ok);
    EXPECT_EQ(c.committed(tp0), 4);
    // Beyond the end: refused, nothing changes.
    EXPECT_EQ(c.commit(tp0, 11), errc::offset_out_of_range);
    EXPECT_EQ(c.commit(tp1, 1), errc::offset_out_of_range);
    EXPECT_EQ(c.committed(tp0), 4);
    EXPECT_EQ(c.commit({"t", 2}, 0), errc::invalid_partition);
    EXPECT_EQ(c.commit({"nope", 0}, 0), errc::unknown_topic);
    EXPECT_EQ(c.committed({"nope", 0}), -1);
    EXPECT_EQ(c.committed({"t", 7}), -1);
    EXPECT_EQ(b.describe_topic("t")->partitions[0].groups.at(0).committed, 4);
    EXPECT_EQ(b.describe_topic("t")->partitions[0].groups.at(0).lag, 6u);
    c.close();  // no auto-commit: the explicit commit stays
  }
  lanes::consumer d =
      b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::latest).auto_commit(false));
  ASSERT_EQ(d.subscribe({"t"}), errc::ok);
  EXPECT_EQ(d.committed(tp0), 4) << "committed offsets belong to the group";
  const auto got = lanes_test::poll_until(d, 6);
  ASSERT_EQ(got.size(), 6u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, 4 + i);
    EXPECT_EQ(got[i].value, std::to_string(4 + i));
  }
  EXPECT_TRUE(lanes_test::poll_quiet(d, 5ms).empty());

  // Another group has nothing committed.
  lanes::consumer other = b.make_consumer(lanes_test::cc().group("h"));
  EXPECT_EQ(other.committed(tp0), -1);

  // Commit on close when auto_commit is on (the default).
  {
    lanes::consumer e = b.make_consumer(lanes_test::cc().group("k").reset(offset_reset::earliest));
    ASSERT_EQ(e.subscribe({"t"}), errc::ok);
    EXPECT_EQ(lanes_test::poll_until(e, 10).size(), 10u);
    EXPECT_EQ(e.committed(tp0), -1) << "the auto-commit interval is 5 s";
  }
  EXPECT_EQ(other.committed(tp0), -1);
  lanes::consumer f = b.make_consumer(lanes_test::cc().group("k"));
  EXPECT_EQ(f.committed(tp0), 10);
}

TEST(BusGroups, GrouplessConsumerCannotCommitOrSubscribe) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(1)), errc::ok);
  lanes::consumer c = b.make_consumer({});
  const std::vector<topic_partition> tp = parts({0});
  ASSERT_EQ(c.assign(tp), errc::ok);
  EXPECT_EQ(c.commit(), errc::invalid_group);
  EXPECT_EQ(c.commit(tp[0], 0), errc::invalid_group);
  EXPECT_EQ(c.committed(tp[0]), -1);
  EXPECT_EQ(c.subscribe({"t"}), errc::invalid_group);
  EXPECT_TRUE(b.describe_topic("t")->partitions[0].groups.empty());
}

// More groups than the partition has reader slots: the member that cannot open its partition
// is told through poll (not left silently without it), and gets it once a slot frees up.
TEST(BusGroups, AMemberWhosePartitionHasNoReaderSlotLeftIsToldAndRetries) {
  lanes::bus b(quiet_bus());
  lanes::topic_config tc = log_topic(1);
  tc.max_readers = 2;
  ASSERT_EQ(b.create_topic("t", tc), errc::ok);
  auto member = [&](const std::string& g) {
    lanes::consumer c = b.make_consumer(lanes_test::cc().group(g).reset(offset_reset::earliest));
    EXPECT_EQ(c.subscribe({"t"}), errc::ok);
    return c;
  };
  lanes::consumer a = member("a");
  lanes::consumer bb = member("b");
  lanes::consumer c = member("c");  // the third group: no slot left
  lanes::producer p = b.make_producer("t");
  ASSERT_TRUE(p.publish(std::nullopt, "hello"));
  EXPECT_EQ(lanes_test::poll_until(a, 1).size(), 1u);
  EXPECT_EQ(lanes_test::poll_until(bb, 1).size(), 1u);
  const lanes::poll_result r = c.poll(5ms);
  EXPECT_EQ(r.status, errc::too_many_readers);
  EXPECT_TRUE(r.records.empty());
  EXPECT_TRUE(c.assignment().empty());
  a.close();  // frees a slot
  std::vector<lanes_test::owned_record> got;
  errc last = errc::ok;
  for (int i = 0; i < 2000 && got.empty(); ++i) {
    const lanes::poll_result q = c.poll(1ms);
    last = q.status;
    for (const auto& rec : q.records) got.push_back(lanes_test::own(rec));
  }
  EXPECT_EQ(last, errc::ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, "hello");
}

// Block policy: a partition between two owners of a group (the old one let go, the new one
// has not polled yet) is still held by the group. Its unread records must not be dropped to
// make room: the producer waits, and the new owner starts at the committed offset.
TEST(BusGroups, AHandOverKeepsTheGroupsUnreadRecords) {
  lanes_test::bus_with_topic bt("t", log_topic(2, 4096));
  auto& [b, p] = bt;
  const topic_partition tp1{"t", 1};
  const std::string value(100, 'v');
  auto cfg = lanes_test::cc().group("g").reset(offset_reset::earliest);
  lanes::consumer a = b.make_consumer(cfg);
  ASSERT_EQ(a.subscribe({"t"}), errc::ok);
  (void)a.poll();
  ASSERT_EQ(a.assignment().size(), 2u);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, value, lanes_test::opts().partition(1)));
  EXPECT_EQ(lanes_test::poll_until(a, 5).size(), 5u);

  lanes::consumer c = b.make_consumer(cfg);
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  (void)a.poll();  // a lets partition 1 go (range: a keeps 0), committing 5
  ASSERT_EQ(sorted(a.assignment()), parts({0}));
  EXPECT_EQ(a.committed(tp1), 5);

  // c has not polled yet: the producer fills partition 1 and then has to wait.
  p.set_max_block(20ms);
  std::uint64_t published = 5;
  for (; published < 1000; ++published) {
    const lanes::publish_result r = p.publish(std::nullopt, value, lanes_test::opts().partition(1));
    if (!r) {
      EXPECT_EQ(r.status, errc::timeout);
      break;
    }
  }
  EXPECT_LT(published, 1000u) << "the producer never waited for the group";
  EXPECT_LE(lanes_test::stats(b, "t", 1).log_start_offset, 5u) << "unread records were dropped";

  const auto got = lanes_test::poll_until(c, published - 5);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().offset, 5u) << "the new owner skipped records";
  EXPECT_EQ(got.size(), published - 5);

  // Once nobody in any group holds the partition, old records make room again.
  a.close();
  c.close();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(p.try_publish(std::nullopt, value, lanes_test::opts().partition(1))) << i;
  }
}

// Block policy: a group holds a partition from the moment a member is assigned it, not from
// that member's first poll. Records published in between are the group's to read: the
// producer waits for the group instead of dropping them to make room.
TEST(BusGroups, AMemberThatHasNotPolledYetHoldsItsPartitions) {
  lanes_test::bus_with_topic bt("t", log_topic(1, 4096));
  auto& [b, p] = bt;
  const std::string value(100, 'v');
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);

  // c has not polled yet: the producer fills the partition and then has to wait.
  p.set_max_block(20ms);
  std::uint64_t published = 0;
  for (; published < 1000; ++published) {
    const lanes::publish_result r = p.publish(std::nullopt, value);
    if (!r) {
      EXPECT_EQ(r.status, errc::timeout);
      break;
    }
  }
  EXPECT_LT(published, 1000u) << "the producer never waited for the group";
  EXPECT_EQ(lanes_test::stats(b, "t", 0).log_start_offset, 0u) << "unread records were dropped";

  const auto got = lanes_test::poll_until(c, published);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().offset, 0u) << "the first owner skipped records";
  EXPECT_EQ(got.size(), published);

  // Once the last member left, nobody holds the partition: old records make room again.
  c.close();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.try_publish(std::nullopt, value)) << i;
}

// Producers keep publishing while members join and leave. With commit on revoke (auto
// commit) nothing is skipped: the group sees every message at least once. The number of
// duplicates is reported (expected 0: positions are committed on every revoke). The
// producer publishes in kSlices slices and waits for a member to come and go between
// two slices, so rebalances interleave with publishing however fast either side is.
TEST(BusGroups, RebalanceWhileProducingLosesNothing) {
  const std::uint64_t total = lanes_test::stress_iters(100000);
  constexpr std::uint64_t kSlices = 20;
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(kPartitions, 1 << 14)), errc::ok);

  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::atomic<std::uint64_t> distinct{0};
  std::atomic<std::uint64_t> deliveries{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> rounds{0};

  auto consume = [&](lanes::consumer& c) {
    const lanes::poll_result r = c.poll(2ms);
    EXPECT_EQ(r.status, errc::ok);
    for (const lanes::record_view& v : r.records) {
      const std::uint64_t seq = lanes_test::tag_seq(lanes_test::value_tag(v.value));
      if (seq >= total) {
        ADD_FAILURE() << "bad tag";
        continue;
      }
      if (seen[seq].fetch_add(1) == 0) distinct.fetch_add(1);
    }
    deliveries.fetch_add(r.records.size());
  };
  auto config = [] {
    return lanes_test::cc().group("g").reset(offset_reset::earliest).max_poll_records(64);
  };

  lanes_test::start_line go(3);
  std::thread producer([&] {
    lanes::producer p = b.make_producer("t");
    p.set_max_block(10s);
    go.wait();
    for (std::uint64_t s = 0; s < total; ++s) {
      if (s % (total / kSlices) == 0) {
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (rounds.load() < s / (total / kSlices) && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(100us);
        }
      }
      const lanes::publish_result r = p.publish(std::nullopt, lanes_test::tag_value(0, s));
      if (!r) {
        ADD_FAILURE() << "publish: " << lanes::to_string(r.status);
        break;
      }
      published.fetch_add(1);
    }
  });
  // A steady member for the whole run.
  std::thread steady([&] {
    lanes::consumer c = b.make_consumer(config());
    EXPECT_EQ(c.subscribe({"t"}), errc::ok);
    go.wait();
    while (!stop.load()) consume(c);
  });
  // Members that come and go while the producer publishes.
  std::thread churn([&] {
    go.wait();
    int round = 0;
    while (published.load() < total && !stop.load()) {
      lanes::consumer c = b.make_consumer(config());
      EXPECT_EQ(c.subscribe({"t"}), errc::ok);
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(3 + round % 5);
      while (std::chrono::steady_clock::now() < until) consume(c);
      if (round % 2 == 0) c.close();  // else: the destructor leaves
      ++round;
      rounds.fetch_add(1);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (distinct.load() < total && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  producer.join();
  churn.join();
  stop = true;
  steady.join();

  EXPECT_EQ(published.load(), total);
  EXPECT_GE(rounds.load(), kSlices - 1);
  EXPECT_EQ(distinct.load(), total) << "messages skipped by a rebalance";
  const std::uint64_t dupes = deliveries.load() - distinct.load();
  RecordProperty("duplicates", std::to_string(dupes));
  std::printf("[ info     ] %llu messages, %llu rebalance rounds, %llu duplicates\n",
              static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(rounds.load()),
              static_cast<unsigned long long>(dupes));
}

}  // namespace
