// tests/support/queue.hpp: queue topics and received messages in tests (queue/).
//
//   queue_topic(n, ring)     a queue topic_config with n partitions of `ring` bytes.
//   durable_queue(n, d, ring)  the same, kept in the data directory with durability d, and a
//                            visibility timeout no test waits out.
//   queue_topic_with(n, f)   queue_topic(n) with f applied to its queue settings.
//   clocked_queue            a queue topic "q" on a bus whose clock the test moves.
//   qc(topic)                a queue_consumer_config builder.
//   owned_message            a received message copied out (with its receipt).
//   receive_until(c, n, d)   receives (without acking) until n messages arrived or d passed.
//   drain(c, quiet)          receives (without acking) until quiet passes with nothing new.
//   values_of(ms)            the values of received messages, as a set.
//   qstats(b, topic, group)  the queue's stats summed over partitions.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/bus_clock.hpp"
#include "lanes/queue.hpp"
#include "support/bus.hpp"

namespace lanes_test {

using namespace std::chrono_literals;

inline lanes::topic_config queue_topic(std::uint32_t partitions,
                                       std::size_t ring = std::size_t{1} << 16) {
  lanes::topic_config c;
  c.mode = lanes::topic_mode::queue;
  c.partitions = partitions;
  c.ring_capacity = ring;
  return c;
}

// queue_topic(partitions, ring) with `change` applied to its queue settings:
//   queue_topic_with(1, [](lanes::queue_settings& q) { q.visibility_timeout = 1h; })
template <class Change>
lanes::topic_config queue_topic_with(std::uint32_t partitions, Change change,
                                     std::size_t ring = std::size_t{1} << 16) {
  lanes::topic_config c = queue_topic(partitions, ring);
  change(c.queue);
  return c;
}

// The same, kept in the bus's data directory with durability `d`; nothing comes back by
// itself during a test (a visibility timeout of a minute).
inline lanes::topic_config durable_queue(std::uint32_t partitions, lanes::durability d,
                                         std::size_t ring = std::size_t{1} << 16) {
  lanes::topic_config c = queue_topic(partitions, ring);
  c.durable = d;
  c.queue.visibility_timeout = 60s;
  return c;
}

// A bus on a shifted_clock (clocked_bus) with the queue topic "q" of `tc` and a producer of
// it: visibility timeouts and delays pass when the test moves the clock.
//   clocked_queue cq(tc);
//   auto& [b, p] = cq.bt;
//   cq.clock->advance(1h);
struct clocked_queue {
  std::shared_ptr<lanes::shifted_clock> clock = std::make_shared<lanes::shifted_clock>();
  bus_with_topic bt;

  explicit clocked_queue(const lanes::topic_config& tc) : bt("q", tc, clocked_bus(clock)) {}
};

struct qc : builder<qc, lanes::queue_consumer_config> {
  lanes::queue_consumer_config c;
  explicit qc(std::string topic) { c.topic = std::move(topic); }
  qc& group(std::string g) { return set(&lanes::queue_consumer_config::group, std::move(g)); }
  qc& start(lanes::offset_reset s) { return set(&lanes::queue_consumer_config::start, s); }
  qc& max_receive(std::size_t n) { return set(&lanes::queue_consumer_config::max_receive, n); }
  operator const lanes::queue_consumer_config&() const { return c; }  // NOLINT: implicit
};

struct owned_message {
  lanes_test::owned_record record;
  lanes::receipt receipt;
};

inline owned_message own(const lanes::queue_message& m) {
  return {lanes_test::own(m.record), m.receipt};
}

// Receives in slices of at most 10 ms until `n` messages arrived or `limit` passed; does not
// ack. A status other than ok fails the test.
inline std::vector<owned_message> receive_until(lanes::queue_consumer& c, std::size_t n,
                                                std::chrono::milliseconds limit = 5s) {
  const auto receive = [&](std::size_t k) { return c.receive(k, 10ms); };
  const auto own_message = [](const lanes::queue_message& m) { return own(m); };
  return fetch_until<owned_message>(n, limit, receive, &lanes::receive_result::messages,
                                    own_message);
}

// Receives until `quiet` passes with nothing new; does not ack.
inline std::vector<owned_message> drain(lanes::queue_consumer& c,
                                        std::chrono::milliseconds quiet = 200ms) {
  std::vector<owned_message> out;
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last < quiet) {
    const lanes::receive_result r = c.receive(64, 10ms);
    EXPECT_EQ(r.status, lanes::errc::ok) << lanes::to_string(r.status);
    if (r.status != lanes::errc::ok) break;
    for (const lanes::queue_message& m : r.messages) out.push_back(own(m));
    if (!r.messages.empty()) last = std::chrono::steady_clock::now();
  }
  return out;
}

inline std::set<std::string> values_of(const std::vector<owned_message>& ms) {
  std::set<std::string> s;
  for (const auto& m : ms) s.insert(m.record.value);
  return s;
}

inline lanes::queue_partition_stats qstats(const lanes::bus& b, std::string_view topic,
                                           std::string_view group = {}) {
  const auto s = b.describe_queue(topic, group);
  EXPECT_TRUE(s.has_value()) << topic << "/" << group;
  return s ? s->total() : lanes::queue_partition_stats{};
}

}  // namespace lanes_test
