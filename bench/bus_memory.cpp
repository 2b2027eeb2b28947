// bench/bus_memory.cpp: bus_bench's memory measurements: resident bytes per partition and
// per million retained messages (/proc/self/statm), allocations per publish.
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string_view>

#include "bus_bench.hpp"

namespace lanes_bench {
namespace {

std::uint64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

memory_result measure_memory(const std::vector<std::string>& keys) {
  memory_result m;
  char value[kValueBytes] = {};
  {
    // Many partitions with the default ring: what one partition costs, empty and full.
    m.partitions = 64;
    m.ring_bytes = std::size_t{1} << 20;
    const std::uint64_t r0 = resident_bytes();
    lanes::bus b(quiet_bus());
    create_topic(b, "mem", ring_topic(m.partitions, m.ring_bytes, lanes::producer_mode::single));
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
    lanes::bus b(quiet_bus());
    create_topic(b, "mem", ring_topic(1, m.retained_ring_bytes, lanes::producer_mode::single));
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

}  // namespace lanes_bench
