// bench/bus_fanout.cpp: bus_bench's fan-out cases: one producer, two readers that each get
// every message, the bus (two consumer groups) against ZeroMQ inproc PUB/SUB.
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <thread>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {
namespace {

// Three threads (a producer and two readers) on two CPUs: none is pinned and every wait
// parks (lanes: busy_spin off, poll with a timeout; ZeroMQ: blocking recv), as
// shared/BENCHMARKING.md asks of oversubscribed cases. The producer and the readers start
// from one go flag that the main thread sets after reading the clock; a run ends when the
// last reader has its last message. value: messages delivered per reader per second.
template <class Produce, class Read>
void run_fanout(Produce&& produce, Read&& read, timed_span& span) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::uint64_t end[kFanoutReaders] = {};
  auto wait_go = [&] {
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  };
  std::vector<std::thread> ts;
  ts.emplace_back([&] {
    wait_go();
    produce();
  });
  for (int g = 0; g < kFanoutReaders; ++g) {
    ts.emplace_back([&, g] {
      wait_go();
      read(g);
      end[g] = now_ns();
    });
  }
  while (ready.load(std::memory_order_acquire) < kFanoutReaders + 1) std::this_thread::yield();
  span.start();
  go.store(true, std::memory_order_release);  // pairs with wait_go's acquire
  for (std::thread& t : ts) t.join();
  span.a1 = allocations();
  span.t1 = *std::max_element(std::begin(end), std::end(end));
}

// The sample of a fan-out run of `count` messages to each reader, which got got[g] of them
// with numbers summing to sums[g].
sample fanout_sample(const timed_span& span, std::uint64_t count,
                     const std::uint64_t (&got)[kFanoutReaders],
                     const std::uint64_t (&sums)[kFanoutReaders]) {
  sample s = span.rates(count);
  for (int g = 0; g < kFanoutReaders; ++g) {
    s.lost += count - std::min(got[g], count);
    // A reader that got all of them must have got each once; one that lost some is
    // reported through `lost`, not failed (only ZeroMQ's readers can lose any).
    if (got[g] == count && !each_once(sums[g], count)) s.ok = false;
    if (got[g] > count) s.ok = false;
  }
  return s;
}

// Handshake, untimed, on this thread and the readers' (as they will be used): the producer
// sends 1-byte hellos until every SUB socket has seen one.
void zmq_handshake(void* pub, void* const (&subs)[kFanoutReaders]) {
  std::atomic<int> joined{0};
  std::vector<std::thread> hs;
  for (void* sub : subs) {
    hs.emplace_back([&, sub] {
      char buf[kZmqMsgBytes];
      while (zmq_recv(sub, buf, sizeof buf, 0) != 1) {
      }
      joined.fetch_add(1, std::memory_order_acq_rel);
    });
  }
  const char hello = 'h';
  while (joined.load(std::memory_order_acquire) < kFanoutReaders) {
    if (zmq_send(pub, &hello, 1, 0) != 1) die("zmq_send (hello)");
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  for (std::thread& t : hs) t.join();
}

}  // namespace

// The bus: one log topic, 1 partition, single producer, backpressure::block (the producer
// waits for the slower group when the ring is full: nothing is dropped), two consumer
// groups with one member each, both from the earliest offset.
sample bus_fanout(std::uint64_t count, const std::vector<std::string>& keys) {
  lanes::bus b(quiet_bus());
  create_topic(b, "fanout", ring_topic(1, kRingBytes, lanes::producer_mode::single));
  lanes::producer prod = b.make_producer("fanout");
  std::vector<lanes::consumer> cons;
  for (int g = 0; g < kFanoutReaders; ++g) {
    cons.push_back(group_member(b, "fanout", "fanout-" + std::to_string(g), false, 1));
  }
  timed_span span;
  std::uint64_t sums[kFanoutReaders] = {}, got[kFanoutReaders] = {};
  run_fanout(
      [&] {
        char value[kValueBytes] = {};
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(value, &i, sizeof i);
          if (!prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
            die("publish (fan-out) failed");
          }
        }
      },
      [&](int g) {
        lanes::consumer& c = cons[static_cast<std::size_t>(g)];
        std::uint64_t n = 0, sum = 0;
        while (n < count) {
          const lanes::poll_result r = c.poll(std::chrono::milliseconds(1));
          if (r.status != lanes::errc::ok) die("poll (fan-out) failed");
          n += add_numbers(r, sum);
        }
        got[g] = n;
        sums[g] = sum;
      },
      span);
  return fanout_sample(span, count, got, sums);  // each reader reads until it has all
}

// ZeroMQ: one PUB socket bound to inproc://, two SUB sockets connected to it and subscribed
// to everything, each read by its own thread; 72-byte messages (the same key + value bytes).
// PUB drops a subscriber's messages when that subscriber's pipe is at its high-water mark,
// so SNDHWM and RCVHWM are 0 (no limit): the pipes grow instead and nothing is dropped, the
// unbounded-memory way (the bus instead bounds its ring and makes the producer wait). Every
// reader still counts what it got against what was sent, and the sample carries the
// difference (lost), which the report prints.
//
// A subscription reaches PUB asynchronously: until it has, PUB discards messages for that
// subscriber. So before the clock starts the producer sends 1-byte hello messages until
// both readers have seen one; the readers skip hellos still queued, and stop at a 2-byte end
// message sent after the last data message (or after 10 s without a message).
sample zmq_fanout(std::uint64_t count, const std::vector<std::string>& keys) {
  void* ctx = zmq_ctx_new();
  void* pub = zmq_socket(ctx, ZMQ_PUB);
  const int no_limit = 0;
  if (zmq_setsockopt(pub, ZMQ_SNDHWM, &no_limit, sizeof no_limit) != 0 ||
      zmq_bind(pub, "inproc://bus_bench_fanout") != 0) {
    die("zmq PUB setsockopt/bind failed");
  }
  void* subs[kFanoutReaders] = {};
  for (void*& sub : subs) {
    sub = zmq_socket(ctx, ZMQ_SUB);
    // A reader that waits 10 s for the next message takes the rest as lost, not a hang.
    const int timeout_ms = 10'000;
    if (zmq_setsockopt(sub, ZMQ_RCVHWM, &no_limit, sizeof no_limit) != 0 ||
        zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms) != 0 ||
        zmq_connect(sub, "inproc://bus_bench_fanout") != 0 ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) != 0) {
      die("zmq SUB setsockopt/connect failed");
    }
  }
  zmq_handshake(pub, subs);
  timed_span span;
  std::uint64_t sums[kFanoutReaders] = {}, got[kFanoutReaders] = {};
  run_fanout(
      [&] {
        zmq_send_numbered(pub, count, keys);
        if (zmq_send(pub, "e!", 2, 0) != 2) die("zmq_send (end)");
      },
      [&](int g) {
        char buf[kZmqMsgBytes];
        std::uint64_t n = 0, sum = 0;
        for (;;) {
          const int len = zmq_recv(subs[g], buf, sizeof buf, 0);
          if (len < 0 && zmq_errno() == EAGAIN) break;  // 10 s without a message: lost
          if (len == 2) break;                          // end
          if (len == 1) continue;                       // a hello from the handshake
          if (len != static_cast<int>(kZmqMsgBytes)) die("zmq_recv (fan-out)");
          sum += number_at(buf + 8);
          ++n;
        }
        got[g] = n;
        sums[g] = sum;
      },
      span);
  for (void* sub : subs) zmq_close(sub);
  zmq_close(pub);
  zmq_ctx_term(ctx);
  return fanout_sample(span, count, got, sums);
}

}  // namespace lanes_bench
