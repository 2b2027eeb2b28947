// bench/durable_idle.cpp: durable_bench's idle case: the CPU a bus with a durable topic and a
// parked consumer uses while nothing is published, and the first publish after that.
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "durable_bench.hpp"
#include <lanes/clock.hpp>

namespace lanes_bench {
namespace {

using namespace std::chrono_literals;

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

// A bus with a 4-partition async durable topic, 100 records, a consumer parked in poll:
// CPU over `secs` idle seconds, and the first publish after that until it is polled.
json idle(const fs::path& dir, double secs) {
  fs::remove_all(dir);
  lanes::bus b(bus_at(dir));
  lanes::topic_config tc = durable_topic(lanes::durability::async, 1000us);
  tc.partitions = 4;
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  lanes::producer p = b.make_producer("t");
  for (int i = 0; i < 100; ++i) (void)p.publish("k" + std::to_string(i), "v");
  std::atomic<std::int64_t> seen_at{0};
  std::atomic<bool> armed{false};
  std::thread consumer([&] {
    lanes::consumer_config cc;
    cc.group = "g";
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = b.make_consumer(cc);
    if (c.subscribe({"t"}) != lanes::errc::ok) die("subscribe");
    while (seen_at.load() == 0) {
      const lanes::poll_result r = c.poll(1s);
      if (armed.load() && !r.records.empty()) seen_at = lanes::steady_ns();
    }
  });
  std::this_thread::sleep_for(1s);  // the 100 records are read; everything settles
  armed = true;
  const double c0 = cpu_seconds();
  const std::int64_t t0 = lanes::steady_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  const double used = cpu_seconds() - c0;
  const double elapsed = static_cast<double>(lanes::steady_ns() - t0) / 1e9;
  const std::int64_t sent = lanes::steady_ns();
  (void)p.publish("after-idle", "v");
  consumer.join();
  return {{"cpu_percent", 100.0 * used / elapsed},
          {"first_publish_to_poll_us", static_cast<double>(seen_at.load() - sent) / 1e3}};
}

}  // namespace lanes_bench
