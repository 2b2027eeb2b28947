// tests/queue/queue_stress_test.cpp: producers and competing consumers at once, with random nacks
// (with and without delay), messages left to expire, and dead letters. Every message must end
// acked exactly once (or dead-lettered exactly once), none lost, and the queue must give all
// its ring space back. Sized for tsan; LANES_STRESS=<k> makes it k times longer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lanes/queue.hpp"
#include "support/concurrency.hpp"
#include "support/queue.hpp"

namespace {

using namespace lanes_test;

constexpr int producers = 4;
constexpr int consumers = 4;

struct tally {
  explicit tally(std::uint64_t per_producer)
      : per(per_producer), acks(producers * per_producer), dead(producers * per_producer) {}
  std::atomic<std::uint32_t>& ack_of(std::uint64_t tag) {
    return acks[lanes_test::tag_producer(tag) * per + lanes_test::tag_seq(tag)];
  }
  std::atomic<std::uint32_t>& dead_of(std::uint64_t tag) {
    return dead[lanes_test::tag_producer(tag) * per + lanes_test::tag_seq(tag)];
  }
  const std::uint64_t per;
  std::vector<std::atomic<std::uint32_t>> acks;
  std::vector<std::atomic<std::uint32_t>> dead;
  std::atomic<std::uint64_t> done{0};  // acked or dead-lettered
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> errors{0};
};

// One consumer thread's loop: receives (batch() messages at most, 2 ms at most) until every
// message is done, handing each message to `handle`. A receive error counts in t.errors and
// ends the loop, and so does a minute without a message (gave_up: lost messages?).
template <class Batch, class Handle>
void receive_until_done(lanes::queue_consumer& c, tally& t, std::uint64_t total,
                        std::atomic<bool>& gave_up, lanes_test::start_line& start, Batch batch,
                        Handle handle) {
  lanes_test::stall_guard guard(gave_up);
  start.wait();
  while (t.done.load() < total) {
    const auto r = c.receive(batch(), 2ms);
    if (r.status != errc::ok) {
      t.errors.fetch_add(1);
      return;
    }
    if (r.messages.empty()) {
      if (guard.give_up()) return;
      continue;
    }
    guard.progress();
    for (const lanes::queue_message& m : r.messages) handle(m);
  }
}

void run_stress(lanes::bus& b, const char* topic, std::uint32_t max_deliveries, bool with_dlq,
                bool keys) {
  const std::uint64_t per = lanes_test::stress_iters(lanes_test::under_tsan ? 1500 : 20000);
  const std::uint64_t total = producers * per;
  tally t(per);
  std::atomic<bool> gave_up{false};
  lanes_test::start_line start(producers + consumers + (with_dlq ? 1 : 0));
  std::vector<std::thread> threads;
  for (int id = 0; id < producers; ++id) {
    threads.emplace_back([&, id] {
      lanes::producer p = b.make_producer(topic);
      start.wait();
      for (std::uint64_t s = 0; s < per; ++s) {
        const std::string v = tag_value(static_cast<std::uint64_t>(id), s);
        const std::string key = "k" + std::to_string(s % 13);
        const auto r = keys ? p.publish(key, v) : p.publish(std::nullopt, v);
        if (!r) {
          t.errors.fetch_add(1);
          return;
        }
      }
    });
  }
  for (int id = 0; id < consumers; ++id) {
    threads.emplace_back([&, id] {
      lanes::queue_consumer c = b.make_queue_consumer(qc(topic).max_receive(16));
      std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + 1);
      const auto batch = [&] { return 1 + rng() % 16; };
      receive_until_done(c, t, total, gave_up, start, batch, [&](const lanes::queue_message& m) {
        const std::uint64_t tag = value_tag(m.record.value);
        const std::uint64_t dice = rng() % 100;
        if (dice < 8) {
          (void)c.nack(m.receipt);  // may race with expiry: stale is fine
        } else if (dice < 12) {
          (void)c.nack(m.receipt, std::chrono::microseconds(rng() % 3000));
        } else if (dice < 16) {
          // Left to expire (visibility timeout is short).
        } else if (dice < 18) {
          lanes::receipt rc = m.receipt;
          (void)c.extend(rc, 1ms);  // then left to expire sooner or later
        } else {
          const errc e = c.ack(m.receipt);
          if (e == errc::ok) {
            t.ack_of(tag).fetch_add(1);
            t.done.fetch_add(1);
          } else if (e == errc::stale_receipt || e == errc::already_acked) {
            t.stale.fetch_add(1);  // its deadline passed first: it comes (came) back
          } else {
            t.errors.fetch_add(1);
          }
        }
      });
    });
  }
  if (with_dlq) {
    threads.emplace_back([&] {
      lanes::queue_consumer c = b.make_queue_consumer(qc("dlq"));
      const auto batch = [] { return std::size_t{16}; };
      receive_until_done(c, t, total, gave_up, start, batch, [&](const lanes::queue_message& m) {
        t.dead_of(value_tag(m.record.value)).fetch_add(1);
        t.done.fetch_add(1);
        if (c.ack(m.receipt) != errc::ok) t.errors.fetch_add(1);
      });
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(gave_up.load()) << "a thread made no progress for a minute: lost messages?";
  EXPECT_EQ(t.errors.load(), 0u);
  EXPECT_EQ(t.done.load(), total);
  std::uint64_t acked = 0;
  std::uint64_t dead = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    const std::uint32_t a = t.acks[i].load();
    const std::uint32_t d = t.dead[i].load();
    ASSERT_EQ(a + d, 1u) << "message " << i << " acked " << a << " times, dead-lettered " << d;
    acked += a;
    dead += d;
  }
  // The last dead letters are counted in the source just after they are published.
  EXPECT_TRUE(wait_until([&] { return qstats(b, topic).dead_lettered == dead; }));
  const auto s = qstats(b, topic);
  EXPECT_EQ(s.acked, acked);
  EXPECT_EQ(s.dead_lettered, dead);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u);
  EXPECT_EQ(s.ack_floor, total);
  EXPECT_EQ(s.bytes_held, 0u) << "memory back to its baseline";
  EXPECT_GT(s.redelivered, 0u) << "nacks and expiries happened";
  if (max_deliveries == 0) {
    EXPECT_EQ(dead, 0u);
  }
  b.enforce_retention();  // queue topics: the log start follows the ack floor
  const auto info = b.describe_topic(topic);
  ASSERT_TRUE(info);
  for (const auto& p : info->partitions) {
    EXPECT_EQ(p.bytes, 0u);
    EXPECT_EQ(p.log_start_offset, p.end_offset);
  }
}

TEST(QueueStress, FourProducersFourConsumersRandomNacksAndExpiries) {
  lanes::bus b;                                      // with the housekeeping thread
  lanes::topic_config tc = queue_topic(3, 1 << 14);  // small: producers wait for acks
  tc.queue.visibility_timeout = 3ms;
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);
  run_stress(b, "q", 0, false, false);
}

TEST(QueueStress, DeadLettersUnderLoad) {
  lanes::bus b(quiet_bus());  // deadlines enforced by receivers only
  ASSERT_EQ(b.create_topic("dlq", queue_topic(2, 1 << 16)), errc::ok);
  lanes::topic_config tc = queue_topic(2, 1 << 14);
  tc.queue.visibility_timeout = 3ms;
  tc.queue.max_deliveries = 2;
  tc.queue.dead_letter_topic = "dlq";
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);
  run_stress(b, "q", 2, true, true);
}

// strict_per_key under load: no two messages of a key in flight at once, and each key's
// messages acked in publish order (per producer; keys are per producer here).
TEST(QueueStress, StrictPerKeyOrderWithCompetingConsumers) {
  lanes::bus b(quiet_bus());
  lanes::topic_config tc = queue_topic(2, 1 << 15);
  tc.queue.ordering = lanes::queue_ordering::strict_per_key;
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);  // 30 s visibility: nothing expires
  constexpr int keys_per_producer = 8;
  const std::uint64_t per = lanes_test::stress_iters(lanes_test::under_tsan ? 800 : 8000);
  const std::uint64_t total = 2 * per;
  std::vector<std::atomic<bool>> busy(2 * keys_per_producer);
  std::vector<std::atomic<std::uint64_t>> next(2 * keys_per_producer);
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> violations{0};
  std::atomic<bool> gave_up{false};
  lanes_test::start_line start(2 + consumers);
  std::vector<std::thread> threads;
  for (int id = 0; id < 2; ++id) {
    threads.emplace_back([&, id] {
      lanes::producer p = b.make_producer("q");
      start.wait();
      for (std::uint64_t s = 0; s < per; ++s) {
        // Sequence numbers per key: s / keys_per_producer.
        const std::string key = "p" + std::to_string(id) + "k" + std::to_string(s % 8);
        if (!p.publish(key, tag_value(static_cast<std::uint64_t>(id), s))) {
          violations.fetch_add(1);
          return;
        }
      }
    });
  }
  for (int id = 0; id < consumers; ++id) {
    threads.emplace_back([&, id] {
      lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(8));
      std::mt19937_64 rng(static_cast<std::uint64_t>(id) + 99);
      lanes_test::stall_guard guard(gave_up);
      start.wait();
      while (done.load() < total) {
        const auto r = c.receive(8, 2ms);
        if (r.status != errc::ok || r.messages.empty()) {
          if (r.status != errc::ok || guard.give_up()) return;
          continue;
        }
        guard.progress();
        for (const lanes::queue_message& m : r.messages) {
          const std::uint64_t tag = value_tag(m.record.value);
          const std::uint64_t k = lanes_test::tag_producer(tag) * keys_per_producer +
                                  lanes_test::tag_seq(tag) % keys_per_producer;
          if (busy[k].exchange(true)) violations.fetch_add(1);  // two in flight
        }
        for (const lanes::queue_message& m : r.messages) {
          const std::uint64_t tag = value_tag(m.record.value);
          const std::uint64_t k = lanes_test::tag_producer(tag) * keys_per_producer +
                                  lanes_test::tag_seq(tag) % keys_per_producer;
          const std::uint64_t seq = lanes_test::tag_seq(tag) / keys_per_producer;
          busy[k].store(false);  // before giving it up: then the key's next may go
          if (rng() % 10 == 0) {
            if (c.nack(m.receipt) != errc::ok) violations.fetch_add(1);
            continue;
          }
          if (next[k].load() != seq) violations.fetch_add(1);  // out of order
          next[k].store(seq + 1);
          if (c.ack(m.receipt) != errc::ok) violations.fetch_add(1);
          done.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(gave_up.load());
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_EQ(done.load(), total);
  const auto s = qstats(b, "q");
  EXPECT_EQ(s.acked, total);
  EXPECT_EQ(s.bytes_held, 0u);
}

}  // namespace
