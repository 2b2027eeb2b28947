// modes/disk_cursor.cpp: a consumer's read path over a durable partition's segment files.
#include "disk_cursor.hpp"

#include <algorithm>

#include "bus_state.hpp"

namespace lanes::detail {

disk_cursor::result disk_cursor::fill(const partition_state& p, std::string_view topic,
                                      poll_batch& out, std::uint64_t limit, std::uint64_t poll_seq,
                                      std::uint64_t& next_offset) {
  if (next != next_offset) clear();  // moved (seek, reset): what was read is stale
  const std::uint32_t max_batch = p.persist->max_batch_bytes;
  for (;;) {
    const std::byte* rec = nullptr;
    std::size_t after = 0;
    step got = step::end;
    while (!out.full() && (got = peek(max_batch, rec, after)) == step::record) {
      const std::uint64_t off = decode_record_header(rec).offset;
      if (off >= limit) return result::ok;  // not durable yet: stays in the buffer
      at = after;
      if (off < next_offset) continue;  // the first batch may start before us
      out.add(rec, topic, p.id);
      next_offset = off + 1;
      next = next_offset;
      used_in = poll_seq;
    }
    if (got == step::bad) {
      skip_to = std::max(batch_next, next_offset + 1);
      clear();
      return result::bad_data;
    }
    if (out.full() || next_offset >= limit) return result::ok;
    if (used_in == poll_seq) return result::ok;  // views of this poll point into it
    // The buffer is used up: the next whole batches, read and checked once.
    io::read_result r = persist_read(p, next_offset, buf);
    if (r.status == errc::invalid_argument && r.needed > buf.size()) {
      buf.resize(r.needed);  // a batch larger than any seen so far (cold)
      r = persist_read(p, next_offset, buf);
    }
    if (r.status == errc::offset_out_of_range) {
      clear();
      return result::overrun;
    }
    if (r.status == errc::corrupt_batch) {
      clear();
      damage = r;
      return result::damaged;
    }
    if (r.status != errc::ok || r.bytes == 0) return result::ok;
    load(r.bytes, next_offset);
  }
}

}  // namespace lanes::detail
