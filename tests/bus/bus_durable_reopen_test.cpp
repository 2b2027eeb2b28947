// tests/bus/bus_durable_reopen_test.cpp: a bus with a data directory, closed and opened again
// (DESIGN.md, Durability).
//
// Reopen after a clean close gives the same topics, offsets, contents and group commits; topic
// settings (prefault, queue settings) are kept; a commit past the recovered end is clamped;
// the directory lock; configuration errors are caught at create; a create_topic cut off by a
// crash does not hold the name.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes/queue.hpp"
#include "support/bus.hpp"
#include "support/io.hpp"

namespace {

using namespace lanes_test;
using BusDurable = lanes_test::data_dir_test;

TEST_F(BusDurable, ReopenAfterCleanCloseGivesIdenticalTopicsOffsetsAndContents) {
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
    before = read_topic(b, "orders", 3, 3000);
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
  const auto after = read_topic(b, "orders", 3, 3000);
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

TEST_F(BusDurable, PrefaultIsKeptInTheTopicConfigurationAcrossReopen) {
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

TEST_F(BusDurable, ACommitPastTheRecoveredEndResumesAtTheEnd) {
  // The files lost records a group had committed past (here the offsets file is edited; in
  // life a disk that dropped synced data, or a hand-cut segment). Keeping the commit would
  // make the group skip the next records to get those offsets.
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

TEST_F(BusDurable, DataDirectoryIsLockedAgainstASecondOpen) {
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

TEST_F(BusDurable, ConfigurationErrorsAreCaughtAtCreate) {
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

// Queue topics are stored with their settings and come back, dead-letter topic included,
// whatever the order of the names; a durable queue topic is accepted and keeps its
// messages (tests/queue/queue_durable_*_test.cpp test durable queues in depth).
TEST_F(BusDurable, QueueTopicSettingsSurviveReopenAndDurableQueuesAreAccepted) {
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

// create_topic writes topic.conf last, so one that a crash cut off leaves a directory holding
// at most topic.conf.tmp and partition directories: the next create_topic of that name takes
// it over instead of answering topic_exists for a topic that describe_topic does not know. A
// directory with anything else in it is still not the bus's to remove.
TEST_F(BusDurable, ACreateTopicCutOffByACrashDoesNotBlockTheNameForever) {
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

}  // namespace
