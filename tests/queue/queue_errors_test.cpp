// tests/queue/queue_errors_test.cpp: bad receipts, closed consumers and bad queue configurations
// get their documented error and change nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "lanes/queue.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

// The stats numbers that acks, nacks and extends can change, as one comparable value.
using numbers = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t,
                           std::uint64_t, std::uint64_t, std::uint64_t>;
numbers snapshot(const lanes::bus& b, std::string_view topic, std::string_view group = {}) {
  const auto s = lanes_test::qstats(b, topic, group);
  return {s.ready, s.in_flight, s.delayed, s.acked, s.redelivered, s.ack_floor, s.bytes_held};
}

struct fixture {
  // The bus's clock: a test moves it past a deadline instead of waiting.
  std::shared_ptr<lanes::shifted_clock> clock = std::make_shared<lanes::shifted_clock>();
  lanes::bus b{lanes_test::clocked_bus(clock)};
  lanes::producer p;
  lanes::queue_consumer c;
  explicit fixture(lanes::topic_config tc = queue_topic(2)) {
    EXPECT_EQ(b.create_topic("q", tc), errc::ok);
    p = b.make_producer("q");
    c = b.make_queue_consumer(qc("q"));
  }

  // Publishes `values` (without keys), then receives up to `n` messages without acking them;
  // a publish that fails fails the test and nothing is received.
  std::vector<owned_message> publish_and_receive(std::initializer_list<const char*> values,
                                                 std::size_t n) {
    for (const char* v : values) {
      const bool published = static_cast<bool>(p.publish(std::nullopt, v));
      EXPECT_TRUE(published) << v;
      if (!published) return {};
    }
    return receive_until(c, n);
  }
};

TEST(QueueErrors, AckTwiceIsAlreadyAckedAndChangesNothing) {
  fixture f;
  const auto got = f.publish_and_receive({"a", "b"}, 2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(f.c.ack(got[0].receipt), errc::ok);
  const numbers before = snapshot(f.b, "q");
  EXPECT_EQ(f.c.ack(got[0].receipt), errc::already_acked);
  EXPECT_EQ(f.c.nack(got[0].receipt), errc::already_acked);
  lanes::receipt r = got[0].receipt;
  EXPECT_EQ(f.c.extend(r, 1s), errc::already_acked);
  EXPECT_EQ(r.deadline, got[0].receipt.deadline);
  EXPECT_EQ(snapshot(f.b, "q"), before);
  // A second consumer of the same queue may ack the other one (receipts are not per consumer).
  lanes::queue_consumer other = f.b.make_queue_consumer(qc("q"));
  EXPECT_EQ(other.ack(got[1].receipt), errc::ok);
  EXPECT_EQ(other.ack(got[1].receipt), errc::already_acked);
}

TEST(QueueErrors, StaleReceiptAfterRedeliveryChangesNothing) {
  lanes::topic_config tc = queue_topic(1);
  tc.queue.visibility_timeout = 1h;
  fixture f(tc);
  const auto first = f.publish_and_receive({"a"}, 1);
  ASSERT_EQ(first.size(), 1u);
  f.clock->advance(1h);
  const auto second = receive_until(f.c, 1, 10s);  // after the deadline
  ASSERT_EQ(second.size(), 1u);
  ASSERT_EQ(second[0].receipt.delivery, 2u);
  const numbers before = snapshot(f.b, "q");
  EXPECT_EQ(f.c.ack(first[0].receipt), errc::stale_receipt);
  EXPECT_EQ(f.c.nack(first[0].receipt), errc::stale_receipt);
  lanes::receipt r = first[0].receipt;
  EXPECT_EQ(f.c.extend(r, 10s), errc::stale_receipt);
  EXPECT_EQ(snapshot(f.b, "q"), before);
  EXPECT_EQ(f.c.ack(second[0].receipt), errc::ok) << "the current receipt still works";
}

// Aeron-style: drive the offsets many laps around the slot table (a 4 KiB ring has a table of
// 128 slots), so that an old receipt's slot belongs to a later offset when it comes back.
TEST(QueueErrors, ReceiptFromManyLapsAgoIsAlreadyAcked) {
  fixture f(queue_topic(1, 4096));
  const auto first = f.publish_and_receive({"first"}, 1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(f.c.ack(first[0].receipt), errc::ok);
  std::uint64_t last = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto got = f.publish_and_receive({"again"}, 1);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(f.c.ack(got[0].receipt), errc::ok);
    last = got[0].receipt.offset;
  }
  ASSERT_EQ(last, 2000u);
  const numbers before = snapshot(f.b, "q");
  EXPECT_EQ(f.c.ack(first[0].receipt), errc::already_acked);
  EXPECT_EQ(f.c.nack(first[0].receipt), errc::already_acked);
  EXPECT_EQ(snapshot(f.b, "q"), before);
}

TEST(QueueErrors, ReceiptOfAnotherQueueIsForeign) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("q1", queue_topic(1)), errc::ok);
  ASSERT_EQ(b.create_topic("q2", queue_topic(1)), errc::ok);
  ASSERT_EQ(b.create_topic("log", log_topic(1)), errc::ok);
  lanes::producer p1 = b.make_producer("q1");
  lanes::producer p2 = b.make_producer("q2");
  lanes::producer pl = b.make_producer("log");
  ASSERT_TRUE(p1.publish(std::nullopt, "one"));
  ASSERT_TRUE(p2.publish(std::nullopt, "two"));
  lanes::queue_consumer c1 = b.make_queue_consumer(qc("q1"));
  lanes::queue_consumer c2 = b.make_queue_consumer(qc("q2"));
  lanes::queue_consumer ga = b.make_queue_consumer(qc("log").group("ga"));
  lanes::queue_consumer gb = b.make_queue_consumer(qc("log").group("gb"));
  ASSERT_TRUE(pl.publish(std::nullopt, "three"));
  const auto m1 = receive_until(c1, 1);
  const auto m2 = receive_until(c2, 1);
  const auto ma = receive_until(ga, 1);
  ASSERT_EQ(m1.size(), 1u);
  ASSERT_EQ(m2.size(), 1u);
  ASSERT_EQ(ma.size(), 1u);
  // Same partition and offset, other queue: refused.
  ASSERT_EQ(m1[0].receipt.offset, m2[0].receipt.offset);
  const numbers before1 = snapshot(b, "q1");
  const numbers before2 = snapshot(b, "q2");
  EXPECT_EQ(c1.ack(m2[0].receipt), errc::foreign_receipt);
  EXPECT_EQ(c1.nack(m2[0].receipt), errc::foreign_receipt);
  EXPECT_EQ(gb.ack(ma[0].receipt), errc::foreign_receipt) << "another group of the same topic";
  EXPECT_EQ(snapshot(b, "q1"), before1);
  EXPECT_EQ(snapshot(b, "q2"), before2);
  EXPECT_EQ(c2.ack(m2[0].receipt), errc::ok);
  EXPECT_EQ(c1.ack(m1[0].receipt), errc::ok);
  EXPECT_EQ(ga.ack(ma[0].receipt), errc::ok);
}

TEST(QueueErrors, MadeUpReceiptsAreRefused) {
  fixture f;
  const auto got = f.publish_and_receive({"a"}, 1);
  ASSERT_EQ(got.size(), 1u);
  const numbers before = snapshot(f.b, "q");
  lanes::receipt r = got[0].receipt;
  r.partition = 7;
  EXPECT_EQ(f.c.ack(r), errc::invalid_partition);
  r = got[0].receipt;
  r.offset = 1000;  // never delivered
  EXPECT_EQ(f.c.ack(r), errc::invalid_argument);
  r = got[0].receipt;
  r.delivery = 9;  // a delivery that did not happen
  EXPECT_EQ(f.c.ack(r), errc::invalid_argument);
  EXPECT_EQ(f.c.ack(lanes::receipt{}), errc::foreign_receipt);
  r = got[0].receipt;
  EXPECT_EQ(f.c.extend(r, -1s), errc::invalid_argument);
  EXPECT_EQ(snapshot(f.b, "q"), before);
  EXPECT_EQ(f.c.ack(got[0].receipt), errc::ok);
}

TEST(QueueErrors, ReceiveAfterCloseIsClosedAndChangesNothing) {
  fixture f;
  const auto got = f.publish_and_receive({"a", "b"}, 1);
  ASSERT_EQ(got.size(), 1u);
  const numbers before = snapshot(f.b, "q");
  f.c.close();
  const auto r = f.c.receive(10, 10ms);
  EXPECT_EQ(r.status, errc::closed);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(f.c.ack(got[0].receipt), errc::closed);
  EXPECT_EQ(f.c.nack(got[0].receipt), errc::closed);
  EXPECT_EQ(snapshot(f.b, "q"), before);
  // The queue itself goes on: another consumer acks the held message and gets the other.
  lanes::queue_consumer other = f.b.make_queue_consumer(qc("q"));
  EXPECT_EQ(other.ack(got[0].receipt), errc::ok);
  EXPECT_EQ(receive_until(other, 1).size(), 1u);
  // A default-constructed consumer is closed too.
  lanes::queue_consumer none;
  EXPECT_FALSE(none);
  EXPECT_EQ(none.receive(1).status, errc::closed);
  EXPECT_EQ(none.ack(got[0].receipt), errc::closed);
}

TEST(QueueErrors, BusCloseWakesAndClosesReceivers) {
  fixture f;
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    f.b.close();
  });
  const auto r = f.c.receive(1, 10s);
  t.join();
  EXPECT_EQ(r.status, errc::closed);
  EXPECT_EQ(f.c.ack(lanes::receipt{}), errc::closed);
  errc st = errc::ok;
  EXPECT_FALSE(f.b.make_queue_consumer(qc("q"), &st));
  EXPECT_EQ(st, errc::closed);
}

TEST(QueueErrors, DeletedTopicIsUnknown) {
  fixture f;
  ASSERT_EQ(f.b.delete_topic("q"), errc::ok);
  EXPECT_EQ(f.c.receive(1, 1ms).status, errc::unknown_topic);
  EXPECT_FALSE(f.b.describe_queue("q").has_value());
}

TEST(QueueErrors, BadQueueConfigurationsAreRefusedAtCreateTopic) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("single",
                           [] {
                             lanes::topic_config c = queue_topic(1);
                             c.producers = lanes::producer_mode::single;
                             return c;
                           }()),
            errc::ok);
  struct bad {
    const char* what;
    lanes::topic_config config;
    errc expected;
  };
  std::vector<bad> cases;
  auto add = [&](const char* what, errc e, auto change) {
    lanes::topic_config c = queue_topic(1);
    change(c);
    cases.push_back({what, c, e});
  };
  add("zero visibility", errc::invalid_config,
      [](lanes::topic_config& c) { c.queue.visibility_timeout = 0s; });
  add("negative delay", errc::invalid_config,
      [](lanes::topic_config& c) { c.queue.delivery_delay = -1s; });
  add("max deliveries without dead-letter topic", errc::invalid_config,
      [](lanes::topic_config& c) { c.queue.max_deliveries = 3; });
  add("dead-letter topic without max deliveries", errc::invalid_config,
      [](lanes::topic_config& c) { c.queue.dead_letter_topic = "single"; });
  // Dead letters: (what, expected, max_deliveries, dead_letter_topic).
  struct dead_letter_case {
    const char* what;
    errc expected;
    std::uint32_t max_deliveries;
    const char* topic;
  };
  for (const dead_letter_case& d : {
           dead_letter_case{"missing dead-letter topic", errc::unknown_topic, 3, "nope"},
           dead_letter_case{"dead-letter topic is itself", errc::invalid_config, 3, "new"},
           dead_letter_case{"bad dead-letter topic name", errc::invalid_topic_name, 3, "no/slash"},
           dead_letter_case{"single-producer dead-letter topic", errc::invalid_config, 3, "single"},
           dead_letter_case{"too many deliveries", errc::invalid_config, (1u << 20) + 1, "single"},
       }) {
    add(d.what, d.expected, [&d](lanes::topic_config& c) {
      c.queue.max_deliveries = d.max_deliveries;
      c.queue.dead_letter_topic = d.topic;
    });
  }
  add("overwrite queue", errc::invalid_config,
      [](lanes::topic_config& c) { c.policy = lanes::backpressure::overwrite; });
  add("queue with retention bytes", errc::invalid_config,
      [](lanes::topic_config& c) { c.retention_bytes = 4096; });
  add("queue with retention age", errc::invalid_config,
      [](lanes::topic_config& c) { c.retention_age = 1s; });
  add("bad ordering", errc::invalid_config,
      [](lanes::topic_config& c) { c.queue.ordering = static_cast<lanes::queue_ordering>(9); });
  add("bad mode", errc::invalid_config,
      [](lanes::topic_config& c) { c.mode = static_cast<lanes::topic_mode>(9); });
  for (const bad& c : cases) {
    EXPECT_EQ(b.create_topic("new", c.config), c.expected) << c.what;
  }
  // A log topic's queue settings are checked too (its queue groups use them).
  lanes::topic_config lc = log_topic(1);
  lc.queue.max_deliveries = 2;
  EXPECT_EQ(b.create_topic("new", lc), errc::invalid_config);
  EXPECT_EQ(b.list_topics(), std::vector<std::string>{"single"}) << "nothing was created";
}

TEST(QueueErrors, QueueConsumersAndLogConsumersKeepToTheirModes) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("q", queue_topic(1)), errc::ok);
  ASSERT_EQ(b.create_topic("log", log_topic(1)), errc::ok);
  lanes::topic_config ow = log_topic(1);
  ow.policy = lanes::backpressure::overwrite;
  ASSERT_EQ(b.create_topic("ow", ow), errc::ok);
  errc st = errc::ok;
  EXPECT_FALSE(b.make_queue_consumer(qc("nope"), &st));
  EXPECT_EQ(st, errc::unknown_topic);
  EXPECT_FALSE(b.make_queue_consumer(qc("q").group("g"), &st));
  EXPECT_EQ(st, errc::invalid_group) << "a queue topic is one queue";
  EXPECT_FALSE(b.make_queue_consumer(qc("log"), &st));
  EXPECT_EQ(st, errc::invalid_group) << "a log topic needs a queue group name";
  EXPECT_FALSE(b.make_queue_consumer(qc("log").group("bad name"), &st));
  EXPECT_EQ(st, errc::invalid_group);
  EXPECT_FALSE(b.make_queue_consumer(qc("ow").group("g"), &st));
  EXPECT_EQ(st, errc::wrong_mode) << "views must stay valid until acked";
  EXPECT_FALSE(b.make_queue_consumer(qc("q").max_receive(0), &st));
  EXPECT_EQ(st, errc::invalid_config);
  // Log consumers do not read queue topics.
  lanes::consumer lc = b.make_consumer(lanes_test::cc().group("g"));
  EXPECT_EQ(lc.subscribe({"q"}), errc::wrong_mode);
  lanes::consumer solo = b.make_consumer(lanes_test::cc());
  const std::vector<lanes::topic_partition> tp{{"q", 0}};
  EXPECT_EQ(solo.assign(tp), errc::wrong_mode);
  EXPECT_FALSE(b.describe_queue("log").has_value()) << "no queue group yet";
}

}  // namespace
