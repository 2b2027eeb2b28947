// tests/queue/queue_alloc_test.cpp: publish, receive, ack, nack and extend allocate nothing per
// message. This executable replaces the global operator new with a counting one, warms a
// queue up, then runs many cycles and checks the count did not move. Also pins noexcept on
// the queue consumer's hot-path calls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "lanes/queue.hpp"
#include "lanes_support/counting_new.hpp"
#include "support/checks.hpp"
#include "support/queue.hpp"

namespace {

using lanes_support::allocations_during;
using namespace lanes_test;

static_assert(noexcept(lv<lanes::queue_consumer>().receive(1)));
static_assert(noexcept(lv<lanes::queue_consumer>().receive(1, lv<std::chrono::nanoseconds>())));
static_assert(noexcept(lv<lanes::queue_consumer>().ack(lv<const lanes::receipt>())));
static_assert(noexcept(lv<lanes::queue_consumer>().ack(std::span<const lanes::receipt>())));
static_assert(noexcept(lv<lanes::queue_consumer>().nack(lv<const lanes::receipt>())));
static_assert(noexcept(lv<lanes::queue_consumer>().extend(lv<lanes::receipt>(),
                                                          lv<std::chrono::nanoseconds>())));

std::atomic<std::string*> g_sink{nullptr};

TEST(QueueAlloc, TheCounterCounts) {
  const std::uint64_t n = allocations_during([] {
    g_sink.store(new std::string(100, 'x'));  // escapes: not optimised out
    delete g_sink.exchange(nullptr);
  });
  EXPECT_EQ(n, 2u);
}

// Publishes, receives and settles `cycles` messages: most acked one by one, some in batches,
// some nacked (and received again) or extended first. Returns the failures seen.
constexpr std::string_view keys[] = {"k0", "k1", "k2",  "k3",  "k4",  "k5",  "k6",  "k7",
                                     "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15"};
constexpr char value_bytes[65] = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";

std::uint64_t cycle(lanes::producer& p, lanes::queue_consumer& c, int cycles) {
  const std::string_view value(value_bytes, 64);  // a std::string would allocate here
  const lanes::header hs[] = {{"trace", "0123456789"}};
  lanes::receipt held[8];
  std::size_t n_held = 0;
  std::uint64_t failures = 0;
  std::uint64_t acked = 0;
  for (int i = 0; i < cycles; ++i) {
    // Every third message has one of 16 keys (strict_per_key: a key waits while its previous
    // message is held below, so there must be enough keys for the backlog not to grow).
    const auto r = (i % 3 == 0) ? p.publish(keys[(i / 3) % std::size(keys)], value)
                                : p.publish(std::nullopt, value, lanes_test::opts().headers(hs));
    if (!r) ++failures;
    const auto got = c.receive(4);
    if (got.status != errc::ok) ++failures;
    for (const lanes::queue_message& m : got.messages) {
      lanes::receipt rc = m.receipt;
      if (m.receipt.delivery == 1 && i % 7 == 0) {
        if (c.nack(rc) != errc::ok) ++failures;  // comes back with delivery 2
      } else if (i % 5 == 0) {
        if (c.extend(rc, 10s) != errc::ok) ++failures;
        if (c.ack(rc) != errc::ok) ++failures;
        ++acked;
      } else if (n_held < std::size(held)) {
        held[n_held++] = rc;  // acked as a batch below
      } else {
        if (c.ack(rc) != errc::ok) ++failures;
        ++acked;
      }
    }
    if (n_held == std::size(held)) {
      errc results[std::size(held)];
      acked += c.ack(std::span<const lanes::receipt>(held, n_held), results);
      n_held = 0;
    }
  }
  acked += c.ack(std::span<const lanes::receipt>(held, n_held));  // first: they may hold keys
  for (int guard = 0; guard < 1000; ++guard) {
    const auto got = c.receive(8);
    for (const lanes::queue_message& m : got.messages) {
      if (c.ack(m.receipt) != errc::ok) ++failures;
      ++acked;
    }
    if (got.messages.empty()) break;
  }
  if (acked != static_cast<std::uint64_t>(cycles)) ++failures;
  return failures;
}

TEST(QueueAlloc, PublishReceiveAckNackExtendAllocateNothing) {
  lanes_test::bus_with_topic bt("q", queue_topic(4, 1 << 16));
  auto& [b, p] = bt;
  lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(8));
  std::uint64_t failures = cycle(p, c, 100);  // warm-up
  EXPECT_EQ(failures, 0u);
  const std::uint64_t n = allocations_during([&] { failures = cycle(p, c, 20000); });
  EXPECT_EQ(n, 0u) << "operator new calls in 20000 publish + receive + ack cycles";
  EXPECT_EQ(failures, 0u);
}

TEST(QueueAlloc, StrictPerKeyAndShareGroupsAllocateNothing) {
  lanes::bus b(quiet_bus());
  lanes::topic_config sc = queue_topic(2, 1 << 16);
  sc.queue.ordering = lanes::queue_ordering::strict_per_key;
  ASSERT_EQ(b.create_topic("strict", sc), errc::ok);
  ASSERT_EQ(b.create_topic("log", log_topic(2, 1 << 16)), errc::ok);
  lanes::producer ps = b.make_producer("strict");
  lanes::producer pl = b.make_producer("log");
  lanes::queue_consumer cs = b.make_queue_consumer(qc("strict").max_receive(8));
  lanes::queue_consumer cl = b.make_queue_consumer(qc("log").group("share").max_receive(8));
  EXPECT_EQ(cycle(ps, cs, 100) + cycle(pl, cl, 100), 0u);  // warm-up
  std::uint64_t failures = 0;
  const std::uint64_t n = allocations_during([&] {
    failures += cycle(ps, cs, 10000);
    failures += cycle(pl, cl, 10000);
  });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(failures, 0u);
}

TEST(QueueAlloc, ExpiryAndDeadLettersAllocateNothing) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("dlq", queue_topic(1, 1 << 16)), errc::ok);
  lanes::topic_config tc = queue_topic(1, 1 << 16);
  tc.queue.max_deliveries = 1;
  tc.queue.dead_letter_topic = "dlq";
  ASSERT_EQ(b.create_topic("q", tc), errc::ok);
  lanes::producer p = b.make_producer("q");
  lanes::queue_consumer c = b.make_queue_consumer(qc("q").max_receive(8));
  lanes::queue_consumer d = b.make_queue_consumer(qc("dlq").max_receive(8));
  std::uint64_t dead = 0;
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      (void)p.publish("k", "poison");
      for (const lanes::queue_message& m : c.receive(8).messages) (void)c.nack(m.receipt);
      for (const lanes::queue_message& m : d.receive(8).messages) {
        if (d.ack(m.receipt) == errc::ok) ++dead;
      }
    }
  };
  run(50);  // warm-up
  const std::uint64_t n = allocations_during([&] { run(2000); });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(dead, 2050u);
}

}  // namespace
