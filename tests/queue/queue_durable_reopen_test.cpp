// tests/queue/queue_durable_reopen_test.cpp: durable queue topics closed and opened again
// (DESIGN.md, Queue mode and Durability; modes/queue_acks.cpp).
//
// Reopen after a clean close restores exactly the unacked set (acked, nacked, in flight,
// never received), also with consumers acking concurrently with the persister; strict per-key
// order and dead letters survive a reopen.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lanes/queue.hpp"
#include "support/io.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

std::string v(int i) { return "m" + std::to_string(i); }

class QueueDurable : public data_dir_test,
                     public ::testing::WithParamInterface<lanes::durability> {};
using QueueDurableSemantics = data_dir_test;

// Acked, nacked, in flight and never received messages of a durable queue; after a clean
// close and reopen, exactly the unacked ones come back, each once, with their offsets, keys,
// timestamps and values; acked ones never.
TEST_P(QueueDurable, ReopenAfterCleanCloseRestoresExactlyTheUnackedSet) {
  std::set<std::string> unacked;
  std::map<std::string, owned_message> original;
  {
    lanes_test::bus_with_topic bt("q", durable_queue(2, GetParam()), quiet_bus(dir.path()));
    auto& [b, p] = bt;
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(p.publish("k" + std::to_string(i % 7), v(i), {.durable = true}));
    }
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = lanes_test::receive_until(c, 80);  // 20 never received
    ASSERT_EQ(got.size(), 80u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const owned_message& m = got[i];
      original[m.record.value] = m;
      if (i % 4 == 0 || i % 4 == 1) {
        ASSERT_EQ(c.ack(m.receipt), errc::ok);  // 40 acked
      } else if (i % 4 == 2) {
        ASSERT_EQ(c.nack(m.receipt), errc::ok);  // 20 given back
        unacked.insert(m.record.value);
      } else {
        unacked.insert(m.record.value);  // 20 left in flight
      }
    }
    for (int i = 0; i < 100; ++i) {
      if (original.count(v(i)) == 0) unacked.insert(v(i));
    }
    ASSERT_EQ(unacked.size(), 60u);
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    lanes::bus b(quiet_bus(dir.path()));
    EXPECT_EQ(qstats(b, "q").ready, 60u) << "reopen " << reopen;
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = drain(c);
    EXPECT_EQ(got.size(), 60u) << "each unacked message once";
    EXPECT_EQ(values_of(got), unacked);
    for (const auto& m : got) {
      EXPECT_EQ(m.receipt.delivery, 1u) << "delivery counts start again at 1";
      const auto it = original.find(m.record.value);
      if (it == original.end()) continue;
      EXPECT_EQ(m.record.partition, it->second.record.partition);
      EXPECT_EQ(m.record.offset, it->second.record.offset);
      EXPECT_EQ(m.record.key, it->second.record.key);
      EXPECT_EQ(m.record.timestamp_ns, it->second.record.timestamp_ns);
    }
    // The second time round: received but not acked before the close: all back again.
  }
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(128));
    const auto got = drain(c);
    ASSERT_EQ(got.size(), 60u);
    for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
    lanes::producer p = b.make_producer("q");
    ASSERT_TRUE(p.publish("k", "after", {.durable = true}));
  }
  lanes::bus b(quiet_bus(dir.path()));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  const auto got = drain(c);
  ASSERT_EQ(got.size(), 1u) << "everything else was acked";
  EXPECT_EQ(got[0].record.value, "after");
}

// A producer and three competing consumers that ack (and sometimes nack) concurrently with
// the persister's rounds; after a clean close and reopen, the unacked set is exactly what
// was published minus what ack reported acked.
TEST_P(QueueDurable, ConcurrentAckersThenReopenRestoresExactlyTheUnackedSet) {
  constexpr int total = 1500;
  std::vector<std::set<std::string>> acked(3);
  {
    lanes::bus b(quiet_bus(dir.path()));
    ASSERT_EQ(b.create_topic("q", durable_queue(2, GetParam(), 16 * 1024)), errc::ok);
    std::atomic<int> acks{0};  // a small ring: producers wait for the floor many times
    std::atomic<bool> failed{false};
    std::thread producer([&] {
      lanes::producer p = b.make_producer("q");
      for (int i = 0; i < total; ++i) {
        // Ends with closed when the consumers stop and the bus closes on a full ring.
        if (!p.publish("k" + std::to_string(i % 11), v(i))) return;
      }
    });
    std::vector<std::thread> consumers;
    for (int t = 0; t < 3; ++t) {
      consumers.emplace_back([&, t] {
        lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(8));
        std::mt19937 r(static_cast<unsigned>(t + 1));
        const auto stop = std::chrono::steady_clock::now() + 20s;
        // Acks 7 in 8 and nacks the rest until 2/3 are acked; then leaves its last batch in
        // flight (earlier, a message in flight would hold the ring: the floor stops there).
        bool last = false;
        while (!last && std::chrono::steady_clock::now() < stop) {
          last = acks.load() >= total * 2 / 3;
          const lanes::receive_result rr = c.receive(8, 5ms);
          if (rr.status != errc::ok) {
            failed = true;
            return;
          }
          if (last) break;  // in flight at the close: unacked
          for (const lanes::queue_message& m : rr.messages) {
            const std::string value(m.record.value);
            if (r() % 8 == 0) {
              (void)c.nack(m.receipt);
            } else if (c.ack(m.receipt) == errc::ok) {
              acked[static_cast<std::size_t>(t)].insert(value);
              acks.fetch_add(1);
            } else {
              failed = true;
            }
          }
        }
      });
    }
    for (auto& th : consumers) th.join();
    b.close();  // a producer blocked on a full ring returns closed
    producer.join();
    ASSERT_FALSE(failed.load()) << "a receive or an ack failed";
  }
  lanes::bus b(quiet_bus(dir.path()));
  const auto info = b.describe_topic("q");
  ASSERT_TRUE(info);
  std::uint64_t end = 0;
  for (const auto& part : info->partitions) end += part.end_offset;
  lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(64));
  const auto got = drain(c);
  std::set<std::string> all_acked;
  for (const auto& a : acked) all_acked.insert(a.begin(), a.end());
  EXPECT_GE(all_acked.size(), static_cast<std::size_t>(total * 2 / 3));
  EXPECT_EQ(got.size() + all_acked.size(), end) << "every message is acked or comes back, once";
  for (const auto& m : got) {
    EXPECT_EQ(all_acked.count(m.record.value), 0u) << "acked, delivered again: " << m.record.value;
  }
  EXPECT_EQ(values_of(got).size(), got.size());
}

INSTANTIATE_TEST_SUITE_P(Modes, QueueDurable,
                         ::testing::Values(lanes::durability::sync, lanes::durability::async),
                         [](const auto& param_info) {
                           return param_info.param == lanes::durability::sync ? "sync" : "async";
                         });

// Strict per-key order holds across a reopen (recovered messages carry their key hashes),
// and a dead letter of a durable queue lands in a durable dead-letter topic and is not
// redelivered by the queue after a reopen.
TEST_F(QueueDurableSemantics, StrictOrderAndDeadLettersSurviveReopen) {
  {
    lanes::bus b(quiet_bus(dir.path()));
    lanes::topic_config dl = durable_queue(1, lanes::durability::sync);
    ASSERT_EQ(b.create_topic("dead", dl), errc::ok);
    lanes::topic_config q = durable_queue(1, lanes::durability::async);
    q.queue.ordering = lanes::queue_ordering::strict_per_key;
    q.queue.max_deliveries = 1;
    q.queue.dead_letter_topic = "dead";
    ASSERT_EQ(b.create_topic("q", q), errc::ok);
    lanes::producer p = b.make_producer("q");
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(p.publish(i % 2 == 0 ? "a" : "b", v(i)));
    lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
    const auto got = lanes_test::receive_until(c, 2);  // the head of each key
    ASSERT_EQ(got.size(), 2u);
    for (const auto& m : got) {
      if (m.record.value == v(0)) {
        ASSERT_EQ(c.nack(m.receipt), errc::ok);  // -> dead letter
      }
    }
    // m1 (key b) stays in flight.
  }
  lanes::bus b(quiet_bus(dir.path()));
  lanes::queue_consumer dc = b.make_queue_consumer(qc("dead"));
  const auto dead = drain(dc);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].record.value, v(0));
  lanes::queue_consumer c = b.make_queue_consumer(qc("q"));
  // Key order: a: m2 m4, b: m1 m3 m5. One per key at a time.
  std::vector<std::string> order;
  for (int step = 0; step < 10 && order.size() < 5; ++step) {
    const auto got = lanes_test::receive_until(c, 2, 200ms);
    std::set<std::string> keys;
    for (const auto& m : got) {
      EXPECT_TRUE(keys.insert(m.record.key).second) << "two messages of one key at once";
      order.push_back(m.record.value);
    }
    for (const auto& m : got) ASSERT_EQ(c.ack(m.receipt), errc::ok);
  }
  std::vector<std::string> a, bk;
  for (const auto& s : order) {
    const int i = std::stoi(s.substr(1));
    (i % 2 == 0 ? a : bk).push_back(s);
  }
  EXPECT_EQ(a, (std::vector<std::string>{v(2), v(4)})) << "the dead letter is not redelivered";
  EXPECT_EQ(bk, (std::vector<std::string>{v(1), v(3), v(5)}));
}

}  // namespace
