// tools/stress_child.cpp: the child process of `lanes-stress` (stress.cpp, step 1): it opens
// the bus and, until the parent kills it, publishes stamped messages (and, with --queue,
// enqueues, receives and acks), reads and commits as group "stress", and writes every
// durable acknowledgement and commit to the ledger.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "lanes/fault_injection.hpp"
#include "metrics_flag.hpp"
#include "stress_internal.hpp"

namespace lanes_stress {
namespace {

void fill_value(std::vector<char>& v, std::uint64_t producer, std::uint64_t seq) {
  rng r{producer << 32 ^ seq};
  for (std::size_t i = stamp_bytes; i < v.size(); i += 8) {
    const std::uint64_t x = r.next();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, v.size() - i));
  }
  const std::uint64_t sum = fnv1a({v.data() + stamp_bytes, v.size() - stamp_bytes});
  std::memcpy(v.data(), &producer, 8);
  std::memcpy(v.data() + 8, &seq, 8);
  std::memcpy(v.data() + 16, &sum, 8);
}

// Child side: whole entries, one write() each batch (<= PIPE_BUF: atomic).
void ledger_write(int fd, const ledger_entry* e, std::size_t n) {
  constexpr std::size_t per_write = PIPE_BUF / sizeof(ledger_entry);
  while (n != 0) {
    const std::size_t k = std::min(n, per_write);
    const auto* p = reinterpret_cast<const char*>(e);
    std::size_t done = 0;
    while (done < k * sizeof(ledger_entry)) {
      const ssize_t w = ::write(fd, p + done, k * sizeof(ledger_entry) - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ::_exit(3);  // the parent is gone
      done += static_cast<std::size_t>(w);
    }
    e += k;
    n -= k;
  }
}

// What the child's threads share.
struct child {
  const options& o;
  unsigned cycle;
  int ledger_fd;
  lanes::bus& bus;
  std::atomic<bool>& stop;
};

// Log producer k: publishes until stopped; every durable acknowledgement goes to the ledger.
void log_producer(const child& ch, unsigned k) {
  const options& o = ch.o;
  const std::uint64_t id = std::uint64_t{ch.cycle} * o.producers + k;
  lanes::producer p = ch.bus.make_producer(topic_name);
  std::vector<char> value(o.message_size);
  std::vector<ledger_entry> pending;  // async: published, not yet known durable
  lanes::publish_options opts;
  for (std::uint64_t seq = 0; !ch.stop.load(std::memory_order_relaxed); ++seq) {
    fill_value(value, id, seq);
    opts.partition = static_cast<std::uint32_t>((seq + k) % o.partitions);
    // async: every 50th message asks for its own durable acknowledgement.
    opts.durable = o.durability == lanes::durability::async && seq % 50 == 49;
    const lanes::publish_result r =
        p.publish(std::nullopt, std::string_view(value.data(), value.size()), opts);
    if (!r) ::_exit(5);
    const ledger_entry e{entry_ack, r.partition, id, seq, r.offset};
    if (o.durability == lanes::durability::sync || opts.durable) {
      ledger_write(ch.ledger_fd, &e, 1);
      continue;
    }
    pending.push_back(e);
    if (pending.size() >= 32) {
      // wait_durable per partition for the highest offset pending there.
      std::map<std::uint32_t, std::uint64_t> top;
      for (const auto& x : pending) top[x.partition] = std::max(top[x.partition], x.offset);
      for (const auto& [part, off] : top) {
        if (p.wait_durable(part, off, std::chrono::seconds(10)) != lanes::errc::ok) ::_exit(6);
      }
      ledger_write(ch.ledger_fd, pending.data(), pending.size());
      pending.clear();
    }
  }
}

// --queue: one producer enqueues with durable acks.
void queue_producer(const child& ch) {
  const std::uint64_t id = queue_producer_base + ch.cycle;
  lanes::producer p = ch.bus.make_producer(queue_name);
  std::vector<char> value(ch.o.message_size);
  lanes::publish_options opts;
  opts.durable = true;  // async topics: raised to sync for each enqueue
  for (std::uint64_t seq = 0; !ch.stop.load(std::memory_order_relaxed); ++seq) {
    fill_value(value, id, seq);
    const lanes::publish_result r =
        p.publish(std::nullopt, std::string_view(value.data(), value.size()), opts);
    if (!r) ::_exit(8);
    const ledger_entry e{entry_q_enqueued, r.partition, id, seq, r.offset};
    ledger_write(ch.ledger_fd, &e, 1);
  }
}

// --queue: consumer k of two receives and acks (one in ten messages is nacked first, so
// redelivery happens too). "ack_try" goes to the ledger before the ack, "acked" after it
// returned ok on a sync topic.
void queue_consumer(const child& ch, int k) {
  lanes::queue_consumer_config qc;
  qc.topic = queue_name;
  qc.max_receive = 32;
  lanes::queue_consumer q = ch.bus.make_queue_consumer(qc);
  if (!q) ::_exit(9);
  std::vector<lanes::receipt> to_ack;
  std::vector<ledger_entry> tries, done;
  std::vector<lanes::errc> results;
  for (std::uint64_t n = 0; !ch.stop.load(std::memory_order_relaxed); ++n) {
    const lanes::receive_result rr = q.receive(8, std::chrono::milliseconds(5));
    if (rr.status != lanes::errc::ok) continue;
    // "Work" on the batch: messages are in flight for a while, and the queue keeps a
    // backlog, so that kills find both (they must all come back).
    if (!rr.messages.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    to_ack.clear();
    tries.clear();
    done.clear();
    for (const lanes::queue_message& m : rr.messages) {
      std::uint64_t producer = 0, seq = 0;
      if (m.record.value.size() >= 16) {
        std::memcpy(&producer, m.record.value.data(), 8);
        std::memcpy(&seq, m.record.value.data() + 8, 8);
      }
      if ((seq + k + n) % 10 == 3 && m.delivery() == 1) {
        (void)q.nack(m.receipt);  // back to the queue, delivered again later
        continue;
      }
      to_ack.push_back(m.receipt);
      tries.push_back({entry_q_ack_try, m.receipt.partition, producer, seq, m.receipt.offset});
    }
    if (to_ack.empty()) continue;
    ledger_write(ch.ledger_fd, tries.data(), tries.size());
    results.assign(to_ack.size(), lanes::errc::ok);
    (void)q.ack(to_ack, results);
    if (ch.o.durability != lanes::durability::sync) continue;  // acks durable later
    for (std::size_t i = 0; i < to_ack.size(); ++i) {
      if (results[i] != lanes::errc::ok) continue;
      done.push_back(tries[i]);
      done.back().kind = entry_q_acked;
    }
    if (!done.empty()) ledger_write(ch.ledger_fd, done.data(), done.size());
  }
}

// The group "stress" reads durable records and commits every 8th poll; each commit that
// returned ok goes to the ledger.
void group_consumer(const child& ch) {
  lanes::consumer_config cc;
  cc.group = group_name;
  cc.auto_commit = false;
  cc.read_durable_only = true;
  cc.reset = lanes::offset_reset::earliest;
  lanes::consumer c = ch.bus.make_consumer(cc);
  if (c.subscribe({std::string_view(topic_name)}) != lanes::errc::ok) ::_exit(7);
  for (unsigned n = 0; !ch.stop.load(std::memory_order_relaxed); ++n) {
    (void)c.poll(std::chrono::milliseconds(5));
    if (n % 8 != 7) continue;
    if (c.commit() != lanes::errc::ok) continue;
    std::vector<ledger_entry> es;
    for (const lanes::topic_partition& tp : c.assignment()) {
      const std::int64_t at = c.committed(tp);
      if (at >= 0) {
        es.push_back({entry_commit, tp.partition, 0, 0, static_cast<std::uint64_t>(at)});
      }
    }
    if (!es.empty()) ledger_write(ch.ledger_fd, es.data(), es.size());
  }
}

}  // namespace

[[noreturn]] void child_main(const options& o, unsigned cycle, int ledger_fd,
                             std::uint64_t crash_after) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!o.fault_point.empty()) lanes::io::arm_crash_point(o.fault_point.c_str(), crash_after);
  lanes::bus_config bc;
  bc.data_dir = o.data_dir;
  std::unique_ptr<lanes::bus> bus;
  try {
    bus = std::make_unique<lanes::bus>(bc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes-stress: child: cannot open the bus: %s\n", e.what());
    ::_exit(4);
  }
  std::shared_ptr<void> metrics;
  try {
    metrics = lanes_tools::serve_metrics(*bus, o.metrics_listen);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes-stress: child: %s\n", e.what());
    ::_exit(4);
  }
  std::atomic<bool> stop{false};
  const child ch{o, cycle, ledger_fd, *bus, stop};
  std::vector<std::thread> threads;
  for (unsigned k = 0; k < o.producers; ++k)
    threads.emplace_back([&ch, k] { log_producer(ch, k); });
  if (o.queue) {
    threads.emplace_back([&ch] { queue_producer(ch); });
    for (int k = 0; k < 2; ++k) threads.emplace_back([&ch, k] { queue_consumer(ch, k); });
  }
  threads.emplace_back([&ch] { group_consumer(ch); });
  // Killed by the parent; the stop flag only ends a child whose parent vanished.
  for (auto& t : threads) t.join();
  ::_exit(0);
}

}  // namespace lanes_stress
