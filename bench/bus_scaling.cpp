// bench/bus_scaling.cpp: bus_bench's scaling matrix: bus throughput for partitions x
// producers x value size; with more threads than cores, waits park instead of spinning.
#include <atomic>
#include <cstring>
#include <string_view>
#include <thread>

#include "bus_bench.hpp"
#include "harness.hpp"

namespace lanes_bench {
namespace {

// One topic "bench" of `partitions` partitions, `producers` producers, and one consumer-group
// member holding every partition (busy-spinning only with one producer).
struct scaling_topic {
  scaling_topic(std::uint32_t partitions, int producers) : b(quiet_bus()) {
    create_topic(
        b, "bench",
        ring_topic(partitions, kScalingRingBytes,
                   producers == 1 ? lanes::producer_mode::single : lanes::producer_mode::multi));
    cons = group_member(b, "bench", "bench", producers == 1, partitions);
    for (int p = 0; p < producers; ++p) prods.push_back(b.make_producer("bench"));
  }
  lanes::bus b;
  lanes::consumer cons;
  std::vector<lanes::producer> prods;
};

// Warm-up on this thread, untimed: write every ring through about 1.5 times (publishing
// with try_publish, draining whenever a partition is full), so that the timed run does not
// page-fault the rings in.
void warm_up(scaling_topic& t, std::uint32_t partitions, std::size_t value_bytes,
             const std::vector<std::string>& keys) {
  auto& prods = t.prods;
  auto& cons = t.cons;
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

}  // namespace

// P producers publish count messages in all (keys spread over every partition) to one topic
// that a single consumer-group member drains. One producer: pinned pair, single-producer
// topic, busy-spinning consumer (as bus_p1). More producers: a multi-producer topic, threads
// unpinned and the consumer parking (busy_spin off), since threads then outnumber the cores;
// producers wait in publish as the bus makes them (backpressure::block).
sample scaling_run(std::uint32_t partitions, int producers, std::size_t value_bytes,
                   std::uint64_t count, double max_seconds, const std::vector<std::string>& keys) {
  scaling_topic topic(partitions, producers);
  warm_up(topic, partitions, value_bytes, keys);
  auto& prods = topic.prods;
  auto& cons = topic.cons;

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
      got += add_numbers(cons.poll(std::chrono::milliseconds(1)), sum);
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

}  // namespace lanes_bench
