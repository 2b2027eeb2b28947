// tests/queue/queue_semantics_test.cpp: receive, ack, nack, extend, redelivery, dead letters and
// delivery delay of a queue topic, one step at a time.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lanes/queue.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

std::string v(int i) { return "m" + std::to_string(i); }

// A queue topic of one partition whose received messages stay invisible for an hour of the
// bus's clock.
lanes::topic_config invisible_for_an_hour() {
  return queue_topic_with(1, [](lanes::queue_settings& q) { q.visibility_timeout = 1h; });
}

// The one message of `cq`'s topic is held: `c` receives nothing now (`why`); an hour later on
// the bus's clock it is delivered, with delivery number `delivery`, and acked.
void expect_held_for_an_hour(clocked_queue& cq, lanes::queue_consumer& c, std::uint32_t delivery,
                             const char* why) {
  EXPECT_TRUE(c.receive(1).messages.empty()) << why;
  cq.clock->advance(1h);
  const auto got = receive_until(c, 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].receipt.delivery, delivery);
  EXPECT_EQ(c.ack(got[0].receipt), errc::ok);
}

TEST(QueueSemantics, PublishReceiveAckDeletesForGood) {
  lanes_test::bus_with_topic bt("q", queue_topic(2));
  auto& [b, p] = bt;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.publish(std::nullopt, v(i)));
  EXPECT_EQ(qstats(b, "q").ready, 10u);

  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  ASSERT_TRUE(c);
  const auto got = receive_until(c, 10);
  ASSERT_EQ(got.size(), 10u);
  std::set<std::string> values;
  for (const auto& m : got) {
    values.insert(m.record.value);
    EXPECT_EQ(m.receipt.delivery, 1u);
    EXPECT_EQ(m.receipt.partition, m.record.partition);
    EXPECT_EQ(m.receipt.offset, m.record.offset);
    EXPECT_EQ(m.record.topic, "q");
    EXPECT_GT(m.receipt.deadline, lanes::wait_clock::now());
  }
  EXPECT_EQ(values.size(), 10u);
  auto s = qstats(b, "q");
  EXPECT_EQ(s.ready, 0u);
  EXPECT_EQ(s.in_flight, 10u);
  EXPECT_GT(s.bytes_held, 0u);
  EXPECT_EQ(s.bytes_unacked, s.bytes_held);

  // Nothing more to receive while they are in flight.
  EXPECT_TRUE(c.receive(10, 5ms).messages.empty());
  for (const auto& m : got) EXPECT_EQ(c.ack(m.receipt), errc::ok);
  s = qstats(b, "q");
  EXPECT_EQ(s.acked, 10u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.ready, 0u);
  EXPECT_EQ(s.ack_floor, 10u);
  EXPECT_EQ(s.bytes_held, 0u) << "everything acked: the ring holds nothing for the queue";
  EXPECT_TRUE(c.receive(10, 5ms).messages.empty()) << "an acked message never comes back";
}

TEST(QueueSemantics, KeysKeepOrderWithinAPartition) {
  lanes_test::bus_with_topic bt("q", queue_topic(4));
  auto& [b, p] = bt;
  std::map<std::string, std::uint32_t> partition_of;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i % 5);
    const auto r = p.publish(key, v(i));
    ASSERT_TRUE(r);
    auto [it, fresh] = partition_of.emplace(key, r.partition);
    EXPECT_EQ(it->second, r.partition) << "a key stays in one partition";
  }
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = receive_until(c, 40);
  ASSERT_EQ(got.size(), 40u);
  std::map<std::string, int> last;
  for (const auto& m : got) {
    const int i = std::stoi(m.record.value.substr(1));
    auto it = last.find(m.record.key);
    if (it != last.end()) {
      EXPECT_LT(it->second, i) << "key " << m.record.key;
    }
    last[m.record.key] = i;
  }
}

TEST(QueueSemantics, UnackedMessageComesBackAfterTheVisibilityTimeout) {
  clocked_queue cq(invisible_for_an_hour());
  auto& [b, p] = cq.bt;
  ASSERT_TRUE(p.publish(std::nullopt, "once"));
  lanes::queue_consumer a = b.make_queue_consumer(qc("q"));
  lanes::queue_consumer other = b.make_queue_consumer(qc("q"));
  const auto first = receive_until(a, 1);
  ASSERT_EQ(first.size(), 1u);
  // Invisible to others until the deadline (an hour away on the bus's clock).
  EXPECT_TRUE(other.receive(1).messages.empty());
  EXPECT_EQ(qstats(b, "q").in_flight, 1u);
  // Then delivered again, with delivery 2.
  cq.clock->advance(1h);
  const auto second = receive_until(other, 1, 10s);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].record.value, "once");
  EXPECT_EQ(second[0].receipt.offset, first[0].receipt.offset);
  EXPECT_EQ(second[0].receipt.delivery, 2u);
  EXPECT_EQ(qstats(b, "q").redelivered, 1u);
  // The first receipt is stale now; the second acks.
  EXPECT_EQ(a.ack(first[0].receipt), errc::stale_receipt);
  EXPECT_EQ(other.ack(second[0].receipt), errc::ok);
  EXPECT_EQ(a.ack(first[0].receipt), errc::already_acked);
}

TEST(QueueSemantics, NackWithoutDelayGivesBackAtOnce) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("q", queue_topic(1)), errc::ok);  // visibility 30 s
  lanes::producer p = b.make_producer("q");
  ASSERT_TRUE(p.publish(std::nullopt, "x"));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto first = receive_until(c, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(c.nack(first[0].receipt), errc::ok);
  EXPECT_EQ(qstats(b, "q").ready, 1u);
  const auto again = receive_until(c, 1, 1s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receipt.delivery, 2u);
  EXPECT_EQ(c.nack(first[0].receipt), errc::stale_receipt) << "the nacked receipt is spent";
  EXPECT_EQ(c.ack(again[0].receipt), errc::ok);
}

TEST(QueueSemantics, NackWithDelayGivesBackLater) {
  clocked_queue cq(queue_topic(1));
  auto& [b, p] = cq.bt;
  ASSERT_TRUE(p.publish(std::nullopt, "x"));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto first = receive_until(c, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(c.nack(first[0].receipt, 1h), errc::ok);
  EXPECT_EQ(qstats(b, "q").delayed, 1u);
  expect_held_for_an_hour(cq, c, 2, "delayed for an hour of the bus's clock");
}

TEST(QueueSemantics, ExtendKeepsAMessageInvisibleLonger) {
  clocked_queue cq(invisible_for_an_hour());
  auto& [b, p] = cq.bt;
  ASSERT_TRUE(p.publish(std::nullopt, "x"));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  auto got = receive_until(c, 1);
  ASSERT_EQ(got.size(), 1u);
  lanes::receipt r = got[0].receipt;
  const auto old_deadline = r.deadline;
  ASSERT_EQ(c.extend(r, 2h), errc::ok);
  EXPECT_GT(r.deadline, old_deadline + 30min);
  // Past the original deadline, nobody gets it again.
  cq.clock->advance(90min);
  EXPECT_TRUE(c.receive(1).messages.empty());
  EXPECT_EQ(qstats(b, "q").in_flight, 1u);
  // Extend to zero: given back at the next check.
  ASSERT_EQ(c.extend(r, 0ms), errc::ok);
  const auto again = receive_until(c, 1, 5s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receipt.delivery, 2u);
  EXPECT_EQ(c.extend(r, 1s), errc::stale_receipt);
  EXPECT_EQ(c.ack(again[0].receipt), errc::ok);
}

TEST(QueueSemantics, DeadLetterAfterMaxDeliveriesWithHeaders) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("dlq", queue_topic(1)), errc::ok);
  lanes::topic_config tc = queue_topic(2);
  tc.queue.max_deliveries = 3;
  tc.queue.dead_letter_topic = "dlq";
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);
  lanes::producer p = b.make_producer("q");
  const lanes::header hs[] = {{"trace", "abc"}};
  const auto pub = p.publish("the-key", "poison", lanes_test::opts().headers(hs));
  ASSERT_TRUE(pub);
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  for (std::uint32_t d = 1; d <= 3; ++d) {
    const auto got = receive_until(c, 1);
    ASSERT_EQ(got.size(), 1u) << "delivery " << d;
    EXPECT_EQ(got[0].receipt.delivery, d);
    EXPECT_EQ(c.nack(got[0].receipt), errc::ok);
  }
  // Past max_deliveries: not delivered again here, but in the dead-letter topic.
  EXPECT_TRUE(receive_until(c, 1, 50ms).empty());
  lanes::queue_consumer dc = b.make_queue_consumer(qc("dlq"));
  const auto dead = receive_until(dc, 1);
  ASSERT_EQ(dead.size(), 1u);
  const auto& r = dead[0].record;
  EXPECT_EQ(r.key, "the-key");
  EXPECT_EQ(r.value, "poison");
  std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
  EXPECT_EQ(h["trace"], "abc");
  EXPECT_EQ(h[std::string(lanes::dead_letter_headers::topic)], "q");
  EXPECT_EQ(h[std::string(lanes::dead_letter_headers::partition)], std::to_string(pub.partition));
  EXPECT_EQ(h[std::string(lanes::dead_letter_headers::offset)], std::to_string(pub.offset));
  EXPECT_EQ(h[std::string(lanes::dead_letter_headers::deliveries)], "3");
  // Settled in the source just after the dead letter is published (see the test below).
  ASSERT_TRUE(wait_until([&] { return qstats(b, "q").dead_lettered == 1; }));
  const auto s = qstats(b, "q");
  EXPECT_EQ(s.acked, 0u);
  EXPECT_EQ(s.bytes_held, 0u) << "a dead letter is acked in the source";
  EXPECT_EQ(s.ack_floor, 1u);
}

TEST(QueueSemantics, ExpiryCountsTowardMaxDeliveries) {
  // With the housekeeping thread: deadlines pass without any receive.
  const auto clock = std::make_shared<lanes::shifted_clock>();
  lanes::bus_config bc;
  bc.clock = clock;
  lanes::bus b(bc);
  ASSERT_EQ(b.create_topic("dlq", queue_topic(1)), errc::ok);
  lanes::topic_config tc = queue_topic(1);
  tc.queue.max_deliveries = 1;
  tc.queue.dead_letter_topic = "dlq";
  tc.queue.visibility_timeout = 1h;
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);
  lanes::producer p = b.make_producer("q");
  ASSERT_TRUE(p.publish(std::nullopt, "slow"));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = receive_until(c, 1);
  ASSERT_EQ(got.size(), 1u);
  lanes::queue_consumer dc = b.make_queue_consumer(qc("dlq"));
  EXPECT_TRUE(dc.receive(1).messages.empty()) << "the visibility timeout has not passed";
  clock->advance(1h);
  const auto dead = receive_until(dc, 1, 10s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].record.value, "slow");
  // The housekeeper publishes the dead letter first and settles the slot after (so that a
  // full dead-letter topic loses nothing): until then the expired receipt is only stale.
  ASSERT_TRUE(wait_until([&] { return qstats(b, "q").dead_lettered == 1; }));
  EXPECT_EQ(c.ack(got[0].receipt), errc::already_acked) << "dead letters are acked here";
}

TEST(QueueSemantics, DeliveryDelayHoldsFreshMessages) {
  clocked_queue cq(queue_topic_with(1, [](lanes::queue_settings& q) { q.delivery_delay = 1h; }));
  auto& [b, p] = cq.bt;
  ASSERT_TRUE(p.publish(std::nullopt, "later"));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  expect_held_for_an_hour(cq, c, 1, "held for an hour of the bus's clock");
}

TEST(QueueSemantics, BatchAckReportsEachReceipt) {
  lanes_test::bus_with_topic bt("q", queue_topic(2));
  auto& [b, p] = bt;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(p.publish(std::nullopt, v(i)));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = receive_until(c, 6);
  ASSERT_EQ(got.size(), 6u);
  std::vector<lanes::receipt> rs;
  for (const auto& m : got) rs.push_back(m.receipt);
  rs.push_back(got[0].receipt);  // twice
  std::vector<errc> results(rs.size(), errc::closed);
  EXPECT_EQ(c.ack(rs, results), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(results[i], errc::ok);
  EXPECT_EQ(results[6], errc::already_acked);
  EXPECT_EQ(qstats(b, "q").acked, 6u);
}

TEST(QueueSemantics, ReceiveWaitsForAPublish) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("q", queue_topic(1)), errc::ok);
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    lanes::producer p = b.make_producer("q");
    (void)p.publish(std::nullopt, "wake");
  });
  const auto r = c.receive(1, 10s);
  t.join();
  ASSERT_EQ(r.status, errc::ok);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].record.value, "wake");
}

}  // namespace
