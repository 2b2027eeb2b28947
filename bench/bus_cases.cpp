// bench/bus_cases.cpp: bus_bench's bus cases: log-mode throughput (one publish or a batch
// per call, 1 to 16 partitions) and queue-mode throughput (receive and ack every message).
#include <algorithm>
#include <cstring>
#include <span>
#include <string_view>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char b[16];
    std::snprintf(b, sizeof b, "key-%04d", i);
    keys.emplace_back(b);
  }
  return keys;
}

// ---- bus ----

bus_fixture::bus_fixture(std::uint32_t partitions)
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

sample bus_throughput(std::uint32_t partitions, std::uint64_t count,
                      const std::vector<std::string>& keys, std::size_t batch) {
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

}  // namespace lanes_bench
