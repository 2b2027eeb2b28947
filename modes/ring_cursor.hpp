// modes/ring_cursor.hpp (internal): a consumer's read path on an in-memory partition with
// backpressure::block: views straight into the ring.
#pragma once

#include <cstdint>
#include <string_view>

#include "lanes/frame_ring.hpp"
#include "poll_batch.hpp"

namespace lanes::detail {

// The partition's gating reader: the producer cannot reuse a frame until the reader is
// released past it, so the views handed out point into the ring itself and stay valid until
// the consumer releases them (its next poll). The consumer's thread only; no allocation, no
// lock.
class ring_cursor {
 public:
  ring_cursor(frame_ring::reader& reader, std::string_view topic, std::uint32_t partition) noexcept
      : reader_(reader), topic_(topic), partition_(partition) {}

  // Adds the published records at the reader's cursor to `out` until it is full or none is
  // left; next_offset follows them. Returns how many were added (then the reader must be
  // released at the next poll).
  std::size_t fill(poll_batch& out, std::uint64_t& next_offset) noexcept {
    const std::size_t first = out.n;
    frame_view f;
    while (!out.full() && reader_.try_peek(f)) {
      next_offset = out.add(f.data, topic_, partition_) + 1;
      reader_.advance(f);
    }
    return out.n - first;
  }

 private:
  frame_ring::reader& reader_;
  std::string_view topic_;
  std::uint32_t partition_;
};

}  // namespace lanes::detail
