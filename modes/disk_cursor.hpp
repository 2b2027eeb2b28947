// modes/disk_cursor.hpp (internal): a consumer's read path on a durable partition while it is
// behind the ring: read-ahead over the partition's segment files (modes/disk_cursor.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "lanes/partition_log.hpp"
#include "lanes/record.hpp"
#include "lanes/segment_format.hpp"
#include "poll_batch.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

struct partition_state;

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

  // What fill() met.
  enum class result {
    ok,        // out is full, or nothing more is readable (yet) at next_offset
    overrun,   // disk retention passed next_offset too
    damaged,   // a damaged batch at next_offset: `damage` says where
    bad_data,  // a batch with a good CRC whose frames or records do not fit; skip to `skip_to`
  };
  // Adds the records of durable partition `p` at next_offset and below `limit` to `out` (views
  // into buf, valid until the next poll that refills it), reading and verifying whole batches
  // when what was read is used up; next_offset follows them. poll_seq: the consumer's poll
  // number. The consumer's thread only; allocates only when a batch larger than any seen so
  // far comes (cold). damaged sets `damage`, bad_data `skip_to`.
  result fill(const partition_state& p, std::string_view topic, poll_batch& out,
              std::uint64_t limit, std::uint64_t poll_seq, std::uint64_t& next_offset);
  io::read_result damage{};
  std::uint64_t skip_to = 0;

  void load(std::size_t bytes, std::uint64_t next_offset) noexcept {
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
      frame_walker w({buf.data() + at, batch_end - at});
      record_frame f;
      switch (w.next(f)) {
        case frame_step::end: at = batch_end; continue;  // only padding was left
        case frame_step::record: break;
        default: return step::bad;  // frames fill a batch exactly, records their frames
      }
      if (!record_fits(f.rec, f.frame.length)) return step::bad;
      rec = f.rec;
      after = at + w.position();
      return step::record;
    }
  }
};

}  // namespace lanes::detail
