// bench/durable_throughput.cpp: durable_bench's throughput case: one producer as fast as it
// can, one consumer reading durable records only, in memory or on disk.
#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

#include "durable_bench.hpp"
#include <lanes/clock.hpp>

namespace lanes_bench {

using namespace std::chrono_literals;

// One producer publishing `bytes` of values as fast as it can, one consumer reading them
// (durable records only): producer and consumer MB/s of values, bytes on disk per record.
json throughput(const fs::path& dir, lanes::durability d, std::size_t value_size,
                std::uint64_t bytes) {
  std::fprintf(stderr, "durable_bench: throughput, %zu B values\n", value_size);
  fs::remove_all(dir);
  lanes::bus b(bus_at(dir));
  lanes::topic_config tc = durable_topic(d, 1000us);
  if (b.create_topic("t", tc) != lanes::errc::ok) die("create_topic");
  const std::uint64_t total = std::max<std::uint64_t>(bytes / value_size, 1);
  std::int64_t consumer_end = 0;
  lanes::consumer c = reader(b);  // reading before the first publish: it holds the ring
  std::thread consumer([&] {
    for (std::uint64_t seen = 0; seen < total;) seen += c.poll(100ms).records.size();
    consumer_end = lanes::steady_ns();
  });
  lanes::producer p = b.make_producer("t");
  const std::string value(value_size, 'v');
  const std::int64_t t0 = lanes::steady_ns();
  for (std::uint64_t i = 0; i < total; ++i) {
    if (!p.publish(std::nullopt, value)) die("publish");
  }
  const std::int64_t producer_end = lanes::steady_ns();
  consumer.join();
  const double mb = static_cast<double>(total * value_size) / 1e6;
  json j = {{"value_bytes", value_size},
            {"records", total},
            {"producer_mbs", mb / (static_cast<double>(producer_end - t0) / 1e9)},
            {"consumer_mbs", mb / (static_cast<double>(consumer_end - t0) / 1e9)}};
  if (d != lanes::durability::none) {
    std::uint64_t disk = 0;
    for (const fs::path& f : segment_files(dir / "t" / "0")) disk += fs::file_size(f);
    j["disk_bytes_per_record"] = static_cast<double>(disk) / static_cast<double>(total);
  }
  return j;
}

}  // namespace lanes_bench
