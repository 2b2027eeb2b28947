// tests/queue/queue_durable_crash_test.cpp: durable queue topics whose process is killed
// (DESIGN.md, Queue mode and Durability; modes/queue_acks.cpp).
//
// SIGKILL of a child that publishes and acks with durable acknowledgements loses no unacked
// message and redelivers no acked one, and takes back no message a consumer received.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "lanes/queue.hpp"
#include "support/io.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;
using QueueDurableCrash = data_dir_test;

// A child publishes with durable acknowledgements and acks (durably, sync topic) some of
// what it receives; it reports both through a pipe (an ack as "about to ack", then "acked"
// once ack returned) and is killed with SIGKILL at a random moment. After reopening: every
// message the ledger has as published and not being acked is delivered, no message the
// ledger has as acked is delivered again (an ack in doubt may go either way).
TEST_F(QueueDurableCrash, SigkillLosesNoUnackedMessageAndRedeliversNoAckedOne) {
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::topic_config c = durable_queue(2, lanes::durability::sync, 16 * 1024);
    c.segment_bytes = 16 * 1024;  // segments roll and get deleted during the run
    ASSERT_EQ(b.create_topic("q", c), errc::ok);
  }
  std::mt19937 rng(20261126);
  std::set<std::string> pending;  // unacked as far as the parent knows
  std::size_t total_acked = 0;
  std::size_t total_published = 0;
  for (int round = 0; round < 5; ++round) {
    const unsigned seed = static_cast<unsigned>(rng());
    const auto child = lanes_test::fork_reporting_child([&](int report_fd) {
      std::mt19937 r(seed);
      lanes::bus b(quiet_bus(dir.path()));
      lanes::producer p = b.make_producer("q");
      lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(16));
      auto report = [&](char what, const std::string& value) {
        char line[96];
        const int n = std::snprintf(line, sizeof line, "%c %s\n", what, value.c_str());
        if (::write(report_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
      };
      for (std::uint64_t i = 0;; ++i) {
        char value[48];
        std::snprintf(value, sizeof value, "r%d-%010llu", round,
                      static_cast<unsigned long long>(i));
        const lanes::publish_result pr = p.publish(std::to_string(i % 5), value);
        if (!pr) ::_exit(3);
        report('P', value);
        if (r() % 3 == 0) {
          const lanes::receive_result rr = c.receive(16);
          if (rr.status != errc::ok) ::_exit(5);
          for (const lanes::queue_message& m : rr.messages) {
            if (r() % 4 == 0) {
              // Given back (a message left in flight would hold the ring for good).
              if (c.nack(m.receipt) != errc::ok) ::_exit(7);
              continue;
            }
            const std::string mv(m.record.value);
            report('T', mv);  // about to ack: in doubt until 'A'
            const errc e = c.ack(m.receipt);
            if (e != errc::ok) ::_exit(6);
            report('A', mv);
          }
        }
      }
    });
    ASSERT_GE(child.pid, 0);
    std::string text;
    ASSERT_TRUE(lanes_test::kill_and_drain(child.pid, child.read_fd,
                                           std::chrono::milliseconds(60 + rng() % 200), text));
    std::set<std::string> acked;
    std::set<std::string> in_doubt;  // an ack was under way when the child died
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() < 3 || line[1] != ' ') continue;  // torn last line
      const std::string value = line.substr(2);
      if (line[0] == 'P') {
        pending.insert(value);
        ++total_published;
      } else if (line[0] == 'T') {
        ASSERT_EQ(pending.erase(value), 1u) << "acked before published? " << value;
        in_doubt.insert(value);
      } else if (line[0] == 'A') {
        ASSERT_EQ(in_doubt.erase(value), 1u) << value;
        acked.insert(value);
        ++total_acked;
      }
    }
    EXPECT_LE(in_doubt.size(), 1u) << "one ack at a time";
    lanes::bus b(quiet_bus(dir.path()));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
    const auto got = drain(c);
    std::set<std::string> seen;
    for (const auto& m : got) {
      ASSERT_TRUE(seen.insert(m.record.value).second) << "delivered twice: " << m.record.value;
      ASSERT_EQ(acked.count(m.record.value), 0u)
          << "round " << round << ": acked message delivered again: " << m.record.value;
    }
    for (const std::string& value : pending) {
      ASSERT_EQ(seen.count(value), 1u) << "round " << round << ": unacked message lost: " << value;
    }
    // What came back (including published-but-unreported ones, and an ack in doubt that did
    // not reach the disk) is the unacked set now; the parent closes without acking, so it
    // stays unacked for the next child.
    pending = seen;
  }
  EXPECT_GT(total_published, 0u);
  EXPECT_GT(total_acked, 0u) << "the children never acked anything";
}

// A producer thread publishes to a sync queue topic (each publish returns once durable) while
// a consumer thread receives and acks, reporting each message it received through a pipe;
// the child is killed with SIGKILL at a random moment. Durable records only (the default):
// nothing a consumer received is taken back by the crash, so every received offset is below
// the recovered end (a message received before its enqueue was durable could be lost and
// its offset reused by another message).
TEST_F(QueueDurableCrash, AMessageAConsumerReceivedIsNeverTakenBackByACrash) {
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("q", durable_queue(2, lanes::durability::sync, 64 * 1024)), errc::ok);
  }
  std::mt19937 rng(20261205);
  std::size_t received_total = 0;
  for (int round = 0; round < 8; ++round) {
    const auto child = lanes_test::fork_reporting_child([&](int report_fd) {
      lanes::bus b(quiet_bus(dir.path()));
      std::thread producer([&] {
        lanes::producer p = b.make_producer("q");
        for (std::uint64_t i = 0;; ++i) {
          if (!p.publish(std::to_string(i % 7), "m" + std::to_string(i))) ::_exit(3);
        }
      });
      lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(16));
      for (;;) {
        const lanes::receive_result rr = c.receive(16, std::chrono::milliseconds(10));
        if (rr.status != errc::ok) ::_exit(5);
        for (const lanes::queue_message& m : rr.messages) {
          char line[64];
          const int n = std::snprintf(line, sizeof line, "R %u %llu\n", m.receipt.partition,
                                      static_cast<unsigned long long>(m.receipt.offset));
          if (::write(report_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
          if (c.ack(m.receipt) != errc::ok) ::_exit(6);
        }
      }
    });
    ASSERT_GE(child.pid, 0);
    std::string text;
    ASSERT_TRUE(lanes_test::kill_and_drain(child.pid, child.read_fd,
                                           std::chrono::milliseconds(50 + rng() % 250), text));
    lanes::bus b(quiet_bus(dir.path()));
    const auto info = b.describe_topic("q");
    ASSERT_TRUE(info);
    std::istringstream in(text);
    std::string tag;
    std::uint32_t part = 0;
    unsigned long long offset = 0;
    while (in >> tag >> part >> offset) {
      ASSERT_LT(part, info->partitions.size());
      ++received_total;
      EXPECT_LT(offset, info->partitions[part].end_offset)
          << "round " << round << ": partition " << part << " offset " << offset
          << " was received, then the crash took it back";
    }
  }
  EXPECT_GT(received_total, 0u) << "the consumers never received anything";
}

}  // namespace
