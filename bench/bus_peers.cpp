// bench/bus_peers.cpp: bus_bench's reference measurements for throughput: the raw frame ring
// the bus is built on, and ZeroMQ inproc:// PUSH/PULL.
#include <zmq.h>

#include <cstring>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {

// ---- raw frame ring ----

sample ring_throughput(std::uint64_t count, std::size_t payload) {
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

}  // namespace lanes_bench
