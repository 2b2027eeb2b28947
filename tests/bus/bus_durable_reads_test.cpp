// tests/bus/bus_durable_reads_test.cpp: consumers of a bus with a data directory that read the
// files (DESIGN.md, Durability).
//
// Consumers that fall behind the ring read the files and come back to it without a gap, and
// do not hold producers back when they stop; seek by offset and by time reaches into the
// files; disk retention (by size, and by age on the bus's clock) moves a reader it passed
// and tells it where.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/bus_clock.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"
#include "support/io.hpp"

namespace {

using namespace lanes_test;
using BusDurable = lanes_test::data_dir_test;

TEST_F(BusDurable, AReaderThatDiskRetentionPassedIsToldWhereItWasMoved) {
  lanes::bus b(quiet_bus(dir.path()));
  lanes::topic_config tc = durable_topic(1, lanes::durability::async);
  tc.segment_bytes = 64 * 1024;
  tc.retention_bytes = 128 * 1024;  // about two segments on disk
  ASSERT_EQ(b.create_topic("logs", tc), errc::ok);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> resets;
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::earliest;
  cc.on_offset_reset = [&](const lanes::topic_partition&, std::uint64_t from, std::uint64_t to) {
    resets.emplace_back(from, to);
  };
  lanes::consumer c = b.make_consumer(cc);
  const std::vector<lanes::topic_partition> mine{{"logs", 0}};
  ASSERT_EQ(c.assign(mine), errc::ok);
  ASSERT_EQ(c.position({"logs", 0}), 0);
  lanes::producer p = b.make_producer("logs");
  const std::string value(200, 'x');
  lanes::publish_result last;
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(last = p.publish(std::nullopt, value));
  ASSERT_EQ(p.wait_durable(0, last.offset, 10s), errc::ok);
  // The persister applies disk retention about once a second.
  std::uint64_t log_start = 0;
  for (int i = 0; i < 500 && log_start == 0; ++i) {
    log_start = b.describe_topic("logs")->partitions[0].log_start_offset;
    if (log_start == 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(log_start, 0u) << "retention deleted the oldest segments";
  const lanes::poll_result r = c.poll(1s);
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_FALSE(r.records.empty());
  EXPECT_GE(r.records[0].offset, log_start);
  // Every move of the log start past this consumer is one reset, reported as it happens: one
  // retention pass deletes all the segments it deletes at once (one move), but a pass that
  // runs while this poll reads the files moves it again. So the resets form a chain from 0
  // to the first record handed out, and skipped() is their sum.
  ASSERT_GE(resets.size(), 1u) << "the jump over deleted records is reported";
  EXPECT_EQ(resets.front().first, 0u);
  for (std::size_t i = 1; i < resets.size(); ++i) {
    EXPECT_EQ(resets[i].first, resets[i - 1].second) << "reset " << i;
    EXPECT_GT(resets[i].second, resets[i].first) << "reset " << i;
  }
  EXPECT_EQ(resets.back().second, r.records[0].offset);
  EXPECT_EQ(c.skipped({"logs", 0}), static_cast<std::int64_t>(r.records[0].offset));
}

// Retention by age on disk reads the bus's clock (bus_config::clock), as in memory.
TEST_F(BusDurable, DiskRetentionByAgeGoesByTheBusClock) {
  const auto clock = std::make_shared<lanes::shifted_clock>();
  lanes::bus_config bc = lanes_test::clocked_bus(clock);
  bc.data_dir = dir.path().string();
  lanes::bus b(bc);
  lanes::topic_config tc = durable_topic(1, lanes::durability::async);
  tc.segment_bytes = 64 * 1024;
  tc.retention_age = 1h;
  ASSERT_EQ(b.create_topic("logs", tc), errc::ok);
  lanes::producer p = b.make_producer("logs");
  const std::string value(200, 'x');
  lanes::publish_result last;
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(last = p.publish(std::nullopt, value));
  ASSERT_EQ(p.wait_durable(0, last.offset, 10s), errc::ok);
  EXPECT_EQ(b.describe_topic("logs")->partitions[0].log_start_offset, 0u) << "fresh records";
  // Two hours later on the bus's clock, every sealed segment is too old; the persister
  // applies disk retention about once a second.
  clock->advance(2h);
  ASSERT_TRUE(
      wait_until([&] { return b.describe_topic("logs")->partitions[0].log_start_offset > 0; }, 60s))
      << "retention by age deleted the sealed segments";
  const auto s = b.describe_topic("logs")->partitions[0];
  EXPECT_LE(s.log_start_offset, last.offset) << "the active segment stays";
  EXPECT_EQ(s.end_offset, last.offset + 1);
}

TEST_F(BusDurable, ConsumerBehindTheRingReadsTheFilesThenTheRingWithoutAGap) {
  lanes::bus b(quiet_bus(dir.path()));
  // A 4 KiB ring holds a few dozen records; 5000 go through it.
  ASSERT_EQ(b.create_topic("t", durable_topic(1, lanes::durability::async, 4096)), errc::ok);
  lanes::consumer_config cc;
  cc.group = "slow";
  cc.reset = lanes::offset_reset::earliest;
  lanes::consumer slow = b.make_consumer(cc);
  ASSERT_EQ(slow.subscribe({"t"}), errc::ok);
  for (int i = 0; i < 200 && slow.assignment().empty(); ++i) (void)slow.poll(1ms);
  ASSERT_EQ(slow.assignment().size(), 1u);
  lanes::producer p = b.make_producer("t");
  constexpr int kCount = 5000;
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) {
      char v[16];
      std::snprintf(v, sizeof v, "%08d", i);
      ASSERT_TRUE(p.publish(std::nullopt, v)) << i;  // waits for the disk, never for `slow`
    }
  });
  producer.join();  // the consumer has not read anything: the producer did not wait for it
  const auto got = lanes_test::poll_until(slow, kCount, 20s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].offset, static_cast<std::uint64_t>(i));
    char v[16];
    std::snprintf(v, sizeof v, "%08d", i);
    ASSERT_EQ(got[static_cast<std::size_t>(i)].value, v);
  }
  // Caught up: new records come from the ring.
  ASSERT_TRUE(p.publish(std::nullopt, "live"));
  const auto live = lanes_test::poll_until(slow, 1, 5s);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].value, "live");
  EXPECT_EQ(live[0].offset, static_cast<std::uint64_t>(kCount));
}

// A consumer reading the files and then pausing must not hold producers back: its ring
// reader stays out of the way between polls (it was pinned at a stale cursor once a poll
// followed a disk read).
TEST_F(BusDurable, AConsumerThatStopsAfterReadingTheFilesDoesNotBlockProducers) {
  lanes_test::bus_with_topic bt("t", durable_topic(1, lanes::durability::async, 4096),
                                quiet_bus(dir.path()));
  auto& [b, p] = bt;
  lanes::publish_result last;
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(last = p.publish(std::nullopt, "old"));
  ASSERT_EQ(p.wait_durable(0, last.offset, 10s), errc::ok);
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::earliest;
  cc.max_poll_records = 10;
  lanes::consumer c = b.make_consumer(cc);
  const std::vector<lanes::topic_partition> mine{{"t", 0}};
  ASSERT_EQ(c.assign(mine), errc::ok);
  for (int i = 0; i < 3; ++i) {  // three polls, all from the files
    const lanes::poll_result r = c.poll(1s);
    ASSERT_EQ(r.status, errc::ok);
    ASSERT_FALSE(r.records.empty());
    ASSERT_LT(r.records.back().offset, 100u);
  }
  p.set_max_block(5s);
  for (int i = 0; i < 500; ++i) {  // many times the 4 KiB ring
    ASSERT_TRUE(p.publish(std::nullopt, "new")) << "publish " << i << " waited for the consumer";
  }
}

TEST_F(BusDurable, SeekToBeginningAndToATimestampReachIntoTheFiles) {
  lanes_test::bus_with_topic bt("t", durable_topic(1, lanes::durability::async, 4096),
                                quiet_bus(dir.path()));
  auto& [b, p] = bt;
  for (int i = 0; i < 1000; ++i) {
    lanes::publish_options o;
    o.timestamp_ns = 1'000'000 + i * 10;
    ASSERT_TRUE(p.publish(std::nullopt, std::to_string(i), o));
  }
  ASSERT_EQ(p.wait_durable(0, 999, 5s), errc::ok);
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::latest;
  lanes::consumer c = b.make_consumer(cc);
  ASSERT_EQ(c.assign(std::vector<lanes::topic_partition>{{"t", 0}}), errc::ok);
  ASSERT_EQ(c.seek_to_timestamp({"t", 0}, 1'000'000 + 250 * 10 - 5), errc::ok);
  auto got = lanes_test::poll_until(c, 3, 5s);  // a poll returns up to max_poll_records
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 250u);
  EXPECT_EQ(got[0].value, "250");
  ASSERT_EQ(c.seek_to_beginning({"t", 0}), errc::ok);
  got = lanes_test::poll_until(c, 1, 5s);
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 0u);
  EXPECT_EQ(got[0].value, "0");
  ASSERT_EQ(c.seek({"t", 0}, 600), errc::ok);
  got = lanes_test::poll_until(c, 400, 5s);
  ASSERT_EQ(got.size(), 400u);
  EXPECT_EQ(got.front().offset, 600u);
  EXPECT_EQ(got.back().offset, 999u);
}

}  // namespace
