// tests/bus/bus_seek_retention_test.cpp: seek (offset, beginning, end, timestamp), replay,
// position and lag, pause/resume, manual assignment with reset policies, retention by bytes
// and by age, and what a consumer left behind the log start does (earliest, latest, error).
// The buses here have no housekeeping thread: only enforce_retention moves the log start,
// except in BusHousekeeper (the last test), which is about that thread.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"
#include "support/concurrency.hpp"

namespace {

using namespace lanes_test;

std::vector<std::uint64_t> offsets_of(const std::vector<owned_record>& rs) {
  std::vector<std::uint64_t> out;
  for (const auto& r : rs) out.push_back(r.offset);
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t o = from; o < to; ++o) out.push_back(o);
  return out;
}

// Ten records in partition 0 with timestamps 1000, 2000, ..., 10000.
class SeekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(b.create_topic("t", log_topic(2)), errc::ok);
    p = b.make_producer("t");
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(p.publish(std::nullopt, lanes_test::cat("v", i),
                            lanes_test::opts().partition(0).timestamp_ns(1000 * (i + 1))));
    }
    c = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
    const std::vector<topic_partition> mine{tp0};
    ASSERT_EQ(c.assign(mine), errc::ok);
    ASSERT_EQ(lanes_test::poll_until(c, 10).size(), 10u);
    ASSERT_EQ(c.position(tp0), 10);
  }
  lanes::bus b{quiet_bus()};
  lanes::producer p;
  lanes::consumer c;
};

TEST_F(SeekTest, ToAnOffsetAndOutOfRangeChangesNothing) {
  ASSERT_EQ(c.seek(tp0, 3), errc::ok);
  EXPECT_EQ(c.position(tp0), 3);
  const auto got = lanes_test::poll_until(c, 7);
  EXPECT_EQ(offsets_of(got), range(3, 10));
  EXPECT_EQ(got.front().value, "v3");

  EXPECT_EQ(c.seek(tp0, 11), errc::offset_out_of_range);
  EXPECT_EQ(c.seek(tp0, ~std::uint64_t{0}), errc::offset_out_of_range);
  EXPECT_EQ(c.position(tp0), 10);
  EXPECT_TRUE(lanes_test::poll_quiet(c, 5ms).empty()) << "a refused seek moved the consumer";

  EXPECT_EQ(c.seek(tp0, 10), errc::ok) << "the end offset is a valid position";
  ASSERT_TRUE(p.publish(std::nullopt, "v10", lanes_test::opts().partition(0)));
  const auto next = lanes_test::poll_until(c, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].offset, 10u);
}

TEST_F(SeekTest, ReplayFromTheBeginningAfterReadingEverything) {
  ASSERT_EQ(c.seek(tp0, 0), errc::ok);
  auto got = lanes_test::poll_until(c, 10);
  EXPECT_EQ(offsets_of(got), range(0, 10));
  EXPECT_EQ(got[0].value, "v0");
  ASSERT_EQ(c.seek_to_beginning(tp0), errc::ok);
  got = lanes_test::poll_until(c, 10);
  EXPECT_EQ(offsets_of(got), range(0, 10));
  EXPECT_EQ(c.position(tp0), 10);
  EXPECT_EQ(c.lag(tp0), 0);
}

TEST_F(SeekTest, ToEndSkipsWhatIsThere) {
  ASSERT_EQ(c.seek(tp0, 2), errc::ok);
  ASSERT_EQ(c.seek_to_end(tp0), errc::ok);  // the later seek wins
  EXPECT_TRUE(lanes_test::poll_quiet(c, 5ms).empty());
  EXPECT_EQ(c.position(tp0), 10);
  ASSERT_TRUE(p.publish(std::nullopt, "new", lanes_test::opts().partition(0)));
  const auto got = lanes_test::poll_until(c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 10u);
  EXPECT_EQ(got[0].value, "new");
}

TEST_F(SeekTest, ToATimestamp) {
  ASSERT_EQ(c.seek_to_timestamp(tp0, 2500), errc::ok);
  auto got = lanes_test::poll_until(c, 8);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0].offset, 2u);
  EXPECT_EQ(got[0].timestamp_ns, 3000);

  ASSERT_EQ(c.seek_to_timestamp(tp0, 3000), errc::ok);  // equal counts
  got = lanes_test::poll_until(c, 8);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].offset, 2u);

  ASSERT_EQ(c.seek_to_timestamp(tp0, 0), errc::ok);
  got = lanes_test::poll_until(c, 10);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].offset, 0u);

  ASSERT_EQ(c.seek_to_timestamp(tp0, 1'000'000), errc::ok);  // none that late: the end
  EXPECT_TRUE(lanes_test::poll_quiet(c, 5ms).empty());
  EXPECT_EQ(c.position(tp0), 10);
}

TEST_F(SeekTest, PositionReflectsSeek) {
  ASSERT_EQ(c.seek(tp0, 6), errc::ok);
  EXPECT_EQ(c.position(tp0), 6);
  ASSERT_EQ(c.seek_to_beginning(tp0), errc::ok);
  EXPECT_EQ(c.position(tp0), 0) << "position after seek_to_beginning, before a poll";
  ASSERT_EQ(c.seek_to_timestamp(tp0, 4500), errc::ok);
  EXPECT_EQ(c.position(tp0), 4) << "position after seek_to_timestamp, before a poll";
  ASSERT_EQ(c.seek_to_end(tp0), errc::ok);
  EXPECT_EQ(c.position(tp0), 10) << "position after seek_to_end, before a poll";
}

TEST_F(SeekTest, OnAPartitionNotAssignedIsNotAssigned) {
  EXPECT_EQ(c.seek(tp1, 0), errc::not_assigned);
  EXPECT_EQ(c.seek_to_beginning(tp1), errc::not_assigned);
  EXPECT_EQ(c.seek_to_end(tp1), errc::not_assigned);
  EXPECT_EQ(c.seek_to_timestamp(tp1, 0), errc::not_assigned);
  EXPECT_EQ(c.seek({"other", 0}, 0), errc::not_assigned);
  EXPECT_EQ(c.pause(tp1), errc::not_assigned);
  EXPECT_EQ(c.resume(tp1), errc::not_assigned);
  EXPECT_EQ(c.position(tp1), -1);
  EXPECT_EQ(c.lag(tp1), -1);
  EXPECT_EQ(c.position(tp0), 10);
}

TEST_F(SeekTest, LagIsEndMinusPosition) {
  EXPECT_EQ(c.lag(tp0), 0);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, "x", lanes_test::opts().partition(0)));
  EXPECT_EQ(c.lag(tp0), 5);
  ASSERT_EQ(c.seek(tp0, 0), errc::ok);
  EXPECT_EQ(c.lag(tp0), 15) << "lag after a seek, before a poll";
  EXPECT_EQ(lanes_test::poll_until(c, 15).size(), 15u);
  EXPECT_EQ(c.lag(tp0), 0);
}

TEST(BusSeek, LagCountsWhatIsLeftAfterAPartialPoll) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish(std::nullopt, "x"));
  lanes::consumer c =
      b.make_consumer(lanes_test::cc().reset(offset_reset::earliest).max_poll_records(4));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  EXPECT_EQ(c.lag(tp0), 10);
  const lanes::poll_result r = c.poll();
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_EQ(c.position(tp0), 4);
  EXPECT_EQ(c.lag(tp0), 6);
}

TEST(BusPause, PausedPartitionsDeliverNothingUntilResumed) {
  lanes_test::bus_with_topic bt("t", log_topic(2));
  auto& [b, p] = bt;
  lanes::consumer c = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  const std::vector<topic_partition> both{tp0, tp1};
  ASSERT_EQ(c.assign(both), errc::ok);
  ASSERT_EQ(c.pause(tp0), errc::ok);
  for (std::uint32_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(p.publish(std::nullopt, std::to_string(i), lanes_test::opts().partition(i % 2)));
  }
  auto got = lanes_test::poll_quiet(c, 10ms);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) EXPECT_EQ(r.partition, 1u);

  // A poll with only paused data waits out its timeout and returns nothing.
  const auto t0 = std::chrono::steady_clock::now();
  const lanes::poll_result r = c.poll(20ms);
  EXPECT_EQ(r.status, errc::ok);
  EXPECT_TRUE(r.records.empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_EQ(c.lag(tp0), 3);

  ASSERT_EQ(c.resume(tp0), errc::ok);
  got = lanes_test::poll_until(c, 3);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, 0u);
    EXPECT_EQ(got[i].offset, i);
  }
}

TEST(BusAssign, ManualAssignmentWithEarliestAndLatest) {
  lanes_test::bus_with_topic bt("t", log_topic(3));
  auto& [b, p] = bt;
  for (std::uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(p.publish(std::nullopt, "old", lanes_test::opts().partition(2)));
  }
  const std::vector<topic_partition> mine{{"t", 2}};
  lanes::consumer early = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  lanes::consumer late = b.make_consumer(lanes_test::cc().reset(offset_reset::latest));
  ASSERT_EQ(early.assign(mine), errc::ok);
  ASSERT_EQ(late.assign(mine), errc::ok);
  EXPECT_EQ(early.assignment(), mine);
  EXPECT_EQ(early.position(mine[0]), 0);
  EXPECT_EQ(late.position(mine[0]), 5);

  ASSERT_TRUE(p.publish(std::nullopt, "new", lanes_test::opts().partition(2)));
  ASSERT_TRUE(p.publish(std::nullopt, "elsewhere", lanes_test::opts().partition(1)));
  const auto e = lanes_test::poll_until(early, 6);
  EXPECT_EQ(offsets_of(e), range(0, 6));
  const auto l = lanes_test::poll_quiet(late, 10ms);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].offset, 5u);
  EXPECT_EQ(l[0].value, "new");

  // Re-assigning replaces the set.
  const std::vector<topic_partition> other{{"t", 1}};
  ASSERT_EQ(late.assign(other), errc::ok);
  EXPECT_EQ(late.assignment(), other);
  EXPECT_EQ(late.position(mine[0]), -1);

  // Bad assignments change nothing.
  const std::vector<topic_partition> bad_partition{{"t", 3}};
  const std::vector<topic_partition> bad_topic{{"nope", 0}};
  EXPECT_EQ(late.assign(bad_partition), errc::invalid_partition);
  EXPECT_EQ(late.assign(bad_topic), errc::unknown_topic);
  EXPECT_EQ(late.assignment(), other);
}

TEST(BusAssign, GroupNamedManualAssignmentStartsAtTheCommittedOffset) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(p.publish(std::nullopt, std::to_string(i)));
  const std::vector<topic_partition> mine{tp0};
  {
    lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").auto_commit(false));
    ASSERT_EQ(c.commit(tp0, 5), errc::ok);
  }
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.assign(mine), errc::ok);
  EXPECT_EQ(c.position(tp0), 5);
  EXPECT_EQ(offsets_of(lanes_test::poll_until(c, 3)), range(5, 8));
  ASSERT_EQ(c.commit(), errc::ok);
  EXPECT_EQ(c.committed(tp0), 8);
}

// ---- retention ----

TEST(BusRetention, ByBytes) {
  lanes::topic_config cfg = log_topic(1, 1 << 16);
  cfg.retention_bytes = 8192;
  lanes_test::bus_with_topic bt("t", cfg);
  auto& [b, p] = bt;
  const std::string value(200, 'v');
  const std::uint64_t fp = lanes_test::record_footprint(value.size());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.publish(std::nullopt, value));
  auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.log_start_offset, 0u) << "retention moved without enforce_retention";
  EXPECT_EQ(s.bytes, 100 * fp);

  b.enforce_retention();
  s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.end_offset, 100u);
  EXPECT_LE(s.bytes, 8192u);
  EXPECT_GT(s.bytes, 8192u - fp) << "dropped more than needed";
  EXPECT_EQ(s.bytes, (100 - s.log_start_offset) * fp);
  EXPECT_GT(s.log_start_offset, 0u);

  b.enforce_retention();  // idempotent
  EXPECT_EQ(lanes_test::stats(b, "t", 0).log_start_offset, s.log_start_offset);

  // A reader from the earliest offset starts at the log start, dense to the end.
  lanes::consumer c = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  const auto got = lanes_test::poll_until(c, 100 - s.log_start_offset);
  EXPECT_EQ(offsets_of(got), range(s.log_start_offset, 100));
  // Seeking before the log start is out of range.
  EXPECT_EQ(c.seek(tp0, s.log_start_offset - 1), errc::offset_out_of_range);
  EXPECT_EQ(c.seek(tp0, s.log_start_offset), errc::ok);
}

TEST(BusRetention, ByAge) {
  // The bus's clock decides what is old: the test moves it instead of waiting.
  const auto clock = std::make_shared<lanes::shifted_clock>();
  lanes::bus b(lanes_test::clocked_bus(clock));
  lanes::topic_config cfg = log_topic(1);
  cfg.retention_age = 1h;
  ASSERT_EQ(b.create_topic("t", cfg), errc::ok);
  lanes::producer p = b.make_producer("t");
  const std::int64_t now = clock->realtime_ns();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(p.publish(std::nullopt, "old",
                          lanes_test::opts().timestamp_ns(now - 7'200'000'000'000)));  // 2 h
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.publish(std::nullopt, "fresh"));  // now
  b.enforce_retention();
  auto s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.log_start_offset, 5u);
  EXPECT_EQ(s.end_offset, 10u);
  EXPECT_EQ(s.bytes, 5 * lanes_test::record_footprint(5));

  clock->advance(30min);
  b.enforce_retention();
  EXPECT_EQ(lanes_test::stats(b, "t", 0).log_start_offset, 5u) << "30 min old: kept";

  clock->advance(31min);
  b.enforce_retention();
  s = lanes_test::stats(b, "t", 0);
  EXPECT_EQ(s.log_start_offset, 10u);
  EXPECT_EQ(s.end_offset, 10u);
  EXPECT_EQ(s.bytes, 0u);

  // The log goes on at the next offset; an earliest reader starts at the (empty) log start.
  lanes::consumer c = b.make_consumer(lanes_test::cc().reset(offset_reset::earliest));
  const std::vector<topic_partition> mine{tp0};
  ASSERT_EQ(c.assign(mine), errc::ok);
  EXPECT_EQ(c.position(tp0), 10);
  const lanes::publish_result r = p.publish(std::nullopt, "later");
  EXPECT_EQ(r.offset, 10u);
  const auto got = lanes_test::poll_until(c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 10u);
}

// A consumer whose position fell behind the log start follows its reset policy.
class LeftBehind : public ::testing::TestWithParam<offset_reset> {};

TEST_P(LeftBehind, FollowsTheResetPolicy) {
  const offset_reset policy = GetParam();
  lanes::topic_config cfg = log_topic(2, 1 << 16);
  cfg.retention_bytes = 4096;
  lanes_test::bus_with_topic bt("t", cfg);
  auto& [b, p] = bt;
  const std::string value(100, 'v');
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, value, lanes_test::opts().partition(0)));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, value, lanes_test::opts().partition(1)));

  lanes::consumer c = b.make_consumer(lanes_test::cc().reset(policy).max_poll_records(10));
  const std::vector<topic_partition> both{tp0, tp1};
  ASSERT_EQ(c.assign(both), errc::ok);
  if (policy == offset_reset::error) {
    // No committed offset and no policy: the consumer must seek first.
    const lanes::poll_result r = c.poll();
    EXPECT_EQ(r.status, errc::offset_out_of_range);
    EXPECT_TRUE(r.records.empty());
    ASSERT_EQ(c.seek(tp1, 0), errc::ok);
  }
  ASSERT_EQ(c.seek(tp0, 0), errc::ok);
  ASSERT_EQ(c.pause(tp1), errc::ok);
  lanes::poll_result r = c.poll();
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_EQ(r.records.size(), 10u);
  EXPECT_EQ(r.records[0].offset, 0u);
  ASSERT_EQ(c.position(tp0), 10);

  b.enforce_retention();
  const std::uint64_t log_start = lanes_test::stats(b, "t", 0).log_start_offset;
  ASSERT_GT(log_start, 10u);
  ASSERT_EQ(c.resume(tp1), errc::ok);

  switch (policy) {
    case offset_reset::earliest: {
      const auto got = lanes_test::poll_until(c, 100 - log_start + 3);
      std::vector<std::uint64_t> p0;
      for (const auto& rec : got) {
        if (rec.partition == 0) p0.push_back(rec.offset);
      }
      EXPECT_EQ(p0, range(log_start, 100)) << "continues at the log start";
      break;
    }
    case offset_reset::latest: {
      const auto got = lanes_test::poll_quiet(c, 10ms);
      for (const auto& rec : got) EXPECT_EQ(rec.partition, 1u) << "latest skips to the end";
      EXPECT_EQ(c.position(tp0), 100);
      ASSERT_TRUE(p.publish(std::nullopt, "next", lanes_test::opts().partition(0)));
      const auto next = lanes_test::poll_until(c, 1);
      ASSERT_EQ(next.size(), 1u);
      EXPECT_EQ(next[0].offset, 100u);
      break;
    }
    case offset_reset::error: {
      // offset_out_of_range until a seek, and nothing from that partition meanwhile.
      for (int i = 0; i < 3; ++i) {
        r = c.poll(5ms);
        EXPECT_EQ(r.status, errc::offset_out_of_range);
        for (const auto& rec : r.records) EXPECT_EQ(rec.partition, 1u);
      }
      ASSERT_TRUE(p.publish(std::nullopt, "more", lanes_test::opts().partition(0)));
      r = c.poll(5ms);
      EXPECT_EQ(r.status, errc::offset_out_of_range);
      for (const auto& rec : r.records) EXPECT_EQ(rec.partition, 1u);
      ASSERT_EQ(c.seek_to_beginning(tp0), errc::ok);
      const auto got = lanes_test::poll_until(c, 101 - log_start);
      EXPECT_EQ(offsets_of(got), range(log_start, 101));
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, LeftBehind, lanes_test::every_offset_reset(),
                         lanes_test::offset_reset_name);

TEST(BusRetention, GroupWhoseCommitFellBehindStartsAtTheLogStart) {
  lanes::topic_config cfg = log_topic(1, 1 << 16);
  cfg.retention_bytes = 4096;
  lanes_test::bus_with_topic bt("t", cfg);
  auto& [b, p] = bt;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.publish(std::nullopt, std::string(100, 'v')));
  {
    lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").auto_commit(false));
    ASSERT_EQ(c.commit(tp0, 3), errc::ok);
  }
  b.enforce_retention();
  const std::uint64_t log_start = lanes_test::stats(b, "t", 0).log_start_offset;
  ASSERT_GT(log_start, 3u);
  EXPECT_EQ(lanes_test::stats(b, "t", 0).groups.at(0).lag, 100 - log_start);
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  const auto got = lanes_test::poll_until(c, 100 - log_start);
  EXPECT_EQ(offsets_of(got), range(log_start, 100));
}

// Whether this process has another thread and every other thread sleeps (state S in
// /proc/self/task/*/stat): with a memory-only bus, its housekeeper waits on its condition.
bool other_threads_sleep() {
  const std::string self = std::to_string(::gettid());
  int others = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (task.path().filename() == self) continue;
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t after_name = stat.rfind(')');  // the name may hold spaces
    if (after_name == std::string::npos || after_name + 2 >= stat.size()) return false;
    if (stat[after_name + 2] != 'S') return false;
    ++others;
  }
  return others > 0;
}

// The housekeeper sleeps without a deadline while no topic has a queue or retention; a
// topic created later with retention must wake it (bus_state::wake_housekeeper).
TEST(BusHousekeeper, AppliesRetentionToATopicCreatedWhileItSlept) {
  lanes::bus b{lanes::bus_config{}};  // housekeeping every 10 ms while there is any to do
  ASSERT_EQ(b.create_topic("plain", log_topic(1, 1 << 16)), errc::ok);  // gives it none
  ASSERT_TRUE(lanes_test::wait_until(other_threads_sleep)) << "the housekeeper never slept";
  lanes::topic_config cfg = log_topic(1, 1 << 16);
  cfg.retention_bytes = 8192;
  ASSERT_EQ(b.create_topic("t", cfg), errc::ok);
  lanes::producer p = b.make_producer("t");
  const std::string value(200, 'v');
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.publish(std::nullopt, value));
  (void)lanes_test::wait_until([&] { return lanes_test::stats(b, "t", 0).bytes <= 8192; },
                               std::chrono::seconds(30));
  const lanes::partition_stats s = lanes_test::stats(b, "t", 0);
  EXPECT_LE(s.bytes, 8192u) << "the housekeeper never applied the new topic's retention";
  EXPECT_GT(s.log_start_offset, 0u);
  EXPECT_EQ(s.end_offset, 100u);
}

}  // namespace
