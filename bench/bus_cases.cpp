// bench/bus_cases.cpp: bus_bench's bus cases: log-mode throughput (one publish or a batch
// per call, 1 to 16 partitions) and queue-mode throughput (receive and ack every message).
#include <algorithm>
#include <cstring>
#include <span>
#include <string_view>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {

void timed_span::start() noexcept {
  a0 = allocations();
  t0 = now_ns();
}

void timed_span::stop() noexcept {
  t1 = now_ns();
  a1 = allocations();
}

sample timed_span::rates(std::uint64_t count) const noexcept {
  sample s;
  s.value = static_cast<double>(count) / (static_cast<double>(t1 - t0) * 1e-9);
  s.allocs_per_msg = static_cast<double>(a1 - a0) / static_cast<double>(count);
  return s;
}

// ---- bus ----

bus_fixture::bus_fixture(std::uint32_t partitions) : b(quiet_bus()) {
  create_topic(b, "bench", ring_topic(partitions, kRingBytes, lanes::producer_mode::single));
  prod = b.make_producer("bench");
  cons = group_member(b, "bench", "bench", true, partitions);
}

namespace {

// Messages 0 .. count - 1, one publish() each: kValueBytes values carrying their number.
void publish_each(lanes::producer& prod, std::uint64_t count,
                  const std::vector<std::string>& keys) {
  char value[kValueBytes] = {};
  for (std::uint64_t i = 0; i < count; ++i) {
    std::memcpy(value, &i, sizeof i);
    if (!prod.publish(keys[i % kKeys], std::string_view(value, sizeof value))) {
      die("publish failed");
    }
  }
}

// The same messages, publish_batch() of `batch` at a time. The buffers are made before the
// clock starts (prepare), the batches sent after (run).
class batch_publisher {
 public:
  explicit batch_publisher(std::size_t batch)
      : batch_(batch), values_(batch * kValueBytes), msgs_(batch), results_(batch) {}
  void run(lanes::producer& prod, std::uint64_t count, const std::vector<std::string>& keys) {
    for (std::uint64_t i = 0; i < count;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_, count - i));
      for (std::size_t k = 0; k < n; ++k, ++i) {
        char* v = values_.data() + k * kValueBytes;
        std::memcpy(v, &i, sizeof i);
        msgs_[k].key = keys[i % kKeys];
        msgs_[k].value = std::string_view(v, kValueBytes);
      }
      if (prod.publish_batch(std::span(msgs_.data(), n), results_) != n) {
        die("publish_batch failed");
      }
    }
  }

 private:
  std::size_t batch_;
  std::vector<char> values_;
  std::vector<lanes::message> msgs_;
  std::vector<lanes::publish_result> results_;
};

}  // namespace

sample bus_throughput(std::uint32_t partitions, std::uint64_t count,
                      const std::vector<std::string>& keys, std::size_t batch) {
  bus_fixture f(partitions);
  batch_publisher batches(batch);
  return pinned_throughput(
      count,
      [&] {
        if (batch != 0) {
          batches.run(f.prod, count, keys);
        } else {
          publish_each(f.prod, count, keys);
        }
      },
      [&](std::uint64_t& sum) {
        for (std::uint64_t got = 0; got < count;) got += add_numbers(f.cons.poll(), sum);
      });
}

// ---- queue mode: receive and ack every message ----

// One queue topic partition, the same producer as bus_p1; the consumer receives batches
// (busy spin) and acks each message: the queue-mode hot path against the log-mode one.
sample queue_throughput(std::uint64_t count, const std::vector<std::string>& keys) {
  lanes::bus b(quiet_bus());
  lanes::topic_config tc = ring_topic(1, kRingBytes, lanes::producer_mode::single);
  tc.mode = lanes::topic_mode::queue;
  create_topic(b, "bench", tc);
  lanes::producer prod = b.make_producer("bench");
  lanes::queue_consumer_config qc;
  qc.topic = "bench";
  qc.max_receive = 1024;
  qc.busy_spin = true;
  lanes::queue_consumer cons = b.make_queue_consumer(qc);
  if (!cons) die("make_queue_consumer failed");
  std::uint64_t ack_errors = 0;
  sample s = pinned_throughput(
      count, [&] { publish_each(prod, count, keys); },
      [&](std::uint64_t& sum) {
        std::uint64_t got = 0;
        while (got < count) {
          const lanes::receive_result r = cons.receive(1024);
          for (const lanes::queue_message& m : r.messages) {
            sum += number_at(m.record.value.data());
            if (cons.ack(m.receipt) != lanes::errc::ok) ++ack_errors;
          }
          got += r.messages.size();
        }
      });
  s.ok = s.ok && ack_errors == 0;  // each once, each acked
  return s;
}

}  // namespace lanes_bench
