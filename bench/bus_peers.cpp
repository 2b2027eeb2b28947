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
  return pinned_throughput(
      count,
      [&] {
        for (std::uint64_t i = 0; i < count; ++i) {
          lanes::frame_claim c;
          while (!(c = ring.try_claim(payload))) lanes::cpu_relax();
          std::memset(c.data, 0, payload);
          std::memcpy(c.data, &i, sizeof i);
          ring.commit(c);
        }
      },
      [&](std::uint64_t& sum) {
        std::uint64_t got = 0;
        while (got < count) {
          got += reader.poll([&](const lanes::frame_view& v) { sum += number_at(v.data); }, 1024);
        }
      });
}

// ---- ZeroMQ inproc PUSH/PULL ----

sample zmq_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  void* ctx = zmq_ctx_new();
  void* push = zmq_socket(ctx, ZMQ_PUSH);
  void* pull = zmq_socket(ctx, ZMQ_PULL);
  if (zmq_bind(pull, "inproc://bus_bench") != 0 || zmq_connect(push, "inproc://bus_bench") != 0) {
    die("zmq bind/connect failed");
  }
  const sample s = pinned_throughput(
      count, [&] { zmq_send_numbered(push, count, keys); },
      [&](std::uint64_t& sum) {
        char buf[kZmqMsgBytes];
        for (std::uint64_t got = 0; got < count; ++got) {
          if (zmq_recv(pull, buf, kZmqMsgBytes, 0) != static_cast<int>(kZmqMsgBytes)) {
            die("zmq_recv");
          }
          sum += number_at(buf + 8);
        }
      });
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  return s;
}

// Messages 0 .. count - 1 on a ZeroMQ socket: each the key's 8 bytes, then the value
// carrying its number.
void zmq_send_numbered(void* socket, std::uint64_t count, const std::vector<std::string>& keys) {
  char buf[kZmqMsgBytes] = {};
  for (std::uint64_t i = 0; i < count; ++i) {
    std::memcpy(buf, keys[i % kKeys].data(), 8);
    std::memcpy(buf + 8, &i, sizeof i);
    if (zmq_send(socket, buf, kZmqMsgBytes, 0) != static_cast<int>(kZmqMsgBytes)) die("zmq_send");
  }
}

}  // namespace lanes_bench
