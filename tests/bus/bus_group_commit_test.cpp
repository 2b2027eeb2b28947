// tests/bus/bus_group_commit_test.cpp: consumer groups' offsets: commit and committed, a new
// member starts at the group's commit, and a group-less consumer can neither commit nor
// subscribe.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "lanes/bus.hpp"
#include "support/bus.hpp"

namespace {

using namespace lanes_test;

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

}  // namespace
