// modes/poll_batch.hpp (internal): the records one consumer poll hands out, as the read
// cursors (ring_cursor, copying_cursor, disk_cursor) add them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lanes/record.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

// Views of one poll: views[0, n) are filled, up to capacity. The consumer's thread only;
// no allocation (the views are the consumer's, sized max_poll_records).
struct poll_batch {
  record_view* views = nullptr;
  std::size_t capacity = 0;
  std::size_t n = 0;

  bool full() const noexcept { return n >= capacity; }
  // Adds a view of the whole record at `rec` (of topic/partition); returns its offset.
  std::uint64_t add(const std::byte* rec, std::string_view topic,
                    std::uint32_t partition) noexcept {
    record_view& r = views[n++];
    fill_record_view(r, rec, topic, partition);
    return r.offset;
  }
};

}  // namespace lanes::detail
