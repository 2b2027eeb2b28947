// modes/disk_cursor.hpp: a consumer's read-ahead over a durable partition's segment files
// (internal). Used by consumer.cpp's read path while a consumer is behind the ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lanes/frame_ring.hpp"
#include "lanes/record.hpp"
#include "lanes/segment_format.hpp"

namespace lanes::detail {

// Durable topics: whole verified batches read from the segment files (1 MiB at a time),
// handed out record by record across polls, so that each byte is read once and each
// batch's CRC checked once however small max_poll_records is. Views into it stay valid
// until the next poll: it is refilled only by a poll that handed out none of it.
struct disk_cursor {
  std::vector<std::byte> buf = std::vector<std::byte>(std::size_t{1} << 20);
  std::size_t size = 0;          // bytes of verified batches in buf
  std::size_t batch_end = 0;     // end of the current batch's payload
  std::size_t at = 0;            // next frame (at == batch_end: the next batch's header)
  std::uint64_t next = 0;        // the offset the consumer reads next, as the cursor knows it
  std::uint64_t used_in = 0;     // the poll whose views point into buf
  std::uint64_t batch_next = 0;  // one past the current batch's offsets (where to skip to)
  void clear() noexcept { size = batch_end = at = 0; }
  void fill(std::size_t bytes, std::uint64_t next_offset) noexcept {
    size = bytes;
    batch_end = at = 0;
    next = next_offset;
  }
  // The next record frame at or after `at` (padding skipped): its record bytes, and the
  // position after it. `end` when the buffer is used up; `bad` when a frame or record does
  // not fit (a batch whose CRC is right but whose contents are not what lanes writes).
  enum class step { record, end, bad };
  step peek(std::uint32_t max_batch, const std::byte*& rec, std::size_t& after) noexcept {
    for (;;) {
      if (at >= batch_end) {
        io::batch_header h;
        if (batch_end + io::batch_header_size > size) return step::end;
        if (io::decode_batch_header({buf.data() + batch_end, io::batch_header_size}, max_batch,
                                    h) != io::batch_status::ok ||
            h.total_size() > size - batch_end) {
          return step::bad;  // read() checked it: not what it verified
        }
        at = batch_end + io::batch_header_size;
        batch_end += static_cast<std::size_t>(h.total_size());
        batch_next = h.next_offset();
      }
      frame_header fh;
      if (at + sizeof fh > batch_end) return step::bad;  // frames fill a batch exactly
      std::memcpy(&fh, buf.data() + at, sizeof fh);
      const std::size_t footprint = frame_footprint(fh.length);
      if (footprint > batch_end - at || footprint < sizeof fh) return step::bad;
      if ((fh.flags & frame_flags::padding) != 0) {
        at += footprint;
        continue;
      }
      rec = buf.data() + at + sizeof(frame_header);
      if (!record_fits(rec, fh.length)) return step::bad;
      after = at + footprint;
      return step::record;
    }
  }
};

}  // namespace lanes::detail
