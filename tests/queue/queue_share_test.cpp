// tests/queue/queue_share_test.cpp: queue groups reading a log topic (share groups), side by side
// with log groups.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "lanes/queue.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

TEST(QueueShare, LogGroupAndQueueGroupReadTheSameTopic) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("log", log_topic(3)), errc::ok);
  lanes::consumer lg = b.make_consumer(cc().group("lg").reset(offset_reset::earliest));
  ASSERT_EQ(lg.subscribe({"log"}), errc::ok);
  lanes::queue_consumer q1 = b.make_queue_consumer(qc("log").group("sg"));
  lanes::queue_consumer q2 = b.make_queue_consumer(qc("log").group("sg"));
  ASSERT_TRUE(q1);
  ASSERT_TRUE(q2);
  lanes::producer p = b.make_producer("log");
  const int n = 60;
  for (int i = 0; i < n; ++i)
    ASSERT_TRUE(p.publish("k" + std::to_string(i % 7), std::to_string(i)));

  // Competing consumers of the queue group split the messages, each acked once.
  std::multiset<std::string> acked;
  for (int round = 0; round < 1000 && acked.size() < static_cast<std::size_t>(n); ++round) {
    for (lanes::queue_consumer* c : {&q1, &q2}) {
      const auto r = c->receive(5, 1ms);
      ASSERT_EQ(r.status, errc::ok);
      for (const auto& m : r.messages) {
        ASSERT_EQ(c->ack(m.receipt), errc::ok);
        acked.insert(std::string(m.record.value));
      }
    }
  }
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(acked.count(std::to_string(i)), 1u) << i;
  const auto s = qstats(b, "log", "sg");
  EXPECT_EQ(s.acked, static_cast<std::uint64_t>(n));
  EXPECT_EQ(s.bytes_held, 0u);

  // The log group sees everything too, acks or not: the log keeps by its own retention.
  const auto all = lanes_test::poll_until(lg, n);
  EXPECT_EQ(all.size(), static_cast<std::size_t>(n));
  lanes::consumer late = b.make_consumer(cc().group("late").reset(offset_reset::earliest));
  ASSERT_EQ(late.subscribe({"log"}), errc::ok);
  EXPECT_EQ(lanes_test::poll_until(late, n).size(), static_cast<std::size_t>(n));
}

TEST(QueueShare, NewGroupStartsAtLatestOrEarliest) {
  lanes_test::bus_with_topic bt("log", log_topic(1));
  auto& [b, p] = bt;
  ASSERT_TRUE(p.publish(std::nullopt, "before"));
  lanes::queue_consumer latest = b.make_queue_consumer(qc("log").group("latest"));
  lanes::queue_consumer earliest =
      b.make_queue_consumer(qc("log").group("earliest").start(offset_reset::earliest));
  ASSERT_TRUE(p.publish(std::nullopt, "after"));
  auto got = receive_until(latest, 2, 50ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.value, "after");
  got = receive_until(earliest, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].record.value, "before");
  EXPECT_EQ(got[1].record.value, "after");
}

TEST(QueueShare, RedeliveryAndDeadLettersOnALogTopic) {
  const auto clock = std::make_shared<lanes::shifted_clock>();
  lanes::bus b(lanes_test::clocked_bus(clock));
  ASSERT_EQ(b.create_topic("dlq", queue_topic(1)), errc::ok);
  lanes::topic_config tc = log_topic(2);
  tc.queue.visibility_timeout = 1h;
  tc.queue.max_deliveries = 2;
  tc.queue.dead_letter_topic = "dlq";
  ASSERT_EQ(b.create_topic("log", tc), errc::ok);
  lanes::queue_consumer c = b.make_queue_consumer(qc("log").group("sg"));
  lanes::producer p = b.make_producer("log");
  const auto pub = p.publish("key", "poison");
  ASSERT_TRUE(pub);
  auto got = receive_until(c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(c.receive(1).messages.empty()) << "in flight for an hour of the bus's clock";
  clock->advance(1h);
  got = receive_until(c, 1, 10s);  // after the visibility timeout
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].receipt.delivery, 2u);
  ASSERT_EQ(c.nack(got[0].receipt), errc::ok);
  lanes::queue_consumer dc = b.make_queue_consumer(qc("dlq"));
  const auto dead = receive_until(dc, 1);
  ASSERT_EQ(dead.size(), 1u);
  ASSERT_FALSE(dead[0].record.headers.empty());
  std::string g;
  for (const auto& [name, value] : dead[0].record.headers) {
    if (name == lanes::dead_letter_headers::group) g = value;
    if (name == lanes::dead_letter_headers::topic) {
      EXPECT_EQ(value, "log");
    }
    if (name == lanes::dead_letter_headers::offset) {
      EXPECT_EQ(value, std::to_string(pub.offset));
    }
  }
  EXPECT_EQ(g, "sg");
  // Counted in the source just after the dead letter is published.
  EXPECT_TRUE(wait_until([&] { return qstats(b, "log", "sg").dead_lettered == 1; }));
}

TEST(QueueShare, RetentionDropsWhatTheGroupHadNotReceived) {
  lanes::bus b(quiet_bus());
  lanes::topic_config tc = log_topic(1, 4096);
  tc.retention_bytes = 1024;
  ASSERT_EQ(b.create_topic("log", tc), errc::ok);
  lanes::queue_consumer c =
      b.make_queue_consumer(qc("log").group("sg").start(offset_reset::earliest));
  lanes::producer p = b.make_producer("log");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish(std::nullopt, std::string(150, 'a' + i)));
  b.enforce_retention();
  const auto info = b.describe_topic("log");
  ASSERT_TRUE(info);
  const std::uint64_t log_start = info->partitions[0].log_start_offset;
  ASSERT_GT(log_start, 0u);
  const auto got = receive_until(c, 10, 100ms);
  ASSERT_EQ(got.size(), 10 - log_start);
  EXPECT_EQ(got[0].record.offset, log_start);
  for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
  const auto s = qstats(b, "log", "sg");
  EXPECT_EQ(s.skipped, log_start);
  EXPECT_EQ(s.acked, 10 - log_start);
  EXPECT_EQ(s.ack_floor, 10u);
  EXPECT_EQ(s.bytes_held, 0u);
}

TEST(QueueShare, TheGroupHoldsTheRingUntilAckedAndGoesWithItsLastConsumer) {
  lanes_test::bus_with_topic bt("log", log_topic(1, 4096));
  auto& [b, p] = bt;
  p.set_max_block(1ms);
  lanes::queue_consumer c = b.make_queue_consumer(qc("log").group("sg"));
  const std::string value(500, 'v');
  int published = 0;
  while (p.try_publish(std::nullopt, value)) ++published;
  ASSERT_GT(published, 3);
  EXPECT_EQ(p.try_publish(std::nullopt, value).status, errc::full) << "unacked: held";
  auto got = receive_until(c, 2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(c.ack(got[1].receipt), errc::ok);
  EXPECT_EQ(p.try_publish(std::nullopt, value).status, errc::full)
      << "offset 0 still unacked: nothing behind it is given back";
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
  EXPECT_TRUE(p.try_publish(std::nullopt, value)) << "the acked prefix went back to the ring";
  c.close();
  EXPECT_FALSE(b.describe_queue("log", "sg").has_value()) << "its last consumer closed";
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(p.publish(std::nullopt, value)) << "nothing holds";
}

}  // namespace
