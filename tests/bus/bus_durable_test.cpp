// tests/bus/bus_durable_test.cpp: a bus with a data directory (DESIGN.md, Durability).
//
// Reopen after a clean close; the directory lock; sync and async durable acknowledgements;
// consumers that fall behind the ring read the files and come back without a gap; seek by
// time into the files; committed group offsets survive; an I/O error fails the partition
// with a clear error and keeps what was durable; SIGKILL of a child that publishes with
// durable acks loses nothing acknowledged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus_state.hpp"
#include "lanes/bus.hpp"
#include "lanes/clock.hpp"
#include "lanes/queue.hpp"
#include "support/bus.hpp"
#include "support/io.hpp"

namespace lanes::detail {
// The tests' way to the internals (declared a friend by lanes::bus).
struct bus_access {
  static bus_state& state(lanes::bus& b) { return *b.state_; }
};
}  // namespace lanes::detail

namespace {

using namespace lanes_test;

lanes::topic_config durable_topic(std::uint32_t partitions, lanes::durability d,
                                  std::size_t ring = 64 * 1024) {
  lanes::topic_config t;
  t.partitions = partitions;
  t.ring_capacity = ring;
  t.durable = d;
  return t;
}

// Every record of the topic from the start, through a group-less consumer.
std::vector<owned_record> read_all(lanes::bus& b, const std::string& topic,
                                   std::uint32_t partitions, std::size_t expect,
                                   bool durable_only = false) {
  lanes::consumer_config cc;
  cc.reset = lanes::offset_reset::earliest;
  cc.read_durable_only = durable_only;
  lanes::consumer c = b.make_consumer(cc);
  std::vector<lanes::topic_partition> all;
  for (std::uint32_t p = 0; p < partitions; ++p) all.push_back({topic, p});
  EXPECT_EQ(c.assign(all), errc::ok);
  return lanes_test::poll_until(c, expect, 10s);
}

TEST(BusDurable, ReopenAfterCleanCloseGivesIdenticalTopicsOffsetsAndContents) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  std::vector<owned_record> before;
  std::optional<lanes::topic_info> info_before;
  const lanes::header hs[] = {{"trace", "abc"}, {"n", "1"}};
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("orders", durable_topic(3, lanes::durability::async)), errc::ok);
    ASSERT_EQ(b.create_topic("scratch", lanes_test::log_topic(1)), errc::ok);  // memory only
    lanes::producer p = b.make_producer("orders");
    for (int i = 0; i < 3000; ++i) {
      lanes::publish_options o;
      if (i % 7 == 0) o.headers = hs;
      ASSERT_TRUE(p.publish("key-" + std::to_string(i % 11), "value-" + std::to_string(i), o));
    }
    lanes::producer s = b.make_producer("scratch");
    ASSERT_TRUE(s.publish(std::nullopt, "gone after close"));
    before = read_all(b, "orders", 3, 3000);
    ASSERT_EQ(before.size(), 3000u);
    // A group commits part of partition 0.
    lanes::consumer_config cc;
    cc.group = "billing";
    cc.auto_commit = false;  // only the explicit commit below
    lanes::consumer g = b.make_consumer(cc);
    ASSERT_EQ(g.subscribe({"orders"}), errc::ok);
    for (int i = 0; i < 200 && g.assignment().size() < 3; ++i) (void)g.poll(1ms);
    ASSERT_EQ(g.commit({"orders", 0}, 123), errc::ok);
    g.close();
    info_before = b.describe_topic("orders");
  }
  lanes::bus b(quiet_bus(dir.path()));
  std::vector<std::string> topics = b.list_topics();
  std::sort(topics.begin(), topics.end());
  EXPECT_EQ(topics, (std::vector<std::string>{"orders", "scratch"}));
  const auto info = b.describe_topic("orders");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->config.durable, lanes::durability::async);
  EXPECT_EQ(info->config.partitions, 3u);
  for (std::uint32_t p = 0; p < 3; ++p) {
    EXPECT_EQ(info->partitions[p].end_offset, info_before->partitions[p].end_offset);
    EXPECT_EQ(info->partitions[p].log_start_offset, 0u);
    EXPECT_EQ(info->partitions[p].durable_offset, info->partitions[p].end_offset)
        << "a clean close syncs everything";
  }
  EXPECT_EQ(b.describe_topic("scratch")->partitions[0].end_offset, 0u)
      << "a memory-only topic comes back empty";
  const auto after = read_all(b, "orders", 3, 3000);
  ASSERT_EQ(after.size(), before.size());
  std::map<std::pair<std::uint32_t, std::uint64_t>, const owned_record*> by_pos;
  for (const auto& r : before) by_pos[{r.partition, r.offset}] = &r;
  for (const auto& r : after) {
    const owned_record* o = by_pos[{r.partition, r.offset}];
    ASSERT_NE(o, nullptr) << r.partition << "/" << r.offset;
    EXPECT_EQ(r.key, o->key);
    EXPECT_EQ(r.value, o->value);
    EXPECT_EQ(r.timestamp_ns, o->timestamp_ns);
    EXPECT_EQ(r.headers, o->headers);
  }
  // The group's commit survived, and a new member starts there.
  lanes::consumer_config cc;
  cc.group = "billing";
  cc.auto_commit = false;
  lanes::consumer g = b.make_consumer(cc);
  EXPECT_EQ(g.committed({"orders", 0}), 123);
  ASSERT_EQ(g.subscribe({"orders"}), errc::ok);
  std::int64_t first_p0 = -1;
  for (int i = 0; i < 2000 && first_p0 < 0; ++i) {
    for (const auto& r : g.poll(1ms).records) {
      if (r.partition == 0 && first_p0 < 0) first_p0 = static_cast<std::int64_t>(r.offset);
    }
  }
  EXPECT_EQ(first_p0, 123) << "the group resumes partition 0 at its committed offset";
  // And the topic keeps its offsets going.
  lanes::producer p = b.make_producer("orders");
  const lanes::publish_result r = p.publish(std::nullopt, "next", {.partition = 1u});
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, info_before->partitions[1].end_offset);
}

TEST(BusDurable, PrefaultIsKeptInTheTopicConfigurationAcrossReopen) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::topic_config t = durable_topic(1, lanes::durability::async);
    t.prefault = true;
    ASSERT_EQ(b.create_topic("warm", t), errc::ok);
    ASSERT_EQ(b.create_topic("cold", durable_topic(1, lanes::durability::async)), errc::ok);
  }
  lanes::bus b(quiet_bus(dir.path()));
  ASSERT_TRUE(b.describe_topic("warm").has_value());
  EXPECT_TRUE(b.describe_topic("warm")->config.prefault);
  EXPECT_FALSE(b.describe_topic("cold")->config.prefault);
}

TEST(BusDurable, ACommitPastTheRecoveredEndResumesAtTheEnd) {
  // The files lost records a group had committed past (here the offsets file is edited; in
  // life a disk that dropped synced data, or a hand-cut segment). Keeping the commit would
  // make the group skip the next records to get those offsets.
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes_test::bus_with_topic bt("orders", durable_topic(1, lanes::durability::sync),
                                  quiet_bus(dir.path()));
    auto& [b, p] = bt;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish(std::nullopt, "v" + std::to_string(i)));
    lanes::consumer_config cc;
    cc.group = "billing";
    cc.auto_commit = false;
    lanes::consumer g = b.make_consumer(cc);
    const std::vector<lanes::topic_partition> mine{{"orders", 0}};
    ASSERT_EQ(g.assign(mine), errc::ok);
    ASSERT_EQ(g.commit({"orders", 0}, 10), errc::ok);
  }
  const std::filesystem::path offsets_dir = dir.path() / "orders" / "offsets";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(offsets_dir)) files.push_back(e);
  ASSERT_EQ(files.size(), 1u);
  {
    std::FILE* f = std::fopen(files[0].c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("0 25\n", f);
    std::fclose(f);
  }
  lanes::bus b(quiet_bus(dir.path()));
  lanes::consumer_config cc;
  cc.group = "billing";
  cc.auto_commit = false;
  lanes::consumer g = b.make_consumer(cc);
  EXPECT_EQ(g.committed({"orders", 0}), 10) << "clamped to the end offset";
  {
    std::FILE* f = std::fopen(files[0].c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[64] = {};
    ASSERT_NE(std::fgets(line, sizeof line, f), nullptr);
    std::fclose(f);
    EXPECT_STREQ(line, "0 10\n") << "and the clamp is written back";
  }
  lanes::producer p = b.make_producer("orders");
  const lanes::publish_result r = p.publish(std::nullopt, "after recovery");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.offset, 10u);
  ASSERT_EQ(g.subscribe({"orders"}), errc::ok);
  std::vector<owned_record> got;
  for (int i = 0; i < 2000 && got.empty(); ++i) {
    for (const auto& rec : g.poll(1ms).records) got.push_back(lanes_test::own(rec));
  }
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].offset, 10u);
  EXPECT_EQ(got[0].value, "after recovery") << "the group does not skip the new record";
}

// publish_options::durable and wait_durable raise an async topic to sync for that record:
// they must not wait out the group-commit window (here a minute, against a 10 s limit). The
// persister used to take the request before it appended the record, which then waited for
// the window.
TEST(BusDurable, ADurablePublishOnAnAsyncTopicDoesNotWaitForTheWindow) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes::topic_config tc = durable_topic(1, lanes::durability::async);
  tc.sync_interval = std::chrono::seconds(60);
  tc.sync_bytes = std::size_t{1} << 30;
  lanes_test::bus_with_topic bt("t", tc, quiet_bus(dir.path()));
  auto& [b, p] = bt;
  p.set_max_block(10s);
  for (int i = 0; i < 20; ++i) {
    const lanes::publish_result r =
        p.publish(std::nullopt, "v" + std::to_string(i), {.durable = true});
    ASSERT_EQ(r.status, errc::ok) << "durable publish " << i;
    EXPECT_GT(b.describe_topic("t")->partitions[0].durable_offset, r.offset);
    if (i % 2 == 1) {  // and wait_durable after a plain publish
      const lanes::publish_result q = p.publish(std::nullopt, "w");
      ASSERT_TRUE(q);
      ASSERT_EQ(p.wait_durable(0, q.offset, 10s), errc::ok) << "wait_durable " << i;
    }
  }
}

TEST(BusDurable, AReaderThatDiskRetentionPassedIsToldWhereItWasMoved) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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
TEST(BusDurable, DiskRetentionByAgeGoesByTheBusClock) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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

TEST(BusDurable, DataDirectoryIsLockedAgainstASecondOpen) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes::bus b(quiet_bus(dir.path()));
  try {
    lanes::bus again(quiet_bus(dir.path()));
    ADD_FAILURE() << "a second bus opened a locked data directory";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), lanes::make_error_code(errc::data_dir_locked)) << e.what();
  }
  b.close();
  lanes::bus reopened(quiet_bus(dir.path()));  // closed: the lock is gone
  EXPECT_FALSE(reopened.is_closed());
}

TEST(BusDurable, ConfigurationErrorsAreCaughtAtCreate) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes::bus memory(lanes_test::quiet_bus());
  EXPECT_EQ(memory.create_topic("t", durable_topic(1, lanes::durability::sync)),
            errc::invalid_config)
      << "a durable topic needs a data directory";
  lanes::bus b(quiet_bus(dir.path()));
  lanes::topic_config over = durable_topic(1, lanes::durability::async);
  over.policy = lanes::backpressure::overwrite;
  EXPECT_EQ(b.create_topic("t", over), errc::invalid_config) << "overwrite would drop records";
  lanes::topic_config zero = durable_topic(1, lanes::durability::async);
  zero.sync_interval = std::chrono::microseconds(0);
  EXPECT_EQ(b.create_topic("t", zero), errc::invalid_config);
  EXPECT_TRUE(b.list_topics().empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "t")) << "a refused topic left files";
}

TEST(BusDurable, SyncPublishReturnsOnlyOnceDurableAndAsyncWaitsOnRequest) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes::bus b(quiet_bus(dir.path()));
  ASSERT_EQ(b.create_topic("s", durable_topic(1, lanes::durability::sync)), errc::ok);
  ASSERT_EQ(b.create_topic("a", durable_topic(1, lanes::durability::async)), errc::ok);
  lanes::producer s = b.make_producer("s");
  for (int i = 0; i < 20; ++i) {
    const lanes::publish_result r = s.publish("k", "v" + std::to_string(i));
    ASSERT_TRUE(r) << lanes::to_string(r.status);
    EXPECT_GT(b.describe_topic("s")->partitions[0].durable_offset, r.offset);
  }
  // A sync batch: every record durable when it returns.
  std::vector<lanes::message> ms(50);
  for (auto& m : ms) m.value = "batch";
  std::vector<lanes::publish_result> rs(50);
  ASSERT_EQ(s.publish_batch(ms, rs), 50u);
  EXPECT_GT(b.describe_topic("s")->partitions[0].durable_offset, rs.back().offset);

  lanes::producer a = b.make_producer("a");
  lanes::publish_result last;
  for (int i = 0; i < 100; ++i) last = a.publish("k", "v");
  ASSERT_TRUE(last);
  EXPECT_EQ(a.wait_durable(0, last.offset, 5s), errc::ok);
  EXPECT_GT(b.describe_topic("a")->partitions[0].durable_offset, last.offset);
  lanes::publish_options o;
  o.durable = true;
  const lanes::publish_result d = a.publish("k", "raised to sync", o);
  ASSERT_TRUE(d);
  EXPECT_GT(b.describe_topic("a")->partitions[0].durable_offset, d.offset);
  EXPECT_EQ(a.wait_durable(0, d.offset + 1, 1s), errc::offset_out_of_range);
  EXPECT_EQ(a.wait_durable(3, 0, 1s), errc::invalid_partition);
  ASSERT_EQ(b.create_topic("m", lanes_test::log_topic(1)), errc::ok);
  lanes::producer m = b.make_producer("m");
  ASSERT_TRUE(m.publish("k", "v"));
  EXPECT_EQ(m.wait_durable(0, 0, 1s), errc::wrong_mode);
}

TEST(BusDurable, ConsumerBehindTheRingReadsTheFilesThenTheRingWithoutAGap) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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
TEST(BusDurable, AConsumerThatStopsAfterReadingTheFilesDoesNotBlockProducers) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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

TEST(BusDurable, SeekToBeginningAndToATimestampReachIntoTheFiles) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
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

TEST(BusDurable, AnIoErrorFailsThePartitionAndKeepsWhatWasDurable) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  lanes_test::bus_with_topic bt("t", durable_topic(1, lanes::durability::sync),
                                quiet_bus(dir.path()));
  auto& [b, p] = bt;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish("k", "durable-" + std::to_string(i)));
  {
    // Arm the log's fault seam while the persister is between rounds.
    lanes::detail::bus_state& s = lanes::detail::bus_access::state(b);
    std::lock_guard lock(s.persist_mu);
    s.durable_topics.front()->partitions[0]->persist->log->faults().fail_nth(
        lanes::io::fault_op::write, 1, EIO);
  }
  const lanes::publish_result bad = p.publish("k", "lost to EIO");
  EXPECT_FALSE(bad) << "a record whose write failed was acknowledged";
  EXPECT_NE(bad.status, errc::timeout);
  const auto info = b.describe_topic("t");
  EXPECT_NE(info->partitions[0].status, errc::ok);
  EXPECT_EQ(info->partitions[0].durable_offset, 10u) << "durable data keeps its place";
  const lanes::publish_result after = p.publish("k", "after the failure");
  EXPECT_FALSE(after);
  EXPECT_EQ(after.status, info->partitions[0].status) << "producers get the partition's error";
  const auto got = read_all(b, "t", 1, 10, /*durable_only=*/true);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].value, "durable-" + std::to_string(i));
  }
}

// A child publishes with durable acknowledgements and reports each acknowledged offset
// through a pipe; it is killed with SIGKILL at a random moment. After reopening, every
// acknowledged record is there, intact and in order, and nothing is duplicated.
TEST(BusDurable, SigkillLosesNothingDurablyAcknowledged) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("t", durable_topic(2, lanes::durability::sync)), errc::ok);
  }
  std::mt19937 rng(20261125);
  std::vector<std::vector<std::string>> acked(2);  // per partition, in ack order
  std::uint64_t seq = 0;
  for (int round = 0; round < 4; ++round) {
    const auto child = lanes_test::fork_reporting_child([&](int report_fd) {
      lanes::bus b(quiet_bus(dir.path()));
      lanes::producer p = b.make_producer("t");
      for (std::uint64_t i = seq;; ++i) {
        char v[32];
        std::snprintf(v, sizeof v, "r%d-%012llu", round, static_cast<unsigned long long>(i));
        const lanes::publish_result r = p.publish(std::to_string(i % 5), v, {.durable = true});
        if (!r) ::_exit(3);
        char line[64];
        const int n = std::snprintf(line, sizeof line, "%u %llu %s\n", r.partition,
                                    static_cast<unsigned long long>(r.offset), v);
        if (::write(report_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
      }
    });
    ASSERT_GE(child.pid, 0);
    std::string text;
    ASSERT_TRUE(lanes_test::kill_and_drain(child.pid, child.read_fd,
                                           std::chrono::milliseconds(50 + rng() % 150), text));
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      unsigned part = 0;
      unsigned long long off = 0;
      char v[40] = {};
      if (std::sscanf(line.c_str(), "%u %llu %39s", &part, &off, v) != 3) continue;  // torn
      ASSERT_LT(part, 2u);
      ASSERT_EQ(off, acked[part].size()) << "offsets of acknowledged records are dense";
      acked[part].emplace_back(v);
      ++seq;
    }
    // Reopen: every acknowledged record is there, in order; nothing twice.
    lanes::bus b(quiet_bus(dir.path()));
    const auto info = b.describe_topic("t");
    ASSERT_TRUE(info);
    std::size_t total = 0;
    for (std::uint32_t p = 0; p < 2; ++p) {
      EXPECT_GE(info->partitions[p].end_offset, acked[p].size()) << "round " << round;
      total += info->partitions[p].end_offset;
    }
    const auto got = read_all(b, "t", 2, total);
    ASSERT_EQ(got.size(), total);
    std::vector<std::vector<std::string>> seen(2);
    for (const auto& r : got) {
      ASSERT_EQ(r.offset, seen[r.partition].size());
      seen[r.partition].push_back(r.value);
    }
    for (std::uint32_t p = 0; p < 2; ++p) {
      for (std::size_t i = 0; i < acked[p].size(); ++i) {
        ASSERT_EQ(seen[p][i], acked[p][i]) << "round " << round << " partition " << p;
      }
      // Records that were on disk but not acknowledged yet are kept: adopt them.
      acked[p] = seen[p];
    }
  }
  EXPECT_GT(acked[0].size() + acked[1].size(), 0u) << "the child never got an ack";
}

}  // namespace

namespace {

// Queue topics are stored with their settings and come back, dead-letter topic included,
// whatever the order of the names; a durable queue topic is accepted and keeps its
// messages (tests/queue/queue_durable_test.cpp tests durable queues in depth).
TEST(BusDurable, QueueTopicSettingsSurviveReopenAndDurableQueuesAreAccepted) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("zz-dead", lanes_test::log_topic(1)), errc::ok);
    lanes::topic_config q = lanes_test::log_topic(2);
    q.mode = lanes::topic_mode::queue;
    q.queue.visibility_timeout = 2s;
    q.queue.max_deliveries = 3;
    q.queue.dead_letter_topic = "zz-dead";
    q.queue.delivery_delay = 5ms;
    q.queue.ordering = lanes::queue_ordering::strict_per_key;
    ASSERT_EQ(b.create_topic("a-jobs", q), errc::ok);
    q.durable = lanes::durability::sync;
    ASSERT_EQ(b.create_topic("b-jobs", q), errc::ok);
    lanes::producer p = b.make_producer("b-jobs");
    ASSERT_TRUE(p.publish("k", "kept"));  // sync: on disk when publish returns
    // Still refused: a durable queue with retention, or one that may overwrite.
    q.retention_bytes = 4096;
    EXPECT_EQ(b.create_topic("c-jobs", q), errc::invalid_config);
    q.retention_bytes = 0;
    q.policy = lanes::backpressure::overwrite;
    EXPECT_EQ(b.create_topic("c-jobs", q), errc::invalid_config);
  }
  lanes::bus b(quiet_bus(dir.path()));
  const auto info = b.describe_topic("a-jobs");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->config.mode, lanes::topic_mode::queue);
  EXPECT_EQ(info->config.partitions, 2u);
  EXPECT_EQ(info->config.queue.visibility_timeout, std::chrono::nanoseconds(2s));
  EXPECT_EQ(info->config.queue.max_deliveries, 3u);
  EXPECT_EQ(info->config.queue.dead_letter_topic, "zz-dead");
  EXPECT_EQ(info->config.queue.delivery_delay, std::chrono::nanoseconds(5ms));
  EXPECT_EQ(info->config.queue.ordering, lanes::queue_ordering::strict_per_key);
  const auto durable = b.describe_topic("b-jobs");
  ASSERT_TRUE(durable);
  EXPECT_EQ(durable->config.mode, lanes::topic_mode::queue);
  EXPECT_EQ(durable->config.durable, lanes::durability::sync);
  EXPECT_EQ(durable->config.queue.dead_letter_topic, "zz-dead");
  EXPECT_FALSE(b.describe_topic("c-jobs"));
  const auto kept = b.describe_queue("b-jobs", "");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->total().ready, 1u) << "the durable queue's message survived the reopen";
  lanes::producer p = b.make_producer("a-jobs");
  EXPECT_TRUE(p.publish("k", "works after reopen"));
}

}  // namespace

namespace {

// Durable acknowledgements as callbacks: each partition's durable offset reaches every
// published record, grows monotonically, and an I/O error is reported once.
TEST(BusDurable, OnDurableCallbackReportsProgressAndFailure) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  // Declared before the bus: its close (in the destructor) may still call back.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> durable(2, 0);
  bool monotonic = true;
  std::vector<errc> errors;
  lanes::bus b(quiet_bus(dir.path()));
  ASSERT_EQ(b.create_topic("t", durable_topic(2, lanes::durability::async)), errc::ok);
  ASSERT_EQ(b.create_topic("m", lanes_test::log_topic(1)), errc::ok);
  EXPECT_EQ(b.on_durable("m", [](std::uint32_t, std::uint64_t, errc) {}), errc::wrong_mode);
  EXPECT_EQ(b.on_durable("nope", [](std::uint32_t, std::uint64_t, errc) {}), errc::unknown_topic);
  ASSERT_EQ(b.on_durable("t",
                         [&](std::uint32_t p, std::uint64_t d, errc e) {
                           std::lock_guard lock(mu);
                           if (e != errc::ok) {
                             errors.push_back(e);
                           } else {
                             if (d < durable[p]) monotonic = false;
                             durable[p] = d;
                           }
                           cv.notify_all();
                         }),
            errc::ok);
  lanes::producer p = b.make_producer("t");
  std::vector<std::uint64_t> end(2, 0);
  for (int i = 0; i < 500; ++i) {
    const lanes::publish_result r = p.publish(std::nullopt, "v");
    ASSERT_TRUE(r);
    end[r.partition] = r.offset + 1;
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return durable == end; }))
        << durable[0] << "/" << end[0] << " " << durable[1] << "/" << end[1];
    EXPECT_TRUE(monotonic);
    EXPECT_TRUE(errors.empty());
  }
  {
    lanes::detail::bus_state& s = lanes::detail::bus_access::state(b);
    std::lock_guard lock(s.persist_mu);
    for (auto& t : s.durable_topics) {
      if (t->name == "t") {
        t->partitions[0]->persist->log->faults().fail_nth(lanes::io::fault_op::write, 1, EIO);
      }
    }
  }
  // Partition 0 fails on its next write; the callback hears about it once.
  for (int i = 0; i < 4; ++i) (void)p.publish(std::nullopt, "after", {.partition = 0u});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return !errors.empty(); }));
  }
  b.close();  // a last report may come from the close
  std::lock_guard lock(mu);
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], errc::io_error);
}

}  // namespace

// create_topic writes topic.conf last, so one that a crash cut off leaves a directory holding
// at most topic.conf.tmp and partition directories: the next create_topic of that name takes
// it over instead of answering topic_exists for a topic that describe_topic does not know. A
// directory with anything else in it is still not the bus's to remove.
TEST(BusDurable, ACreateTopicCutOffByACrashDoesNotBlockTheNameForever) {
  LANES_REQUIRE_URING();
  lanes_test::scratch_dir dir;
  std::filesystem::create_directories(dir.path() / "orders");
  std::ofstream(dir.path() / "orders" / "topic.conf.tmp") << "mode=lo";
  std::filesystem::create_directories(dir.path() / "orders" / "0");
  std::ofstream(dir.path() / "orders" / "0" / "00000000000000000000.seg") << "half a segment";
  std::filesystem::create_directories(dir.path() / "orders" / "1");
  std::filesystem::create_directories(dir.path() / "other");
  std::ofstream(dir.path() / "other" / "notes.txt") << "mine";
  lanes::bus b(quiet_bus(dir.path()));
  EXPECT_FALSE(b.describe_topic("orders"));
  ASSERT_EQ(b.create_topic("orders", durable_topic(2, lanes::durability::async)), errc::ok);
  ASSERT_TRUE(b.describe_topic("orders"));
  EXPECT_EQ(b.describe_topic("orders")->partitions.size(), 2u);
  EXPECT_EQ(b.create_topic("other", durable_topic(1, lanes::durability::async)),
            errc::topic_exists);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "other" / "notes.txt"));
  // The topic taken over is a new one: nothing of the leftover's partition files is in it.
  EXPECT_EQ(b.describe_topic("orders")->partitions[0].end_offset, 0u);
}
