// tests/queue/queue_strict_order_test.cpp: strict per-key ordering of a queue topic: one message
// of a key in flight at a time, kept through expiry, nack and delivery delay.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "lanes/queue.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

// Topic "q" of one partition, strict per key and with `change` made to its other queue
// settings, on a clock the test moves, holding "1" then "2" of key "k", and a consumer of it
// (made after the publishes). Null (the test has failed) when a publish failed.
struct strict_queue {
  clocked_queue cq;
  lanes::queue_consumer consumer;

  explicit strict_queue(const lanes::topic_config& tc) : cq(tc) {}
};

template <class Change>
std::unique_ptr<strict_queue> two_of_key_k(Change change) {
  auto q = std::make_unique<strict_queue>(queue_topic_with(1, [&](lanes::queue_settings& s) {
    s.ordering = lanes::queue_ordering::strict_per_key;
    change(s);
  }));
  for (const char* value : {"1", "2"}) {
    const bool published = static_cast<bool>(q->cq.bt.producer.publish("k", value));
    EXPECT_TRUE(published) << value;
    if (!published) return nullptr;
  }
  q->consumer = q->cq.bt.bus.make_queue_consumer(qc("q"));
  return q;
}

TEST(QueueSemantics, StrictPerKeyHoldsAKeyWhileItsMessageIsInFlight) {
  lanes::topic_config tc = queue_topic(1);
  tc.queue.ordering = lanes::queue_ordering::strict_per_key;
  lanes_test::bus_with_topic bt("q", tc);
  auto& [b, p] = bt;
  // a1 a2 b1 a3 b2 (none) c1
  ASSERT_TRUE(p.publish("a", "a1"));
  ASSERT_TRUE(p.publish("a", "a2"));
  ASSERT_TRUE(p.publish("b", "b1"));
  ASSERT_TRUE(p.publish("a", "a3"));
  ASSERT_TRUE(p.publish("b", "b2"));
  ASSERT_TRUE(p.publish(std::nullopt, "n1"));
  ASSERT_TRUE(p.publish("c", "c1"));
  lanes::queue_consumer c1 = b.make_queue_consumer(qc("q"));
  lanes::queue_consumer c2 = b.make_queue_consumer(qc("q"));
  auto values = [](const std::vector<lanes_test::owned_message>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.record.value);
    return out;
  };
  // One message per key at a time: the first of each key, and the unkeyed one.
  auto first = receive_until(c1, 10, 50ms);
  EXPECT_EQ(values(first), (std::vector<std::string>{"a1", "b1", "n1", "c1"}));
  EXPECT_TRUE(receive_until(c2, 10, 30ms).empty()) << "every key has a message in flight";
  // Acking a1 frees a2 (for anyone); nacking b1 gives b1 back before b2.
  ASSERT_EQ(c1.ack(first[0].receipt), errc::ok);
  ASSERT_EQ(c1.nack(first[1].receipt), errc::ok);
  auto second = receive_until(c2, 10, 50ms);
  EXPECT_EQ(values(second), (std::vector<std::string>{"a2", "b1"}));
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1].receipt.delivery, 2u);
  for (const auto& m : second) ASSERT_EQ(c2.ack(m.receipt), errc::ok);
  auto third = receive_until(c1, 10, 50ms);
  EXPECT_EQ(values(third), (std::vector<std::string>{"a3", "b2"}));
  for (const auto& m : third) ASSERT_EQ(c1.ack(m.receipt), errc::ok);
  ASSERT_EQ(c1.ack(first[2].receipt), errc::ok);
  ASSERT_EQ(c1.ack(first[3].receipt), errc::ok);
  const auto s = qstats(b, "q");
  EXPECT_EQ(s.acked, 7u);
  EXPECT_EQ(s.bytes_held, 0u);
}

TEST(QueueSemantics, StrictPerKeyExpiryKeepsOrder) {
  const auto q = two_of_key_k([](lanes::queue_settings& s) { s.visibility_timeout = 1h; });
  ASSERT_TRUE(q);
  lanes::queue_consumer& c = q->consumer;
  const auto first = c.receive(2);
  ASSERT_EQ(first.messages.size(), 1u) << "one at a time per key";
  EXPECT_EQ(first.messages[0].record.value, "1");
  // Not acked: after the timeout "1" comes back, still before "2".
  q->cq.clock->advance(1h);
  auto got = receive_until(c, 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.value, "1");
  EXPECT_EQ(got[0].receipt.delivery, 2u);
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
  got = receive_until(c, 1, 1s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.value, "2");
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
}

TEST(QueueSemantics, StrictPerKeyWithDeliveryDelay) {
  const auto q = two_of_key_k([](lanes::queue_settings& s) { s.delivery_delay = 1h; });
  ASSERT_TRUE(q);
  lanes::queue_consumer& c = q->consumer;
  EXPECT_TRUE(c.receive(2).messages.empty()) << "both held by the delivery delay";
  q->cq.clock->advance(1h);
  auto got = receive_until(c, 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(c.receive(1).messages.empty()) << "one at a time per key";
  EXPECT_EQ(got[0].record.value, "1");
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
  got = receive_until(c, 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.value, "2");
  ASSERT_EQ(c.ack(got[0].receipt), errc::ok);
}

}  // namespace
