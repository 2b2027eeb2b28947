// io/partition_log_slots.hpp (internal to io/): what the files of partition_log share: the
// write slot an append fills and io_uring writes from, and the single writer's helpers.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "lanes/clock.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_format.hpp"
#include "segment.hpp"

namespace lanes::io {

struct partition_log::write_slot {
  std::byte header[batch_header_size];
  iovec iov[max_iovecs + 1];
  unsigned iov_first = 0;  // first iovec with bytes left
  unsigned iov_count = 0;
  std::uint64_t pos = 0;   // file position of the next byte to write
  std::uint64_t left = 0;  // bytes not yet written
  std::uint64_t end_offset = 0;
  std::uint32_t bytes = 0;
  segment* seg = nullptr;
  bool done = false;
};

namespace log_detail {

inline constexpr std::uint64_t sync_tag = std::uint64_t{1} << 63;

// The single writer's increment: no read-modify-write instruction needed.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace log_detail
}  // namespace lanes::io
