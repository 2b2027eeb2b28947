// bench/durable_latency.cpp: durable_bench's latency cases: publish-to-poll at a fixed rate
// (async and sync topics), and wait_durable right after each publish.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "durable_bench.hpp"
#include "lanes_support/histogram.hpp"
#include <lanes/clock.hpp>

namespace lanes_bench {

using namespace std::chrono_literals;

// A producer at a fixed rate (values carry their due time), a consumer timing each record
// from when it was due (no coordinated omission): p50, p99 in us.
json paced_latency(const fs::path& dir, const lanes::topic_config& tc, double rate, double secs) {
  std::fprintf(stderr, "durable_bench: latency at %.0f msg/s\n", rate);
  fs::remove_all(dir);
  lanes::bus b(bus_at(dir));
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  const auto total = static_cast<std::uint64_t>(rate * secs);
  log_linear_histogram h;
  lanes::consumer c = reader(b);  // reading before the first publish: nothing is dropped
  std::thread consumer([&] {
    for (std::uint64_t seen = 0; seen < total;) {
      const lanes::poll_result r = c.poll(100ms);
      const std::int64_t t = lanes::steady_ns();
      for (const lanes::record_view& rec : r.records) {
        std::int64_t due = 0;
        std::memcpy(&due, rec.value.data(), sizeof due);
        h.record(static_cast<std::uint64_t>(std::max<std::int64_t>(t - due, 0)));
        ++seen;
      }
      if (r.status == lanes::errc::closed) break;
    }
  });
  lanes::producer p = b.make_producer("t");
  std::string value(64, 'v');
  const std::int64_t start = lanes::steady_ns() + 20'000'000;
  const double gap = 1e9 / rate;
  // Every message that is due is published, then the producer sleeps ~50 us (it must not
  // spin: there are two cores for it, the consumer, the persister and the kernel's workers).
  // Latency counts from the due time, so the producer's own delay is in it.
  for (std::uint64_t i = 0; i < total;) {
    const std::int64_t now = lanes::steady_ns();
    for (; i < total; ++i) {
      const auto due = start + static_cast<std::int64_t>(gap * static_cast<double>(i));
      if (due > now) break;
      std::memcpy(value.data(), &due, sizeof due);
      if (!p.publish(std::nullopt, value)) die("publish");
    }
    std::this_thread::sleep_for(50us);
  }
  consumer.join();
  return {{"rate", rate},
          {"count", h.count()},
          {"p50_us", h.quantile(0.5) / 1e3},
          {"p99_us", h.quantile(0.99) / 1e3}};
}

// wait_durable right after each publish, at a fixed rate: p50, p99 of publish..ok in us.
json durable_ack(const fs::path& dir, std::chrono::microseconds window, int count) {
  std::fprintf(stderr, "durable_bench: durable acks\n");
  fs::remove_all(dir);
  lanes::bus b(bus_at(dir));
  if (b.create_topic("t", durable_topic(lanes::durability::async, window)) != lanes::errc::ok) {
    die("create_topic");
  }
  lanes::producer p = b.make_producer("t");
  log_linear_histogram h;
  for (int i = 0; i < count; ++i) {
    const std::int64_t t0 = lanes::steady_ns();
    const lanes::publish_result r = p.publish(std::nullopt, "v");
    if (!r || p.wait_durable(r.partition, r.offset, 10s) != lanes::errc::ok) die("wait_durable");
    h.record(static_cast<std::uint64_t>(lanes::steady_ns() - t0));
    std::this_thread::sleep_for(500us);
  }
  return {{"window_us", window.count()},
          {"p50_us", h.quantile(0.5) / 1e3},
          {"p99_us", h.quantile(0.99) / 1e3}};
}

}  // namespace lanes_bench
