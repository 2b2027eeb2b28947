// modes/copying_cursor.hpp (internal): a consumer's read path in the ring of a partition
// with backpressure::overwrite or a durable topic: records copied out of the ring.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "lanes/frame_ring.hpp"
#include "poll_batch.hpp"

namespace lanes::detail {

// The reader gates the producer only while pinned, so the producer may reuse a frame's bytes
// as soon as it is unpinned: records are copied into the consumer's arena (valid until its
// next poll) while pinned, after checking that the log start has not passed the cursor. The
// consumer's thread only; no allocation, no lock.
class copying_cursor {
 public:
  copying_cursor(frame_ring::reader& reader, const std::atomic<std::uint64_t>& log_start_position,
                 std::string_view topic, std::uint32_t partition) noexcept
      : reader_(reader), log_start_(log_start_position), topic_(topic), partition_(partition) {}

  enum class result { ok, overrun };
  // Copies records at the cursor below `limit` into arena[used, ...) and adds their views to
  // `out`, until out or the arena is full or none is left; next_offset follows them.
  // overrun: the log start passed the cursor (nothing added; the frames there may be gone).
  result fill(poll_batch& out, std::span<std::byte> arena, std::size_t& used, std::uint64_t limit,
              std::uint64_t& next_offset) noexcept {
    reader_.pin();
    if (reader_.position() < log_start_.load(std::memory_order_seq_cst)) {
      reader_.unpin();
      return result::overrun;
    }
    frame_view f;
    while (!out.full() && next_offset < limit && reader_.try_peek(f)) {
      if (arena.size() - used < f.size) break;
      std::byte* copy = arena.data() + used;
      std::memcpy(copy, f.data, f.size);
      used += align_up(f.size, 8);
      next_offset = out.add(copy, topic_, partition_) + 1;
      reader_.advance(f);
    }
    reader_.unpin();
    return result::ok;
  }

 private:
  frame_ring::reader& reader_;
  const std::atomic<std::uint64_t>& log_start_;
  std::string_view topic_;
  std::uint32_t partition_;
};

}  // namespace lanes::detail
