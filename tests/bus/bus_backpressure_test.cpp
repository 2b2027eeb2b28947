// tests/bus/bus_backpressure_test.cpp: what a full partition does to producers.
//   block:     a group holding the partition that has not read gates the producer (timeout,
//              full), and a blocked publish completes once the group polls. With no reader
//              at all, old records are dropped to make room and publish never blocks.
//   overwrite: the producer never blocks; a consumer overrun follows its reset policy.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::backpressure;
using namespace lanes_test;

// Publishes `value` with try_publish until the partition is full; returns how many fit.
std::uint64_t fill_up(lanes::producer& p, const std::string& value) {
  std::uint64_t n = 0;
  for (; n < 100000; ++n) {
    const lanes::publish_result r = p.try_publish(std::nullopt, value);
    if (r.status == errc::full) return n;
    EXPECT_TRUE(r) << lanes::to_string(r.status);
    if (!r) return n;
    EXPECT_EQ(r.offset, n);
  }
  ADD_FAILURE() << "the partition never filled up";
  return n;
}

TEST(BusBlock, AGroupThatHasNotReadBlocksThenPollFreesRoom) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(1, 4096)), errc::ok);
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  ASSERT_TRUE(c.poll().records.empty());  // takes the partition, reads nothing
  ASSERT_EQ(c.assignment().size(), 1u);

  lanes::producer p = b.make_producer("t");
  const std::string value(100, 'v');
  const std::uint64_t fitted = fill_up(p, value);
  ASSERT_GT(fitted, 10u);
  ASSERT_LT(fitted, 4096u / 100);

  // Full: try_publish says so at once, publish waits max_block and times out.
  EXPECT_EQ(p.try_publish(std::nullopt, value).status, errc::full);
  p.set_max_block(30ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(p.publish(std::nullopt, value).status, errc::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.log_start_offset, 0u) << "block dropped unread records";
  EXPECT_EQ(s.end_offset, fitted);

  // A producer thread blocks in publish until the group polls.
  std::atomic<bool> done{false};
  lanes::publish_result late;
  std::thread t([&] {
    lanes::producer q = b.make_producer("t");
    q.set_max_block(20s);
    late = q.publish(std::nullopt, std::string(100, 'L'));  // as large as those that filled it
    done = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(done.load()) << "publish did not wait for the group";

  std::vector<owned_record> got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((!done.load() || got.size() < fitted + 1) && std::chrono::steady_clock::now() < deadline) {
    const lanes::poll_result r = c.poll(5ms);
    ASSERT_EQ(r.status, errc::ok);
    for (const auto& v : r.records) got.push_back(lanes_test::own(v));
  }
  t.join();
  ASSERT_TRUE(late) << lanes::to_string(late.status);
  EXPECT_EQ(late.offset, fitted);
  ASSERT_EQ(got.size(), fitted + 1) << "nothing lost, nothing doubled";
  for (std::uint64_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset, i);
  EXPECT_EQ(got.back().value, std::string(100, 'L'));
}

TEST(BusBlock, EveryGroupGatesTheProducer) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(1, 4096)), errc::ok);
  lanes::consumer fast =
      b.make_consumer(lanes_test::cc().group("fast").reset(offset_reset::earliest));
  lanes::consumer slow =
      b.make_consumer(lanes_test::cc().group("slow").reset(offset_reset::earliest));
  ASSERT_EQ(fast.subscribe({"t"}), errc::ok);
  ASSERT_EQ(slow.subscribe({"t"}), errc::ok);
  (void)fast.poll();
  (void)slow.poll();
  lanes::producer p = b.make_producer("t");
  const std::string value(100, 'v');
  const std::uint64_t fitted = fill_up(p, value);
  // The fast group reads (and releases) everything; the slow group still holds the ring.
  EXPECT_EQ(lanes_test::poll_until(fast, fitted).size(), fitted);
  (void)fast.poll();
  EXPECT_EQ(p.try_publish(std::nullopt, value).status, errc::full);
  EXPECT_EQ(lanes_test::stats(b, "t", 0).log_start_offset, 0u);
  EXPECT_EQ(lanes_test::poll_until(slow, fitted).size(), fitted);
  (void)slow.poll();  // releases the views of the previous poll
  EXPECT_TRUE(p.try_publish(std::nullopt, value));
}

TEST(BusBlock, WithNoReaderOldRecordsMakeRoom) {
  lanes_test::bus_with_topic bt("t", log_topic(1, 4096));
  auto& [b, p] = bt;
  const std::string value(100, 'v');
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const lanes::publish_result r = p.try_publish(std::nullopt, value);
    ASSERT_TRUE(r) << "at " << i << ": " << lanes::to_string(r.status);
    EXPECT_EQ(r.offset, i);
  }
  const auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.end_offset, 1000u);
  EXPECT_GT(s.log_start_offset, 900u);
  EXPECT_LE(s.bytes, 4096u);
  // The retained records, plus at most one wrap's padding (smaller than a record).
  const std::uint64_t records =
      (1000 - s.log_start_offset) * lanes_test::record_footprint(value.size());
  EXPECT_GE(s.bytes, records);
  EXPECT_LT(s.bytes, records + lanes_test::record_footprint(value.size()));

  lanes::consumer c = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  const auto got = lanes_test::poll_until(c, 1000 - s.log_start_offset);
  ASSERT_EQ(got.size(), 1000 - s.log_start_offset);
  for (std::uint64_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset, s.log_start_offset + i);
}

// ---- overwrite ----

lanes::topic_config overwrite_topic(std::size_t ring = 4096) {
  lanes::topic_config c = log_topic(1, ring);
  c.policy = backpressure::overwrite;
  return c;
}

TEST(BusOverwrite, TheProducerNeverBlocksOnAConsumerThatDoesNotRead) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", overwrite_topic()), errc::ok);
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  ASSERT_TRUE(c.poll().records.empty());
  ASSERT_EQ(c.assignment().size(), 1u);

  lanes::producer p = b.make_producer("t");
  p.set_max_block(10s);
  const std::string value(100, 'v');
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const lanes::publish_result r =
        i % 2 == 0 ? p.try_publish(std::nullopt, value) : p.publish(std::nullopt, value);
    ASSERT_TRUE(r) << "at " << i << ": " << lanes::to_string(r.status);
    ASSERT_EQ(r.offset, i);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "publish waited";
  const auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.end_offset, 1000u);
  EXPECT_GT(s.log_start_offset, 900u);
  EXPECT_LE(s.bytes, 4096u);

  // The group was overrun and starts again at the (new) log start (earliest).
  const auto got = lanes_test::poll_until(c, 1000 - s.log_start_offset);
  ASSERT_EQ(got.size(), 1000 - s.log_start_offset);
  for (std::uint64_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, s.log_start_offset + i);
    EXPECT_EQ(got[i].value, value);
  }
}

class Overrun : public ::testing::TestWithParam<offset_reset> {};

TEST_P(Overrun, AnOverrunConsumerFollowsItsResetPolicy) {
  const offset_reset policy = GetParam();
  lanes_test::bus_with_topic bt("t", overwrite_topic());
  auto& [b, p] = bt;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish(std::nullopt, lanes_test::cat("r", i)));

  struct reset_event {
    std::uint64_t from, to;
  };
  std::vector<reset_event> resets;
  lanes::consumer_config cfg = lanes_test::cc().reset(policy).max_poll_records(5);
  cfg.on_offset_reset = [&](const topic_partition& tp, std::uint64_t from, std::uint64_t to) {
    EXPECT_EQ(tp.topic, "t");
    EXPECT_EQ(tp.partition, 0u);
    resets.push_back({from, to});
  };
  lanes::consumer c = b.make_consumer(cfg);
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  ASSERT_EQ(c.seek(tp0, 0), errc::ok);
  lanes::poll_result r = c.poll();
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_EQ(r.records.size(), 5u);
  EXPECT_EQ(r.records[0].value, "r0");
  ASSERT_EQ(c.position(tp0), 5);

  // The producer laps the consumer.
  const std::string value(100, 'w');
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(p.try_publish(std::nullopt, value));
  const std::uint64_t log_start = lanes_test::stats(b, "t", 0).log_start_offset;
  ASSERT_GT(log_start, 5u);

  switch (policy) {
    case offset_reset::earliest: {
      const auto got = lanes_test::poll_until(c, 510 - log_start);
      ASSERT_EQ(got.size(), 510 - log_start);
      EXPECT_EQ(got.front().offset, log_start);
      EXPECT_EQ(got.back().offset, 509u);
      for (const auto& rec : got) EXPECT_EQ(rec.value, value);
      // The jump is reported, not silent.
      ASSERT_EQ(resets.size(), 1u);
      EXPECT_EQ(resets[0].from, 5u);
      EXPECT_EQ(resets[0].to, log_start);
      EXPECT_EQ(c.skipped(tp0), static_cast<std::int64_t>(log_start - 5));
      break;
    }
    case offset_reset::latest: {
      EXPECT_TRUE(lanes_test::poll_quiet(c, 5ms).empty());
      EXPECT_EQ(c.position(tp0), 510);
      ASSERT_EQ(resets.size(), 1u);
      EXPECT_EQ(resets[0].from, 5u);
      EXPECT_EQ(resets[0].to, 510u);
      EXPECT_EQ(c.skipped(tp0), 505);
      ASSERT_TRUE(p.publish(std::nullopt, "next"));
      const auto got = lanes_test::poll_until(c, 1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0].offset, 510u);
      EXPECT_EQ(got[0].value, "next");
      break;
    }
    case offset_reset::error: {
      for (int i = 0; i < 3; ++i) {
        r = c.poll(2ms);
        EXPECT_EQ(r.status, errc::offset_out_of_range);
        EXPECT_TRUE(r.records.empty());
      }
      ASSERT_EQ(c.seek_to_beginning(tp0), errc::ok);
      const auto got = lanes_test::poll_until(c, 510 - log_start);
      ASSERT_EQ(got.size(), 510 - log_start);
      EXPECT_EQ(got.front().offset, log_start);
      EXPECT_TRUE(resets.empty()) << "policy error reports through poll, and seeks are the "
                                     "application's own moves";
      EXPECT_EQ(c.skipped(tp0), 0);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, Overrun, lanes_test::every_offset_reset(),
                         lanes_test::offset_reset_name);

// A producer laps a slow reader again and again while it reads: every record the reader gets
// is whole (its bytes were not overwritten while being copied out), in offset order, and
// each producer sequence comes after the last one.
TEST(BusOverwrite, ALappedReaderNeverSeesTornRecords) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", overwrite_topic(8192)), errc::ok);
  lanes::consumer c = reader_of(b, "t", 1, lanes_test::cc().max_poll_records(7));

  const std::uint64_t total = lanes_test::stress_iters(200000);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    lanes::producer p = b.make_producer("t");
    std::string value(64, '\0');
    for (std::uint64_t s = 0; s < total; ++s) {
      std::memcpy(value.data(), &s, sizeof s);
      std::memset(value.data() + 8, static_cast<int>('a' + s % 26), value.size() - 8);
      // publish, not try_publish: a reader copying records out pins its frames for that
      // long, and try_publish says `full` meanwhile.
      const lanes::publish_result r = p.publish(std::nullopt, value);
      if (!r) {
        ADD_FAILURE() << "publish: " << lanes::to_string(r.status);
        break;
      }
    }
    done = true;
  });
  std::uint64_t read = 0;
  std::uint64_t torn = 0;
  std::uint64_t backwards = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t last_offset = 0;
  bool any = false;
  bool overrun_seen = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((!done.load() || c.lag(tp0) > 0) && std::chrono::steady_clock::now() < deadline) {
    const lanes::poll_result r = c.poll(1ms);
    ASSERT_EQ(r.status, errc::ok);
    for (const lanes::record_view& v : r.records) {
      ++read;
      if (v.value.size() != 64) {
        ++torn;
        continue;
      }
      std::uint64_t s = 0;
      std::memcpy(&s, v.value.data(), sizeof s);
      const char fill = static_cast<char>('a' + s % 26);
      for (std::size_t i = 8; i < v.value.size(); ++i) {
        if (v.value[i] != fill) {
          ++torn;
          break;
        }
      }
      if (s != v.offset) ++torn;  // one producer: offset == sequence
      if (any && (s <= last_seq || v.offset <= last_offset)) ++backwards;
      if (any && v.offset > last_offset + 1) overrun_seen = true;
      any = true;
      last_seq = s;
      last_offset = v.offset;
    }
  }
  producer.join();
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(backwards, 0u);
  EXPECT_GT(read, 0u);
  EXPECT_EQ(last_offset, total - 1) << "the reader ends at the last record";
  std::printf("[ info     ] read %llu of %llu records, overrun seen: %s\n",
              static_cast<unsigned long long>(read), static_cast<unsigned long long>(total),
              overrun_seen ? "yes" : "no");
}

}  // namespace
