// tests/queue/queue_space_test.cpp: the ring space of a queue topic and its stats: each state
// counted, acked space given back to producers (not hidden by an older unacked message), and
// the views of a batch pinning their bytes until the consumer's next receive.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/queue.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

std::string v(int i) { return "m" + std::to_string(i); }

TEST(QueueSemantics, StatsCountEachState) {
  lanes_test::bus_with_topic bt("q", queue_topic(1));
  auto& [b, p] = bt;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(p.publish(std::nullopt, v(i)));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = receive_until(c, 4);
  ASSERT_EQ(got.size(), 4u);
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);       // acked
  ASSERT_EQ(c.nack(got[1].receipt), errc::ok);      // ready again
  ASSERT_EQ(c.nack(got[2].receipt, 1h), errc::ok);  // delayed
  const auto s = qstats(b, "q");                    // got[3]: in flight; 2 never delivered
  EXPECT_EQ(s.acked, 1u);
  EXPECT_EQ(s.ready, 3u);
  EXPECT_EQ(s.delayed, 1u);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.ack_floor, 0u) << "offset 0 is acked, but the batch's views still pin its bytes";
  EXPECT_EQ(s.bytes_acked_waiting, lanes_test::record_footprint(2));
  EXPECT_EQ(s.end_offset, 6u);
  EXPECT_EQ(s.redelivered, 0u);
  const auto again = receive_until(c, 1);  // ends the first batch's views
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receipt.offset, got[1].receipt.offset) << "given back first";
  EXPECT_EQ(qstats(b, "q").redelivered, 1u);
  EXPECT_EQ(qstats(b, "q").ack_floor, 1u);
}

TEST(QueueSemantics, AnOldUnackedMessageDoesNotHideNewerAckedSpace) {
  lanes_test::bus_with_topic bt("q", queue_topic(1));
  auto& [b, p] = bt;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.publish(std::nullopt, std::string(100, 'x')));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = receive_until(c, 5);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 1; i < 5; ++i) ASSERT_EQ(c.ack(got[i].receipt), errc::ok);
  auto s = qstats(b, "q");
  EXPECT_EQ(s.ack_floor, 0u) << "offset 0 still unacked";
  EXPECT_EQ(s.acked, 4u);
  EXPECT_EQ(s.in_flight, 1u);
  const std::uint64_t one = lanes_test::record_footprint(100);
  EXPECT_EQ(s.bytes_held, 5 * one);
  EXPECT_EQ(s.bytes_acked_waiting, 4 * one);
  EXPECT_EQ(s.bytes_unacked, one);
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
  s = qstats(b, "q");
  EXPECT_EQ(s.ack_floor, 5u);
  EXPECT_EQ(s.bytes_held, 0u);
  EXPECT_EQ(s.bytes_acked_waiting, 0u);
}

TEST(QueueSemantics, AckedSpaceGoesBackToProducers) {
  lanes_test::bus_with_topic bt("q", queue_topic(1, 4096));
  auto& [b, p] = bt;
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const std::string value(200, 'v');
  // Many rings' worth of messages through a 4 KiB ring: only possible if acks free space.
  int published = 0;
  int acked = 0;
  for (int round = 0; round < 200; ++round) {
    while (p.try_publish(std::nullopt, value)) ++published;
    const auto r = c.receive(64);
    ASSERT_EQ(r.status, errc::ok);
    for (const auto& m : r.messages) {
      ASSERT_EQ(c.ack(m.receipt), errc::ok);
      ++acked;
    }
  }
  EXPECT_GT(published, 1000);
  for (;;) {
    const auto r = c.receive(64);
    if (r.messages.empty()) break;
    for (const auto& m : r.messages) {
      ASSERT_EQ(c.ack(m.receipt), errc::ok);
      ++acked;
    }
  }
  EXPECT_EQ(acked, published);
  EXPECT_EQ(qstats(b, "q").bytes_held, 0u);
}

// A consumer that is late (its message expired and another consumer acked it) can still read
// its batch until its next receive: the ring is not given back under its views.
TEST(QueueSemantics, ViewsOutliveAnExpiryAckedByAnotherConsumer) {
  clocked_queue cq(queue_topic_with(
      1, [](lanes::queue_settings& q) { q.visibility_timeout = 1h; }, 4096));
  auto& [b, p] = cq.bt;
  const std::string original(200, 'A');
  ASSERT_TRUE(p.publish(std::nullopt, original));
  lanes::queue_consumer slow = b.make_queue_consumer(qc("q"));
  lanes::queue_consumer fast = b.make_queue_consumer(qc("q"));
  const auto held = slow.receive(1);
  ASSERT_EQ(held.messages.size(), 1u);
  const std::string_view view = held.messages[0].record.value;
  cq.clock->advance(1h);
  const auto again = receive_until(fast, 1, 10s);  // after the deadline
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].receipt.delivery, 2u);
  ASSERT_EQ(fast.ack(again[0].receipt), errc::ok);
  // The producer may not reuse the bytes under `view`: the ring fills up instead.
  const std::string other(200, 'B');
  int published = 0;
  while (p.try_publish(std::nullopt, other)) ++published;
  EXPECT_LT(published, 20);
  EXPECT_EQ(view, original);
  EXPECT_EQ(slow.ack(held.messages[0].receipt), errc::already_acked);
  EXPECT_EQ(qstats(b, "q").ack_floor, 0u);
  // Its next receive ends the views: the space goes back.
  const auto next = slow.receive(64);
  EXPECT_EQ(next.messages.size(), static_cast<std::size_t>(published));
  for (const auto& m : next.messages) ASSERT_EQ(slow.ack(m.receipt), errc::ok);
  EXPECT_TRUE(p.try_publish(std::nullopt, other));
  EXPECT_EQ(qstats(b, "q").ack_floor, static_cast<std::uint64_t>(published) + 1);
}

// Acking a receipt kept from an earlier batch does not count toward the current batch: the
// current batch's views stay pinned until all of its own messages are settled.
TEST(QueueSemantics, OlderReceiptsDoNotUnpinTheCurrentBatch) {
  lanes_test::bus_with_topic bt("q", queue_topic(1));
  auto& [b, p] = bt;
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  ASSERT_TRUE(p.publish(std::nullopt, "a"));
  const auto first = receive_until(c, 1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(p.publish(std::nullopt, "b"));
  ASSERT_TRUE(p.publish(std::nullopt, "c"));
  const auto second = receive_until(c, 2);
  ASSERT_EQ(second.size(), 2u);
  ASSERT_EQ(c.ack(first[0].receipt), errc::ok);
  ASSERT_EQ(c.ack(second[0].receipt), errc::ok);
  EXPECT_EQ(qstats(b, "q").ack_floor, 0u) << "\"c\" of the current batch is not settled";
  ASSERT_EQ(c.ack(second[1].receipt), errc::ok);
  EXPECT_EQ(qstats(b, "q").ack_floor, 3u);
  EXPECT_EQ(qstats(b, "q").bytes_held, 0u);
}

}  // namespace
