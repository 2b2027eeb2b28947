// tests/bus/bus_topics_test.cpp: topic lifecycle (create, list, describe, delete), topic-name
// and configuration validation, and what describe_topic reports.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

TEST(BusTopics, CreateListDescribeDelete) {
  lanes::bus b(quiet_bus());
  EXPECT_TRUE(b.list_topics().empty());
  ASSERT_EQ(b.create_topic("orders", log_topic(3)), errc::ok);
  ASSERT_EQ(b.create_topic("audit.log-v2_x", log_topic(1)), errc::ok);
  EXPECT_EQ(b.list_topics(), (std::vector<std::string>{"audit.log-v2_x", "orders"}));

  const auto info = b.describe_topic("orders");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->name, "orders");
  EXPECT_EQ(info->config.partitions, 3u);
  EXPECT_EQ(info->config.ring_capacity, std::size_t{1} << 16);
  ASSERT_EQ(info->partitions.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(info->partitions[i].partition, i);
    EXPECT_EQ(info->partitions[i].log_start_offset, 0u);
    EXPECT_EQ(info->partitions[i].end_offset, 0u);
    EXPECT_EQ(info->partitions[i].bytes, 0u);
    EXPECT_TRUE(info->partitions[i].groups.empty());
  }

  EXPECT_EQ(b.delete_topic("orders"), errc::ok);
  EXPECT_EQ(b.list_topics(), (std::vector<std::string>{"audit.log-v2_x"}));
  EXPECT_FALSE(b.describe_topic("orders").has_value());
  EXPECT_EQ(b.delete_topic("orders"), errc::unknown_topic);
  // The name is free again.
  EXPECT_EQ(b.create_topic("orders", log_topic(2)), errc::ok);
  EXPECT_EQ(b.describe_topic("orders")->partitions.size(), 2u);
}

TEST(BusTopics, InvalidNamesAreRejectedAndCreateNothing) {
  lanes::bus b(quiet_bus());
  const std::vector<std::string> bad = {
      "",
      std::string(250, 'a'),
      ".",
      "..",
      "a/b",
      "a b",
      "caf\xc3\xa9",  // UTF-8 e-acute
      "\xff",         // not even UTF-8
      std::string("a\0b", 3),
      "tab\there",
      "semi;colon",
      "star*",
  };
  for (const std::string& name : bad) {
    EXPECT_FALSE(lanes::bus::valid_topic_name(name)) << name;
    EXPECT_EQ(b.create_topic(name, log_topic(1)), errc::invalid_topic_name) << name;
    EXPECT_FALSE(b.describe_topic(name).has_value()) << name;
  }
  EXPECT_TRUE(b.list_topics().empty());

  // The edges that are allowed.
  for (const std::string& name : {std::string(249, 'z'), std::string("..."), std::string("-"),
                                  std::string("_._"), std::string("A-z.0_9")}) {
    EXPECT_TRUE(lanes::bus::valid_topic_name(name)) << name;
    EXPECT_EQ(b.create_topic(name, log_topic(1)), errc::ok) << name;
  }
  EXPECT_EQ(b.list_topics().size(), 5u);
}

TEST(BusTopics, DuplicateNameIsTopicExistsAndKeepsTheFirst) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(2)), errc::ok);
  EXPECT_EQ(b.create_topic("t", log_topic(5)), errc::topic_exists);
  const auto info = b.describe_topic("t");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->partitions.size(), 2u);
  EXPECT_EQ(b.list_topics().size(), 1u);
}

TEST(BusTopics, UnknownTopicEverywhere) {
  lanes::bus b(quiet_bus());
  EXPECT_FALSE(b.describe_topic("nope").has_value());
  EXPECT_EQ(b.delete_topic("nope"), errc::unknown_topic);
  errc st = errc::ok;
  lanes::producer p = b.make_producer("nope", &st);
  EXPECT_EQ(st, errc::unknown_topic);
  EXPECT_FALSE(p);
  EXPECT_TRUE(b.list_topics().empty());
}

TEST(BusTopics, BadConfigsAreInvalidConfigAndChangeNothing) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("keep", log_topic(1)), errc::ok);
  const auto before = lanes_test::snapshot(b, "keep");

  constexpr std::size_t ring = 8192;
  const std::size_t largest = ring / 2 - sizeof(lanes::frame_header) - sizeof(lanes::record_header);
  std::vector<std::pair<const char*, lanes::topic_config>> bad;
  auto with = [&](const char* what, auto change) {
    lanes::topic_config c = log_topic(2, ring);
    change(c);
    bad.emplace_back(what, c);
  };
  with("0 partitions", [](auto& c) { c.partitions = 0; });
  with("ring not a power of two", [](auto& c) { c.ring_capacity = 5000; });
  with("ring 2048 < 4096", [](auto& c) { c.ring_capacity = 2048; });
  with("ring 0", [](auto& c) { c.ring_capacity = 0; });
  with("max_message_size over the ring's largest",
       [&](auto& c) { c.max_message_size = largest + 1; });
  with("retention_bytes over the ring", [](auto& c) { c.retention_bytes = ring + 1; });
  with("negative retention age", [](auto& c) { c.retention_age = -1ms; });
  with("0 readers", [](auto& c) { c.max_readers = 0; });

  for (const auto& [what, c] : bad) {
    EXPECT_EQ(b.create_topic("fresh", c), errc::invalid_config) << what;
  }
  EXPECT_FALSE(b.describe_topic("fresh").has_value());
  EXPECT_EQ(b.list_topics(), (std::vector<std::string>{"keep"}));
  EXPECT_EQ(lanes_test::snapshot(b, "keep"), before);

  // The limits themselves are fine.
  lanes::topic_config edge = log_topic(1, 4096);
  EXPECT_EQ(b.create_topic("ring4096", edge), errc::ok);
  edge = log_topic(1, ring);
  edge.max_message_size = largest;
  edge.retention_bytes = ring;
  EXPECT_EQ(b.create_topic("largest", edge), errc::ok);
}

// Queue mode has its own tests (tests/queue/); here: it is a topic like any other.
TEST(BusTopics, QueueModeTopicIsListed) {
  lanes::bus b(quiet_bus());
  lanes::topic_config c = log_topic(1);
  c.mode = lanes::topic_mode::queue;
  EXPECT_EQ(b.create_topic("q", c), errc::ok);
  EXPECT_EQ(b.list_topics(), std::vector<std::string>{"q"});
}

TEST(BusTopics, DescribeReportsLogStartEndBytesAndGroups) {
  lanes_test::bus_with_topic bt("t", log_topic(2));
  auto& [b, p] = bt;
  ASSERT_TRUE(p);
  const std::string value(24, 'v');
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, value, lanes_test::opts().partition(0)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.publish("key", value, lanes_test::opts().partition(1)));

  auto info = b.describe_topic("t");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->partitions[0].end_offset, 5u);
  EXPECT_EQ(info->partitions[1].end_offset, 3u);
  EXPECT_EQ(info->partitions[0].log_start_offset, 0u);
  EXPECT_EQ(info->partitions[0].bytes, 5 * lanes_test::record_footprint(value.size()));
  EXPECT_EQ(info->partitions[1].bytes, 3 * lanes_test::record_footprint(3 + value.size()));
  EXPECT_TRUE(info->partitions[0].groups.empty());

  // A group reads everything of both partitions and commits.
  lanes::consumer c = b.make_consumer(
      lanes_test::cc().group("g").reset(lanes::offset_reset::earliest).auto_commit(false));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  EXPECT_EQ(lanes_test::poll_until(c, 8).size(), 8u);
  info = b.describe_topic("t");
  ASSERT_EQ(info->partitions[0].groups.size(), 1u);
  EXPECT_EQ(info->partitions[0].groups[0].group, "g");
  EXPECT_EQ(info->partitions[0].groups[0].committed, -1);  // nothing committed yet
  EXPECT_EQ(info->partitions[0].groups[0].lag, 5u);        // counted from the log start
  ASSERT_EQ(c.commit(), errc::ok);
  info = b.describe_topic("t");
  EXPECT_EQ(info->partitions[0].groups[0].committed, 5);
  EXPECT_EQ(info->partitions[0].groups[0].lag, 0u);
  EXPECT_EQ(info->partitions[1].groups[0].committed, 3);
  EXPECT_EQ(info->partitions[1].groups[0].lag, 0u);

  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(p.publish(std::nullopt, value, lanes_test::opts().partition(1)));
  info = b.describe_topic("t");
  EXPECT_EQ(info->partitions[1].end_offset, 7u);
  EXPECT_EQ(info->partitions[1].groups[0].lag, 4u);
  EXPECT_EQ(info->partitions[0].groups[0].lag, 0u);
}

TEST(BusTopics, DeleteTopicMakesItsProducersFailWithUnknownTopic) {
  lanes_test::bus_with_topic bt("t", log_topic(1));
  auto& [b, p] = bt;
  ASSERT_TRUE(p.publish(std::nullopt, "a"));
  ASSERT_EQ(b.delete_topic("t"), errc::ok);
  EXPECT_EQ(p.publish(std::nullopt, "b").status, errc::unknown_topic);
  EXPECT_EQ(p.try_publish(std::nullopt, "b").status, errc::unknown_topic);
  EXPECT_EQ(p.try_claim(std::nullopt, 4).status, errc::unknown_topic);
  // A new topic of the same name is a new log.
  ASSERT_EQ(b.create_topic("t", log_topic(1)), errc::ok);
  EXPECT_EQ(b.describe_topic("t")->partitions[0].end_offset, 0u);
}

}  // namespace

namespace {

// Resident pages of this process (from /proc/self/statm), in bytes.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(BusTopics, PrefaultMakesEveryRingResidentWhenTheTopicIsCreated) {
  constexpr std::size_t ring = std::size_t{32} << 20;
  lanes::bus b(quiet_bus());
  lanes::topic_config lazy = log_topic(2);
  lazy.ring_capacity = ring;
  const std::size_t before_lazy = resident_bytes();
  ASSERT_EQ(b.create_topic("lazy", lazy), errc::ok);
  const std::size_t after_lazy = resident_bytes();
  const std::size_t lazy_growth = after_lazy - std::min(after_lazy, before_lazy);

  lanes::topic_config eager = lazy;
  eager.prefault = true;
  ASSERT_EQ(b.create_topic("eager", eager), errc::ok);
  const std::size_t after_eager = resident_bytes();
  const std::size_t eager_growth = after_eager - std::min(after_eager, after_lazy);
  // Both rings (64 MiB) became resident, and at least one ring more than a lazy topic made
  // resident (a sanitizer's own bookkeeping makes some of a lazy allocation resident too).
  EXPECT_GE(eager_growth, 2 * ring * 9 / 10);
  EXPECT_GE(eager_growth, lazy_growth + ring) << "lazy topic: " << lazy_growth << " bytes";
  const auto info = b.describe_topic("eager");
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->config.prefault);
  EXPECT_FALSE(b.describe_topic("lazy")->config.prefault);
}

}  // namespace
