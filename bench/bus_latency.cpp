// bench/bus_latency.cpp: bus_bench's latency cases: publish -> poll at a fixed rate below
// saturation, timed from when each message was due, for the bus, the raw frame ring and
// ZeroMQ PUSH/PULL.
#include <zmq.h>

#include <cstring>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {
namespace {

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

}  // namespace

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
        for (const lanes::record_view& rec : r.records) record(number_at(rec.value.data()));
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
        return reader.poll([&](const lanes::frame_view& v) { record(number_at(v.data)); }, 1024);
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
  std::uint64_t i = 0;
  const sample s = fixed_rate(
      rate, seconds,
      [&](std::uint64_t due) {
        char buf[kZmqMsgBytes] = {};
        std::memcpy(buf, keys[i++ % kKeys].data(), 8);
        std::memcpy(buf + 8, &due, sizeof due);
        if (zmq_send(push, buf, kZmqMsgBytes, 0) != static_cast<int>(kZmqMsgBytes)) die("zmq_send");
      },
      [&](auto&& record) -> std::size_t {
        char buf[kZmqMsgBytes];
        if (zmq_recv(pull, buf, kZmqMsgBytes, ZMQ_DONTWAIT) != static_cast<int>(kZmqMsgBytes))
          return 0;
        record(number_at(buf + 8));
        return 1;
      });
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  return s;
}

}  // namespace lanes_bench
