// bus_bench: the log-mode bus end to end against the raw frame ring it is built on and
// against ZeroMQ inproc:// PUSH/PULL, one producer on CPU 0 and one consumer on CPU 1.
//
//   throughput   1 partition: bus (64-byte values, 8-byte keys, single-producer topic,
//                busy polling consumer group), raw frame_ring (64-byte frames, batch reads),
//                ZeroMQ PUSH/PULL (72-byte messages: the same key + value bytes)
//   scaling      bus throughput with 1, 4 and 16 partitions (keys spread over all of them)
//   queue        1 partition of a queue topic: receive (busy spin) and ack every message
//   fan-out      one producer, two readers that each get every message: the bus (one log
//                topic, 1 partition, two consumer groups of one consumer each) against
//                ZeroMQ inproc PUB with two SUB sockets; three threads on two CPUs, so all
//                of them are unpinned and every wait parks (no busy spin)
//   latency      publish -> poll at a fixed rate below saturation, busy-spin consumer, timed
//                from when each message was due (no coordinated omission); the same for the
//                raw frame ring (one-way claim/commit -> peek)
//
// Method (shared/BENCHMARKING.md): one warm-up round discarded, then --reps rounds in which
// every case runs once, in the same order; ratios are taken within a round, then their
// median. Results (every sample, medians, ratios, machine facts) go to --out as JSON, which
// tools/bench_report.py renders into BENCHMARKS.md.
//
//   sweep        bus and ZeroMQ latency at fixed rates from 50k to 2M msgs/s: where p99 turns up
//   scaling      (--scaling, on by default) bus throughput for 1/4/16 partitions x 1/2/4
//                producers x 16 B..64 KiB values; more threads than cores park, not spin
//   memory       resident bytes per partition and per million retained messages
//                (/proc/self/statm), heap allocations per message (a counting operator new)
//
//   bus_bench [--reps N] [--quick] [--out PATH] [--no-sweep] [--no-scaling] [--no-memory]
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "lanes_support/run_info.hpp"
#include <lanes/lanes.hpp>

// ---- heap allocations: every operator new in this binary counts itself ----
// Relaxed increments: the count is read only before and after a run, across a thread join
// or the run's own synchronisation.
namespace lanes_bench {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace lanes_bench

namespace {
void* counted_alloc(std::size_t n) {
  lanes_bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* counted_alloc(std::size_t n, std::align_val_t a) {
  lanes_bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto al = static_cast<std::size_t>(a);
  const std::size_t rounded = (std::max<std::size_t>(n, 1) + al - 1) / al * al;
  if (void* p = std::aligned_alloc(al, rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace lanes_bench {
namespace {

std::uint64_t allocations() noexcept { return g_allocations.load(std::memory_order_relaxed); }

constexpr std::size_t kValueBytes = 64;
constexpr std::size_t kBatch = 64;  // messages per publish_batch in the bus_batch case
constexpr std::size_t kRingBytes = std::size_t{8} << 20;
constexpr int kKeys = 1024;
constexpr std::size_t kScalingRingBytes = std::size_t{2} << 20;  // per partition, scaling runs

struct options {
  int reps = 7;
  bool quick = false;
  std::string out = "results/bus_bench.json";
  std::uint64_t count = 2'000'000;  // messages per throughput run
  double rate = 100'000;            // messages/s for the latency runs
  double latency_seconds = 1.0;
  std::string profile;  // --profile CASE: run only that throughput case, print, no file
  bool sweep = true;
  bool scaling = true;
  bool memory = true;
  int sweep_reps = 3;
  double sweep_seconds = 0.5;
  int scaling_reps = 3;
  std::uint64_t scaling_bytes = std::uint64_t{128} << 20;  // value bytes per scaling run
  double scaling_seconds = 1.0;  // and at most this long (producers stop at the deadline)
};

// Latency percentiles recorded per run, as HdrHistogram plots them (max is separate).
constexpr double kQuantiles[] = {0.50, 0.90, 0.99, 0.999, 0.9999};
constexpr const char* kQuantileNames[] = {"p50", "p90", "p99", "p999", "p9999"};
constexpr std::size_t kNq = std::size(kQuantiles);
constexpr double kSweepRates[] = {50e3, 100e3, 200e3, 500e3, 1e6, 2e6};

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char b[16];
    std::snprintf(b, sizeof b, "key-%04d", i);
    keys.emplace_back(b);
  }
  return keys;
}

struct sample {
  double value = 0;  // msgs/s for throughput; ns for latency percentiles
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  double q[kNq] = {};         // latency at kQuantiles
  double floor_ns = 0;        // placement probe (ping-pong ns/trip) before the run
  double allocs_per_msg = 0;  // operator new calls (any thread) per message while timed
  std::uint64_t lost = 0;     // fan-out: messages sent that a reader did not get (all readers)
  bool ok = true;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bus_bench: %s\n", what);
  std::exit(1);
}

// ---- bus ----

struct bus_fixture {
  explicit bus_fixture(std::uint32_t partitions)
      : b(lanes::bus_config{{}, std::chrono::milliseconds(0)}) {
    lanes::topic_config tc;
    tc.partitions = partitions;
    tc.ring_capacity = kRingBytes;
    tc.producers = lanes::producer_mode::single;
    if (b.create_topic("bench", tc) != lanes::errc::ok) die("create_topic failed");
    prod = b.make_producer("bench");
    lanes::consumer_config cc;
    cc.group = "bench";
    cc.reset = lanes::offset_reset::earliest;
    cc.busy_spin = true;
    cc.auto_commit = false;
    cc.max_poll_records = 1024;
    cons = b.make_consumer(cc);
    if (cons.subscribe({"bench"}) != lanes::errc::ok) die("subscribe failed");
    // Membership is taken over inside poll: poll until every partition is ours.
    for (int i = 0; i < 1000 && cons.assignment().size() < partitions; ++i) {
      (void)cons.poll(std::chrono::milliseconds(1));
    }
    if (cons.assignment().size() != partitions) die("group did not take every partition");
  }
  lanes::bus b;
  lanes::producer prod;
  lanes::consumer cons;
};

// batch == 0: one publish() per message; else publish_batch() of `batch` messages.
sample bus_throughput(std::uint32_t partitions, std::uint64_t count,
                      const std::vector<std::string>& keys, std::size_t batch = 0) {
  bus_fixture f(partitions);
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char value[kValueBytes] = {};
        std::vector<char> values(std::max<std::size_t>(batch, 1) * kValueBytes);
        std::vector<lanes::message> msgs(batch);
        std::vector<lanes::publish_result> results(batch);
        barrier.arrive_and_wait();
        a0 = allocations();
        t0 = now_ns();
        if (batch != 0) {
          for (std::uint64_t i = 0; i < count;) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - i));
            for (std::size_t k = 0; k < n; ++k, ++i) {
              char* v = values.data() + k * kValueBytes;
              std::memcpy(v, &i, sizeof i);
              msgs[k].key = keys[i % kKeys];
              msgs[k].value = std::string_view(v, kValueBytes);
            }
            if (f.prod.publish_batch(std::span(msgs.data(), n), results) != n) {
              die("publish_batch failed");
            }
          }
          return;
        }
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(value, &i, sizeof i);
          if (!f.prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
            die("publish failed");
          }
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          const lanes::poll_result r = f.cons.poll();
          for (const lanes::record_view& rec : r.records) {
            std::uint64_t i = 0;
            std::memcpy(&i, rec.value.data(), sizeof i);
            sum += i;
          }
          got += r.records.size();
        }
        t1 = now_ns();
        a1 = allocations();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  s.ok = sum == count * (count - 1) / 2;  // every message exactly once
  return s;
}

// ---- queue mode: receive and ack every message ----

// One queue topic partition, the same producer as bus_p1; the consumer receives batches
// (busy spin) and acks each message: the queue-mode hot path against the log-mode one.
sample queue_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
  lanes::topic_config tc;
  tc.mode = lanes::topic_mode::queue;
  tc.partitions = 1;
  tc.ring_capacity = kRingBytes;
  tc.producers = lanes::producer_mode::single;
  if (b.create_topic("bench", tc) != lanes::errc::ok) die("create_topic (queue) failed");
  lanes::producer prod = b.make_producer("bench");
  lanes::queue_consumer_config qc;
  qc.topic = "bench";
  qc.max_receive = 1024;
  qc.busy_spin = true;
  lanes::queue_consumer cons = b.make_queue_consumer(qc);
  if (!cons) die("make_queue_consumer failed");
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0, sum = 0, ack_errors = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char value[kValueBytes] = {};
        barrier.arrive_and_wait();
        a0 = allocations();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(value, &i, sizeof i);
          if (!prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
            die("publish (queue) failed");
          }
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          const lanes::receive_result r = cons.receive(1024);
          for (const lanes::queue_message& m : r.messages) {
            std::uint64_t i = 0;
            std::memcpy(&i, m.record.value.data(), sizeof i);
            sum += i;
            if (cons.ack(m.receipt) != lanes::errc::ok) ++ack_errors;
          }
          got += r.messages.size();
        }
        t1 = now_ns();
        a1 = allocations();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  s.ok = sum == count * (count - 1) / 2 && ack_errors == 0;  // each once, each acked
  return s;
}

// ---- fan-out: one producer, two readers that each get every message ----

constexpr int kFanoutReaders = 2;

// Three threads (a producer and two readers) on two CPUs: none is pinned and every wait
// parks (lanes: busy_spin off, poll with a timeout; ZeroMQ: blocking recv), as
// shared/BENCHMARKING.md asks of oversubscribed cases. The producer and the readers start
// from one go flag that the main thread sets after reading the clock; a run ends when the
// last reader has its last message. value: messages delivered per reader per second.
template <class Produce, class Read>
void run_fanout(Produce&& produce, Read&& read, std::uint64_t& t0, std::uint64_t& t1,
                std::uint64_t& a0, std::uint64_t& a1) {
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
  a0 = allocations();
  t0 = now_ns();
  go.store(true, std::memory_order_release);  // pairs with wait_go's acquire
  for (std::thread& t : ts) t.join();
  a1 = allocations();
  t1 = *std::max_element(std::begin(end), std::end(end));
}

// The bus: one log topic, 1 partition, single producer, backpressure::block (the producer
// waits for the slower group when the ring is full: nothing is dropped), two consumer
// groups with one member each, both from the earliest offset.
sample bus_fanout(std::uint64_t count, const std::vector<std::string>& keys) {
  lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
  lanes::topic_config tc;
  tc.partitions = 1;
  tc.ring_capacity = kRingBytes;
  tc.producers = lanes::producer_mode::single;
  if (b.create_topic("fanout", tc) != lanes::errc::ok) die("create_topic (fan-out) failed");
  lanes::producer prod = b.make_producer("fanout");
  std::vector<lanes::consumer> cons;
  for (int g = 0; g < kFanoutReaders; ++g) {
    lanes::consumer_config cc;
    cc.group = "fanout-" + std::to_string(g);
    cc.reset = lanes::offset_reset::earliest;
    cc.busy_spin = false;
    cc.auto_commit = false;
    cc.max_poll_records = 1024;
    cons.push_back(b.make_consumer(cc));
    if (cons.back().subscribe({"fanout"}) != lanes::errc::ok) die("subscribe (fan-out) failed");
    for (int i = 0; i < 1000 && cons.back().assignment().empty(); ++i) {
      (void)cons.back().poll(std::chrono::milliseconds(1));
    }
    if (cons.back().assignment().size() != 1) die("a fan-out group did not take the partition");
  }
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0;
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
          for (const lanes::record_view& rec : r.records) {
            std::uint64_t i = 0;
            std::memcpy(&i, rec.value.data(), sizeof i);
            sum += i;
          }
          n += r.records.size();
        }
        got[g] = n;
        sums[g] = sum;
      },
      t0, t1, a0, a1);
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  for (int g = 0; g < kFanoutReaders; ++g) {
    s.ok = s.ok && got[g] == count && sums[g] == count * (count - 1) / 2;  // each exactly once
  }
  return s;
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
  constexpr std::size_t msg_bytes = 8 + kValueBytes;
  std::atomic<int> joined{0};
  {
    // Handshake, untimed, on this thread and the readers' (as they will be used).
    std::vector<std::thread> hs;
    for (void* sub : subs) {
      hs.emplace_back([&, sub] {
        char buf[msg_bytes];
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
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0;
  std::uint64_t sums[kFanoutReaders] = {}, got[kFanoutReaders] = {};
  run_fanout(
      [&] {
        char buf[msg_bytes] = {};
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(buf, keys[i % kKeys].data(), 8);
          std::memcpy(buf + 8, &i, sizeof i);
          if (zmq_send(pub, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_send");
        }
        if (zmq_send(pub, "e!", 2, 0) != 2) die("zmq_send (end)");
      },
      [&](int g) {
        char buf[msg_bytes];
        std::uint64_t n = 0, sum = 0;
        for (;;) {
          const int len = zmq_recv(subs[g], buf, sizeof buf, 0);
          if (len < 0 && zmq_errno() == EAGAIN) break;  // 10 s without a message: lost
          if (len == 2) break;                          // end
          if (len == 1) continue;                       // a hello from the handshake
          if (len != static_cast<int>(msg_bytes)) die("zmq_recv (fan-out)");
          std::uint64_t i = 0;
          std::memcpy(&i, buf + 8, sizeof i);
          sum += i;
          ++n;
        }
        got[g] = n;
        sums[g] = sum;
      },
      t0, t1, a0, a1);
  for (void* sub : subs) zmq_close(sub);
  zmq_close(pub);
  zmq_ctx_term(ctx);
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  for (int g = 0; g < kFanoutReaders; ++g) {
    s.lost += count - std::min(got[g], count);
    // A reader that got all of them must have got each once; one that lost some is
    // reported through `lost`, not failed.
    if (got[g] == count && sums[g] != count * (count - 1) / 2) s.ok = false;
    if (got[g] > count) s.ok = false;
  }
  return s;
}

// ---- raw frame ring ----

sample ring_throughput(std::uint64_t count, std::size_t payload = kValueBytes) {
  lanes::frame_ring ring(kRingBytes, lanes::producer_mode::single);
  lanes::frame_ring::reader reader = ring.add_reader();
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        barrier.arrive_and_wait();
        a0 = allocations();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          lanes::frame_claim c;
          while (!(c = ring.try_claim(payload))) lanes::cpu_relax();
          std::memset(c.data, 0, payload);
          std::memcpy(c.data, &i, sizeof i);
          ring.commit(c);
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < count) {
          got += reader.poll(
              [&](const lanes::frame_view& v) {
                std::uint64_t i = 0;
                std::memcpy(&i, v.data, sizeof i);
                sum += i;
              },
              1024);
        }
        t1 = now_ns();
        a1 = allocations();
      });
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  s.ok = sum == count * (count - 1) / 2;
  return s;
}

// ---- ZeroMQ inproc PUSH/PULL ----

sample zmq_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  void* ctx = zmq_ctx_new();
  void* push = zmq_socket(ctx, ZMQ_PUSH);
  void* pull = zmq_socket(ctx, ZMQ_PULL);
  if (zmq_bind(pull, "inproc://bus_bench") != 0 || zmq_connect(push, "inproc://bus_bench") != 0) {
    die("zmq bind/connect failed");
  }
  constexpr std::size_t msg_bytes = 8 + kValueBytes;  // the same key + value bytes
  start_barrier barrier;
  std::uint64_t t0 = 0, t1 = 0, a0 = 0, a1 = 0, sum = 0;
  const pair_outcome o = run_pinned_pair(
      [&] {
        char buf[msg_bytes] = {};
        barrier.arrive_and_wait();
        a0 = allocations();
        t0 = now_ns();
        for (std::uint64_t i = 0; i < count; ++i) {
          std::memcpy(buf, keys[i % kKeys].data(), 8);
          std::memcpy(buf + 8, &i, sizeof i);
          if (zmq_send(push, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_send");
        }
      },
      [&] {
        char buf[msg_bytes];
        barrier.arrive_and_wait();
        for (std::uint64_t got = 0; got < count; ++got) {
          if (zmq_recv(pull, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_recv");
          std::uint64_t i = 0;
          std::memcpy(&i, buf + 8, sizeof i);
          sum += i;
        }
        t1 = now_ns();
        a1 = allocations();
      });
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.floor_ns = o.floor_before_ns;
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  s.ok = sum == count * (count - 1) / 2;
  return s;
}

// ---- latency at a fixed rate ----

// Producer: message i is due at start + i * period; it waits for that moment, stamps the due
// time and sends. Consumer: latency = receive time - due time, so a stalled producer shows
// up as latency instead of hiding it (no coordinated omission). Times in steady_clock ns.
template <class Send, class Receive>
sample fixed_rate(double rate, double seconds, Send&& send, Receive&& receive) {
  const auto n = static_cast<std::uint64_t>(rate * seconds);
  const double period_ns = 1e9 / rate;
  log_linear_histogram h;
  start_barrier barrier;
  const pair_outcome o = run_pinned_pair(
      [&] {
        barrier.arrive_and_wait();
        const std::uint64_t start = now_ns() + 1'000'000;  // first message 1 ms from now
        for (std::uint64_t i = 0; i < n; ++i) {
          const auto due = start + static_cast<std::uint64_t>(static_cast<double>(i) * period_ns);
          while (now_ns() < due) lanes::cpu_relax();
          send(due);
        }
      },
      [&] {
        barrier.arrive_and_wait();
        std::uint64_t got = 0;
        while (got < n) {
          got += receive([&](std::uint64_t due) {
            const std::uint64_t now = now_ns();
            h.record(now > due ? now - due : 0);
          });
        }
      });
  sample s;
  // A quantile is its bucket's midpoint: never report one above the largest sample.
  for (std::size_t k = 0; k < kNq; ++k) {
    s.q[k] = std::min(h.quantile(kQuantiles[k]), static_cast<double>(h.max()));
  }
  s.p50 = s.q[0];
  s.p99 = s.q[2];
  s.p999 = s.q[3];
  s.max = static_cast<double>(h.max());
  s.value = s.p99;
  s.floor_ns = o.floor_before_ns;
  s.ok = h.count() == n;
  return s;
}

sample bus_latency(double rate, double seconds, const std::vector<std::string>& keys) {
  bus_fixture f(1);
  std::uint64_t i = 0;
  return fixed_rate(
      rate, seconds,
      [&](std::uint64_t due) {
        char value[kValueBytes] = {};
        std::memcpy(value, &due, sizeof due);
        if (!f.prod.publish(keys[i++ % kKeys], std::string_view(value, sizeof value))) {
          die("publish failed");
        }
      },
      [&](auto&& record) {
        const lanes::poll_result r = f.cons.poll();
        for (const lanes::record_view& rec : r.records) {
          std::uint64_t due = 0;
          std::memcpy(&due, rec.value.data(), sizeof due);
          record(due);
        }
        return r.records.size();
      });
}

sample ring_latency(double rate, double seconds) {
  lanes::frame_ring ring(kRingBytes, lanes::producer_mode::single);
  lanes::frame_ring::reader reader = ring.add_reader();
  return fixed_rate(
      rate, seconds,
      [&](std::uint64_t due) {
        lanes::frame_claim c;
        while (!(c = ring.try_claim(kValueBytes))) lanes::cpu_relax();
        std::memset(c.data, 0, kValueBytes);
        std::memcpy(c.data, &due, sizeof due);
        ring.commit(c);
      },
      [&](auto&& record) {
        return reader.poll(
            [&](const lanes::frame_view& v) {
              std::uint64_t due = 0;
              std::memcpy(&due, v.data, sizeof due);
              record(due);
            },
            1024);
      });
}

// ZeroMQ inproc PUSH/PULL at the same fixed rate: 72-byte messages (key + value bytes), the
// consumer polls with ZMQ_DONTWAIT in a busy loop, as the bus consumer spins.
sample zmq_latency(double rate, double seconds, const std::vector<std::string>& keys) {
  void* ctx = zmq_ctx_new();
  void* push = zmq_socket(ctx, ZMQ_PUSH);
  void* pull = zmq_socket(ctx, ZMQ_PULL);
  if (zmq_bind(pull, "inproc://bus_bench_latency") != 0 ||
      zmq_connect(push, "inproc://bus_bench_latency") != 0) {
    die("zmq bind/connect failed");
  }
  constexpr std::size_t msg_bytes = 8 + kValueBytes;
  std::uint64_t i = 0;
  const sample s = fixed_rate(
      rate, seconds,
      [&](std::uint64_t due) {
        char buf[msg_bytes] = {};
        std::memcpy(buf, keys[i++ % kKeys].data(), 8);
        std::memcpy(buf + 8, &due, sizeof due);
        if (zmq_send(push, buf, msg_bytes, 0) != static_cast<int>(msg_bytes)) die("zmq_send");
      },
      [&](auto&& record) -> std::size_t {
        char buf[msg_bytes];
        if (zmq_recv(pull, buf, msg_bytes, ZMQ_DONTWAIT) != static_cast<int>(msg_bytes)) return 0;
        std::uint64_t due = 0;
        std::memcpy(&due, buf + 8, sizeof due);
        record(due);
        return 1;
      });
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  return s;
}

// ---- scaling: partitions x producers x value size ----

// P producers publish count messages in all (keys spread over every partition) to one topic
// that a single consumer-group member drains. One producer: pinned pair, single-producer
// topic, busy-spinning consumer (as bus_p1). More producers: a multi-producer topic, threads
// unpinned and the consumer parking (busy_spin off), since threads then outnumber the cores;
// producers wait in publish as the bus makes them (backpressure::block).
sample scaling_run(std::uint32_t partitions, int producers, std::size_t value_bytes,
                   std::uint64_t count, double max_seconds, const std::vector<std::string>& keys) {
  lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
  lanes::topic_config tc;
  tc.partitions = partitions;
  tc.ring_capacity = kScalingRingBytes;
  tc.producers = producers == 1 ? lanes::producer_mode::single : lanes::producer_mode::multi;
  if (b.create_topic("bench", tc) != lanes::errc::ok) die("create_topic (scaling) failed");
  lanes::consumer_config cc;
  cc.group = "bench";
  cc.reset = lanes::offset_reset::earliest;
  cc.busy_spin = producers == 1;
  cc.auto_commit = false;
  cc.max_poll_records = 1024;
  lanes::consumer cons = b.make_consumer(cc);
  if (cons.subscribe({"bench"}) != lanes::errc::ok) die("subscribe failed");
  for (int i = 0; i < 1000 && cons.assignment().size() < partitions; ++i) {
    (void)cons.poll(std::chrono::milliseconds(1));
  }
  if (cons.assignment().size() != partitions) die("group did not take every partition");
  std::vector<lanes::producer> prods;
  for (int p = 0; p < producers; ++p) prods.push_back(b.make_producer("bench"));

  // Warm-up on this thread, untimed: write every ring through about 1.5 times (publishing
  // with try_publish, draining whenever a partition is full), so that the timed run does not
  // page-fault the rings in.
  {
    std::vector<char> value(value_bytes, 0);
    const std::uint64_t warm =
        3 * partitions * (kScalingRingBytes / (value_bytes + 64)) / 2 + 2 * partitions;
    std::uint64_t drained = 0;
    for (std::uint64_t i = 0; i < warm;) {
      if (prods[0].try_publish(keys[i % kKeys], std::string_view(value.data(), value.size()))) {
        ++i;
      } else {
        drained += cons.poll(std::chrono::milliseconds(0)).records.size();
      }
    }
    while (drained < warm) drained += cons.poll(std::chrono::milliseconds(1)).records.size();
  }

  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  // Producers stop at their share or at the deadline, whichever comes first (a slow cell
  // must not hold the run for minutes), then add what they sent; the consumer drains it all.
  std::atomic<int> finished{0};
  std::atomic<std::uint64_t> sent{0}, sent_sum{0};
  std::uint64_t t0 = 0, t1 = 0, sum = 0, got = 0;
  auto produce = [&](int p) {
    std::vector<char> value(value_bytes, 0);
    const std::uint64_t first =
        count * static_cast<std::uint64_t>(p) / static_cast<std::uint64_t>(producers);
    const std::uint64_t last =
        count * static_cast<std::uint64_t>(p + 1) / static_cast<std::uint64_t>(producers);
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(max_seconds * 1e9);
    std::uint64_t n = 0, psum = 0;
    for (std::uint64_t i = first; i < last; ++i) {
      if ((i & 255) == 0 && now_ns() > deadline) break;
      std::memcpy(value.data(), &i, sizeof i);
      if (!prods[static_cast<std::size_t>(p)].publish(
              keys[i % kKeys], std::string_view(value.data(), value.size()))) {
        die("publish (scaling) failed");
      }
      ++n;
      psum += i;
    }
    sent.fetch_add(n, std::memory_order_relaxed);
    sent_sum.fetch_add(psum, std::memory_order_relaxed);
    finished.fetch_add(1, std::memory_order_release);
  };
  auto consume = [&] {
    for (;;) {
      // (1) read finished before sent: every producer counted in it has added its sent.
      const bool all_done = finished.load(std::memory_order_acquire) == producers;
      if (all_done && got == sent.load(std::memory_order_relaxed)) break;
      const lanes::poll_result r = cons.poll(std::chrono::milliseconds(1));
      for (const lanes::record_view& rec : r.records) {
        std::uint64_t i = 0;
        std::memcpy(&i, rec.value.data(), sizeof i);
        sum += i;
      }
      got += r.records.size();
    }
    t1 = now_ns();
  };
  if (producers == 1) {
    start_barrier barrier;
    (void)run_pinned_pair(
        [&] {
          barrier.arrive_and_wait();
          t0 = now_ns();
          go.store(true, std::memory_order_release);
          produce(0);
        },
        [&] {
          barrier.arrive_and_wait();
          consume();
        });
  } else {
    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p) ts.emplace_back(produce, p);
    while (ready.load(std::memory_order_acquire) < producers) std::this_thread::yield();
    std::thread c(consume);
    t0 = now_ns();
    go.store(true, std::memory_order_release);
    for (std::thread& t : ts) t.join();
    c.join();
  }
  sample s;
  s.value = static_cast<double>(got) / (static_cast<double>(t1 - t0) * 1e-9);
  s.ok = got == sent.load() && sum == sent_sum.load() && got > 0;
  return s;
}

// ---- memory ----

std::uint64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

struct memory_result {
  std::uint32_t partitions = 0;
  std::size_t ring_bytes = 0;
  double per_partition_created = 0;       // bytes resident per partition once the topic exists
  double per_partition_full = 0;          // and once every ring has been filled
  std::uint64_t full_retained_bytes = 0;  // ring bytes held by records then, all partitions
  std::uint64_t retained = 0;             // messages retained in the one-partition topic
  std::size_t retained_ring_bytes = 0;
  double per_million_retained = 0;  // bytes resident per million retained messages
  double allocs_per_msg_fill = 0;   // operator new calls per publish while filling
};

memory_result measure_memory(const std::vector<std::string>& keys) {
  memory_result m;
  char value[kValueBytes] = {};
  {
    // Many partitions with the default ring: what one partition costs, empty and full.
    m.partitions = 64;
    m.ring_bytes = std::size_t{1} << 20;
    const std::uint64_t r0 = resident_bytes();
    lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
    lanes::topic_config tc;
    tc.partitions = m.partitions;
    tc.ring_capacity = m.ring_bytes;
    tc.producers = lanes::producer_mode::single;
    if (b.create_topic("mem", tc) != lanes::errc::ok) die("create_topic (memory) failed");
    lanes::producer prod = b.make_producer("mem");
    const std::uint64_t r1 = resident_bytes();
    // Twice the ring bytes per partition: every ring wraps at least once.
    const std::uint64_t n = 2 * m.partitions * m.ring_bytes / kValueBytes;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::memcpy(value, &i, sizeof i);
      (void)prod.try_publish(keys[i % kKeys], std::string_view(value, sizeof value));
    }
    const std::uint64_t r2 = resident_bytes();
    m.per_partition_created = static_cast<double>(r1 - r0) / m.partitions;
    m.per_partition_full = static_cast<double>(r2 - r0) / m.partitions;
    const auto info = b.describe_topic("mem");
    if (!info) die("describe_topic (memory) failed");
    for (const lanes::partition_stats& ps : info->partitions) m.full_retained_bytes += ps.bytes;
  }
  {
    // One partition big enough to keep a million 64-byte messages, no reader: retention only.
    m.retained_ring_bytes = std::size_t{256} << 20;
    const std::uint64_t r0 = resident_bytes();
    lanes::bus b(lanes::bus_config{{}, std::chrono::milliseconds(0)});
    lanes::topic_config tc;
    tc.partitions = 1;
    tc.ring_capacity = m.retained_ring_bytes;
    tc.producers = lanes::producer_mode::single;
    if (b.create_topic("mem", tc) != lanes::errc::ok) die("create_topic (memory) failed");
    lanes::producer prod = b.make_producer("mem");
    const std::uint64_t a0 = allocations();
    const std::uint64_t n = 1'000'000;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::memcpy(value, &i, sizeof i);
      if (!prod.try_publish(keys[i % kKeys], std::string_view(value, sizeof value))) break;
    }
    m.allocs_per_msg_fill = static_cast<double>(allocations() - a0) / static_cast<double>(n);
    const std::uint64_t r1 = resident_bytes();
    const auto info = b.describe_topic("mem");
    if (!info || info->partitions.empty()) die("describe_topic (memory) failed");
    m.retained = info->partitions[0].end_offset - info->partitions[0].log_start_offset;
    m.per_million_retained =
        m.retained ? static_cast<double>(r1 - r0) * 1e6 / static_cast<double>(m.retained) : 0;
  }
  return m;
}

// ---- driver ----

using lanes_support::median;

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
      o.sweep_reps = std::min(o.reps, 3);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--profile") {
      o.profile = next();
    } else if (a == "--no-sweep") {
      o.sweep = false;
    } else if (a == "--no-scaling") {
      o.scaling = false;
    } else if (a == "--no-memory") {
      o.memory = false;
    } else if (a == "--sweep-only") {
      o.reps = 0;
      o.scaling = false;
      o.memory = false;
    } else if (a == "--scaling-only") {
      o.reps = 0;
      o.sweep = false;
      o.memory = false;
    } else if (a == "--count") {
      o.count = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "usage: bus_bench [--reps N] [--quick] [--out PATH] [--count N] [--no-sweep]\n"
          "                 [--no-scaling] [--no-memory] [--sweep-only | --scaling-only]\n"
          "       bus_bench --profile bus_p1|bus_p4|bus_p16|frame_ring|zmq_push_pull|bus_fanout|\n"
          "                           zmq_pub_sub [--reps N]\n"
          "  --profile runs only that case (for perf record) and writes no results file");
      std::exit(0);
    } else {
      die(("unknown option " + a + " (see --help)").c_str());
    }
  }
  if (o.quick) {
    o.reps = std::min(o.reps, 3);
    o.count = 300'000;
    o.latency_seconds = 0.3;
    o.sweep_reps = 1;
    o.sweep_seconds = 0.2;
    o.scaling_reps = 1;
    o.scaling_bytes = std::uint64_t{32} << 20;
    o.scaling_seconds = 0.25;
  }
  return o;
}

}  // namespace
}  // namespace lanes_bench

int main(int argc, char** argv) {
  using namespace lanes_bench;
  const options opt = parse(argc, argv);
  const std::vector<std::string> keys = make_keys();

  // Case ids, in the order they run within a round.
  const std::vector<std::string> cases = {"bus_p1",   "bus_batch",   "frame_ring",  "zmq_push_pull",
                                          "bus_p4",   "bus_p16",     "bus_latency", "ring_latency",
                                          "queue_p1", "zmq_latency", "bus_fanout",  "zmq_pub_sub"};
  if (!opt.profile.empty()) {
    for (int round = 0; round < opt.reps; ++round) {
      sample s;
      if (opt.profile == "bus_p1")
        s = bus_throughput(1, opt.count, keys);
      else if (opt.profile == "bus_p4")
        s = bus_throughput(4, opt.count, keys);
      else if (opt.profile == "bus_p16")
        s = bus_throughput(16, opt.count, keys);
      else if (opt.profile == "bus_batch")
        s = bus_throughput(1, opt.count, keys, kBatch);
      else if (opt.profile == "frame_ring")
        s = ring_throughput(opt.count);
      else if (opt.profile == "frame_ring_record")
        s = ring_throughput(opt.count, 104);
      else if (opt.profile == "queue_p1")
        s = queue_throughput(opt.count, keys);
      else if (opt.profile == "zmq_push_pull")
        s = zmq_throughput(opt.count, keys);
      else if (opt.profile == "bus_fanout")
        s = bus_fanout(opt.count, keys);
      else if (opt.profile == "zmq_pub_sub")
        s = zmq_fanout(opt.count, keys);
      else
        die(("unknown case " + opt.profile).c_str());
      std::printf("%s: %.2fM msgs/s (floor %.0f ns)%s", opt.profile.c_str(), s.value / 1e6,
                  s.floor_ns, s.ok ? "" : " LOST OR DUPLICATED");
      if (s.lost != 0) std::printf(" (%llu lost)", static_cast<unsigned long long>(s.lost));
      std::printf("\n");
    }
    return 0;
  }
  // Memory first, on a fresh heap: freed rings of earlier cases would otherwise be reused
  // without adding to the resident size.
  memory_result mem;
  if (opt.memory) {
    mem = measure_memory(keys);
    std::fprintf(stderr,
                 "memory: %.0f KiB per partition created, %.0f KiB full (%zu KiB ring); %.1f MiB "
                 "per million retained; %.3f allocations per publish\n",
                 mem.per_partition_created / 1024, mem.per_partition_full / 1024,
                 mem.ring_bytes / 1024, mem.per_million_retained / (1 << 20),
                 mem.allocs_per_msg_fill);
  }

  std::map<std::string, std::vector<sample>> results;
  for (int round = 0; opt.reps > 0 && round <= opt.reps; ++round) {  // 0: warm-up, discarded
    std::map<std::string, sample> r;
    r["bus_p1"] = bus_throughput(1, opt.count, keys);
    r["bus_batch"] = bus_throughput(1, opt.count, keys, kBatch);
    r["frame_ring"] = ring_throughput(opt.count);
    r["zmq_push_pull"] = zmq_throughput(opt.count / 4, keys);  // ZeroMQ is slower: fewer msgs
    r["bus_p4"] = bus_throughput(4, opt.count, keys);
    r["bus_p16"] = bus_throughput(16, opt.count, keys);
    r["bus_latency"] = bus_latency(opt.rate, opt.latency_seconds, keys);
    r["ring_latency"] = ring_latency(opt.rate, opt.latency_seconds);
    r["queue_p1"] = queue_throughput(opt.count, keys);
    r["zmq_latency"] = zmq_latency(opt.rate, opt.latency_seconds, keys);
    r["bus_fanout"] = bus_fanout(opt.count, keys);
    r["zmq_pub_sub"] = zmq_fanout(opt.count / 4, keys);  // as PUSH/PULL: fewer msgs
    std::fprintf(
        stderr,
        "round %d%s: bus %.2fM/s batch %.2fM/s ring %.2fM/s zmq %.2fM/s p4 %.2fM/s p16 %.2fM/s | "
        "p99 bus %.0f ns ring %.0f ns zmq %.0f ns | queue %.2fM/s | fan-out per reader bus "
        "%.2fM/s zmq %.2fM/s (zmq lost %llu) | floor %.0f ns\n",
        round, round == 0 ? " (warm-up)" : "", r["bus_p1"].value / 1e6, r["bus_batch"].value / 1e6,
        r["frame_ring"].value / 1e6, r["zmq_push_pull"].value / 1e6, r["bus_p4"].value / 1e6,
        r["bus_p16"].value / 1e6, r["bus_latency"].p99, r["ring_latency"].p99, r["zmq_latency"].p99,
        r["queue_p1"].value / 1e6, r["bus_fanout"].value / 1e6, r["zmq_pub_sub"].value / 1e6,
        static_cast<unsigned long long>(r["zmq_pub_sub"].lost), r["bus_p1"].floor_ns);
    for (auto& [id, s] : r) {
      if (!s.ok) die(("case " + id + " lost or duplicated messages").c_str());
      if (round > 0) results[id].push_back(s);
    }
  }

  // Rate sweep: bus and ZeroMQ latency at each fixed rate, interleaved, sweep_reps each.
  struct sweep_point {
    std::string id;
    double rate = 0;
    std::vector<sample> runs;
  };
  std::vector<sweep_point> sweep;
  if (opt.sweep) {
    for (const double rate : kSweepRates) {
      sweep.push_back({"bus", rate, {}});
      sweep.push_back({"zmq", rate, {}});
    }
    for (int rep = 0; rep < opt.sweep_reps; ++rep) {
      for (sweep_point& sp : sweep) {
        const sample s = sp.id == "bus" ? bus_latency(sp.rate, opt.sweep_seconds, keys)
                                        : zmq_latency(sp.rate, opt.sweep_seconds, keys);
        if (!s.ok) die("sweep: lost messages");
        sp.runs.push_back(s);
        std::fprintf(stderr, "sweep %d %s %.0fk/s: p50 %.0f ns p99 %.0f ns max %.0f ns\n", rep,
                     sp.id.c_str(), sp.rate / 1e3, s.p50, s.p99, s.max);
      }
    }
  }

  // Scaling matrix: every cell once per rep, reps interleaved.
  struct scaling_cell {
    std::uint32_t partitions = 0;
    int producers = 0;
    std::size_t value_bytes = 0;
    std::uint64_t messages = 0;
    std::vector<double> rates;
  };
  std::vector<scaling_cell> scaling;
  if (opt.scaling) {
    for (const std::size_t vb :
         {std::size_t{16}, std::size_t{256}, std::size_t{4096}, std::size_t{65536}}) {
      for (const std::uint32_t parts : {1u, 4u, 16u}) {
        for (const int prods : {1, 2, 4}) {
          const std::uint64_t n = std::min<std::uint64_t>(opt.count, opt.scaling_bytes / vb);
          scaling.push_back({parts, prods, vb, n, {}});
        }
      }
    }
    for (int rep = 0; rep < opt.scaling_reps; ++rep) {
      for (scaling_cell& c : scaling) {
        const sample s = scaling_run(c.partitions, c.producers, c.value_bytes, c.messages,
                                     opt.scaling_seconds, keys);
        if (!s.ok) die("scaling: lost or duplicated messages");
        c.rates.push_back(s.value);
        std::fprintf(stderr, "scaling %d: %2u partitions %d producers %5zu B: %.3fM msgs/s\n", rep,
                     c.partitions, c.producers, c.value_bytes, s.value / 1e6);
      }
    }
  }

  // Ratios within each round, then their median.
  struct ratio_def {
    const char* id;
    const char* num;
    const char* den;
    bool latency;  // compare p99s
  };
  const std::vector<ratio_def> ratio_defs = {
      {"bus_vs_frame_ring_tput", "bus_p1", "frame_ring", false},
      {"bus_vs_zmq_tput", "bus_p1", "zmq_push_pull", false},
      {"bus_batch_vs_zmq_tput", "bus_batch", "zmq_push_pull", false},
      {"bus_batch_vs_frame_ring_tput", "bus_batch", "frame_ring", false},
      {"bus_vs_ring_p99", "bus_latency", "ring_latency", true},
      {"bus_vs_zmq_p99", "bus_latency", "zmq_latency", true},
      {"bus_p4_vs_p1_tput", "bus_p4", "bus_p1", false},
      {"bus_p16_vs_p1_tput", "bus_p16", "bus_p1", false},
      {"queue_vs_bus_tput", "queue_p1", "bus_p1", false},
      {"bus_fanout_vs_zmq_pub_sub_tput", "bus_fanout", "zmq_pub_sub", false},
  };

  std::filesystem::path out(opt.out);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  std::ofstream file(out);
  if (!file) die(("cannot write " + opt.out).c_str());
  json_writer w(file);
  w.begin_object();
  w.field("benchmark", "bus_bench");
  w.field("git_commit", lanes_tools::git_commit());
  w.field("compiler", lanes_tools::compiler());
  w.field("cpu_model", lanes_tools::cpu_model());
  w.field("date", lanes_tools::utc_date());
  w.field("load_average", lanes_tools::load_average());
  w.field("reps", opt.reps);
  w.field("quick", opt.quick);
  w.field("value_bytes", static_cast<std::uint64_t>(kValueBytes));
  w.field("key_bytes", static_cast<std::uint64_t>(8));
  w.field("ring_bytes", static_cast<std::uint64_t>(kRingBytes));
  w.field("messages_per_throughput_run", opt.count);
  w.field("latency_rate_per_s", opt.rate);
  w.field("latency_seconds", opt.latency_seconds);
  w.key("cases");
  w.begin_object();
  for (const std::string& id : cases) {
    const auto& ss = results[id];
    if (ss.empty()) continue;
    std::vector<double> v, p50, p99, p999, mx, floor, allocs, lost;
    std::vector<double> q[kNq];
    for (const sample& s : ss) {
      for (std::size_t k = 0; k < kNq; ++k) q[k].push_back(s.q[k]);
      allocs.push_back(s.allocs_per_msg);
      lost.push_back(static_cast<double>(s.lost));
      v.push_back(s.value);
      p50.push_back(s.p50);
      p99.push_back(s.p99);
      p999.push_back(s.p999);
      mx.push_back(s.max);
      floor.push_back(s.floor_ns);
    }
    w.key(id);
    w.begin_object();
    const bool lat = id.find("latency") != std::string::npos;
    w.field("unit", lat ? "ns" : "msgs/s");
    w.array("samples", v);
    w.field("median", median(v));
    w.field("min", *std::min_element(v.begin(), v.end()));
    w.field("max", *std::max_element(v.begin(), v.end()));
    if (lat) {
      w.field("p50_median", median(p50));
      w.field("p99_median", median(p99));
      w.field("p999_median", median(p999));
      w.field("max_median", median(mx));
      w.key("percentiles");  // median over rounds of each percentile, ns
      w.begin_object();
      for (std::size_t k = 0; k < kNq; ++k) w.field(kQuantileNames[k], median(q[k]));
      w.field("max", median(mx));
      w.end_object();
    } else {
      w.field("allocs_per_msg_max", *std::max_element(allocs.begin(), allocs.end()));
    }
    if (id == "bus_fanout" || id == "zmq_pub_sub") {
      // Messages sent that a reader did not receive, summed over both readers, per round.
      w.field("readers", kFanoutReaders);
      w.array("lost", lost);
      w.field("lost_max", *std::max_element(lost.begin(), lost.end()));
      w.field("messages_per_run", id == "bus_fanout" ? opt.count : opt.count / 4);
      w.field("waits", id == "bus_fanout"
                           ? "producer, two consumer-group members: unpinned threads, consumers "
                             "park in poll (busy_spin off), the producer waits for the slower "
                             "group when the ring is full (backpressure::block)"
                           : "producer, two SUB readers: unpinned threads, blocking zmq_recv; "
                             "SNDHWM and RCVHWM 0 (no limit): PUB never drops, pipes grow");
    }
    w.array("placement_floor_ns", floor);
    w.end_object();
  }
  w.end_object();
  w.key("ratios");
  w.begin_object();
  for (const ratio_def& d : ratio_defs) {
    if (results[d.num].empty()) continue;
    std::vector<double> rs;
    for (std::size_t i = 0; i < results[d.num].size(); ++i) {
      rs.push_back(results[d.num][i].value / results[d.den][i].value);
    }
    w.key(d.id);
    w.begin_object();
    w.field("numerator", d.num);
    w.field("denominator", d.den);
    w.array("per_round", rs);
    w.field("median", median(rs));
    w.field("min", *std::min_element(rs.begin(), rs.end()));
    w.field("max", *std::max_element(rs.begin(), rs.end()));
    w.end_object();
    std::fprintf(stderr, "%-24s median %.3f (min %.3f, max %.3f)\n", d.id, median(rs),
                 *std::min_element(rs.begin(), rs.end()), *std::max_element(rs.begin(), rs.end()));
  }
  w.end_object();

  if (opt.sweep) {
    w.key("sweep");
    w.begin_object();
    w.field("reps", opt.sweep_reps);
    w.field("seconds", opt.sweep_seconds);
    w.key("points");
    w.begin_array();
    for (const sweep_point& sp : sweep) {
      w.begin_object();
      w.field("case", sp.id);
      w.field("rate_per_s", sp.rate);
      std::vector<double> mx, p99;
      for (const sample& s : sp.runs) {
        mx.push_back(s.max);
        p99.push_back(s.p99);
      }
      for (std::size_t k = 0; k < kNq; ++k) {
        std::vector<double> v;
        for (const sample& s : sp.runs) v.push_back(s.q[k]);
        w.field(kQuantileNames[k], median(v));
      }
      w.field("max", median(mx));
      w.field("p99_min", *std::min_element(p99.begin(), p99.end()));
      w.field("p99_max", *std::max_element(p99.begin(), p99.end()));
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  if (opt.scaling) {
    w.key("scaling");
    w.begin_object();
    w.field("reps", opt.scaling_reps);
    w.field("value_bytes_per_run", opt.scaling_bytes);
    w.field("max_seconds_per_run", opt.scaling_seconds);
    w.field("ring_bytes", static_cast<std::uint64_t>(kScalingRingBytes));
    w.field("warm_up", "every ring written through about 1.5 times before the timed run");
    w.field("waits",
            "1 producer: pinned to CPU 0, single-producer topic, consumer busy-spins on CPU 1; "
            "2 and 4 producers: multi-producer topic, threads unpinned, consumer parks "
            "(busy_spin off)");
    w.key("cells");
    w.begin_array();
    for (const scaling_cell& c : scaling) {
      w.begin_object();
      w.field("partitions", static_cast<std::uint64_t>(c.partitions));
      w.field("producers", static_cast<std::uint64_t>(c.producers));
      w.field("value_bytes", static_cast<std::uint64_t>(c.value_bytes));
      w.field("messages_offered", c.messages);
      w.array("samples", c.rates);
      w.field("median", median(c.rates));
      w.field("min", *std::min_element(c.rates.begin(), c.rates.end()));
      w.field("max", *std::max_element(c.rates.begin(), c.rates.end()));
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  if (opt.memory) {
    w.key("memory");
    w.begin_object();
    w.field("partitions", static_cast<std::uint64_t>(mem.partitions));
    w.field("ring_bytes_per_partition", static_cast<std::uint64_t>(mem.ring_bytes));
    w.field("resident_bytes_per_partition_created", mem.per_partition_created);
    w.field("resident_bytes_per_partition_full", mem.per_partition_full);
    w.field("retained_bytes_all_partitions_full", mem.full_retained_bytes);
    w.field("retained_messages", mem.retained);
    w.field("retained_ring_bytes", static_cast<std::uint64_t>(mem.retained_ring_bytes));
    w.field("resident_bytes_per_million_retained", mem.per_million_retained);
    w.field("allocs_per_publish_fill", mem.allocs_per_msg_fill);
    w.end_object();
  }
  w.end_object();
  file << "\n";
  std::fprintf(stderr, "wrote %s\n", opt.out.c_str());
  return 0;
}
