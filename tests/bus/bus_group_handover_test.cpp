// tests/bus/bus_group_handover_test.cpp: a group keeps what it holds while partitions change
// hands: a member without a reader slot is told and retries, a hand-over and a member that has
// not polled yet keep the group's unread records, and a rebalance while producers keep
// publishing loses nothing (at-least-once with commit on revoke).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

constexpr std::uint32_t kPartitions = 6;

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
