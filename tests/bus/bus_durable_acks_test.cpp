// tests/bus/bus_durable_acks_test.cpp: durable acknowledgements of a bus with a data directory
// (DESIGN.md, Durability).
//
// Sync topics acknowledge once durable, async ones on request (publish_options::durable,
// wait_durable) without waiting out the group-commit window; on_durable reports progress and
// failure; an I/O error fails the partition with a clear error and keeps what was durable;
// SIGKILL of a child that publishes with durable acks loses nothing acknowledged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bus_state.hpp"
#include "lanes/bus.hpp"
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
using BusDurable = lanes_test::data_dir_test;

// publish_options::durable and wait_durable raise an async topic to sync for that record:
// they must not wait out the group-commit window (here a minute, against a 10 s limit). The
// persister used to take the request before it appended the record, which then waited for
// the window.
TEST_F(BusDurable, ADurablePublishOnAnAsyncTopicDoesNotWaitForTheWindow) {
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

TEST_F(BusDurable, SyncPublishReturnsOnlyOnceDurableAndAsyncWaitsOnRequest) {
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

// Durable acknowledgements as callbacks: each partition's durable offset reaches every
// published record, grows monotonically, and an I/O error is reported once.
TEST_F(BusDurable, OnDurableCallbackReportsProgressAndFailure) {
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

TEST_F(BusDurable, AnIoErrorFailsThePartitionAndKeepsWhatWasDurable) {
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
  const auto got = read_topic(b, "t", 1, 10, /*durable_only=*/true);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].value, "durable-" + std::to_string(i));
  }
}

// A child publishes with durable acknowledgements and reports each acknowledged offset
// through a pipe; it is killed with SIGKILL at a random moment. After reopening, every
// acknowledged record is there, intact and in order, and nothing is duplicated.
TEST_F(BusDurable, SigkillLosesNothingDurablyAcknowledged) {
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
    const auto got = read_topic(b, "t", 2, total);
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
