// modes/partition.cpp: a log partition's offsets, index and log start.
#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>

#include "bus_state.hpp"
#include "lanes/clock.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

namespace {
// Smallest footprint of a record frame: frame header + record header, no key or value.
constexpr std::uint64_t min_record_footprint = frame_footprint(sizeof(record_header));

std::uint64_t index_entries_for(std::size_t capacity) {
  // The ring can hold at most capacity / min_record_footprint records; a power of two at
  // least that large means an entry is reused only after its record left the ring.
  return std::bit_ceil(capacity / min_record_footprint + 1);
}

}  // namespace

partition_state::partition_state(const topic_config& c, std::uint32_t pid)
    : id(pid),
      ring(c.ring_capacity, c.producers, c.max_readers + 1),
      index(std::make_unique<std::atomic<std::uint32_t>[]>(index_entries_for(c.ring_capacity))),
      index_mask(index_entries_for(c.ring_capacity) - 1) {
  retention = ring.add_reader();
  if (c.prefault) ring.prefault();
}

std::uint64_t partition_state::position_of(std::uint64_t offset) const noexcept {
  const std::uint64_t start = log_start_position.load(std::memory_order_acquire);
  const std::uint64_t end = end_offset.load(std::memory_order_acquire);
  const std::uint64_t mask = ring.capacity() - 1;
  auto locate = [&](std::uint64_t o) {
    const std::uint64_t at = index[o & index_mask].load(std::memory_order_relaxed);
    // Entries are ring offsets; the record lies within one capacity after the log start.
    return start + ((at - (start & mask)) & mask);
  };
  if (offset < end) return locate(offset);
  if (offset == log_start_offset.load(std::memory_order_acquire)) return start;
  // offset == end: right after the last record.
  const std::uint64_t last = locate(offset - 1);
  // The last record's frame header was written before end_offset was released.
  return last + frame_footprint(ring.frame_at(last).length);
}

void partition_state::set_log_start(std::uint64_t position, std::uint64_t offset) noexcept {
  // Order matters for consumers that pin (overwrite policy, see frame_ring::reader::pin):
  // the new log start is visible before producers can see the retention cursor move.
  log_start_position.store(position, std::memory_order_seq_cst);
  retention.reset_to(position);
  retention.pin();  // producers may now reuse the space
  log_start_offset.store(offset, std::memory_order_release);
}

template <class Pred>
std::uint64_t partition_state::drop_oldest(std::uint64_t limit, Pred&& keep_going) noexcept {
  std::uint64_t dropped = 0;
  frame_view f;
  while (retention.try_peek(f) && f.position < limit) {
    if (!keep_going(decode_record_header(f.data), f)) break;
    retention.advance(f);
    ++dropped;
  }
  // try_peek also steps over padding (wraps, aborted claims): give that space back too even
  // when no record went, or a ring full of aborted claims would stay full for good.
  if (retention.position() != log_start_position.load(std::memory_order_relaxed)) {
    set_log_start(retention.position(), log_start_offset.load(std::memory_order_relaxed) + dropped);
  }
  return dropped;
}

bool partition_state::drop_before(std::uint64_t target, std::uint64_t limit) noexcept {
  const std::uint64_t from = log_start_position.load(std::memory_order_relaxed);
  if (target > limit) target = limit;
  if (target <= from) return false;
  // Offsets [lo, hi) are retained; their positions grow with the offset. Find the first
  // one at or after target.
  std::uint64_t lo = log_start_offset.load(std::memory_order_relaxed);
  std::uint64_t hi = end_offset.load(std::memory_order_acquire);
  const std::uint64_t end = hi;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (position_of(mid) < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  // Every record before `lo` ends at or before limit (limit is a frame boundary after
  // their start). With no record left, only padding lies between them and limit.
  const std::uint64_t position = lo < end ? position_of(lo) : limit;
  if (position <= from) return false;
  set_log_start(position, lo);
  return true;
}

bool partition_state::make_room(std::uint64_t want_bytes) noexcept {
  std::lock_guard lock(mu);
  // Free at least want_bytes and about an eighth of the ring, so that this lock is taken
  // once per many publishes when the ring is full of retained records. Only what every
  // other reader has released may go.
  const std::uint64_t chunk = std::max<std::uint64_t>(want_bytes, ring.capacity() / 8);
  return drop_before(log_start_position.load(std::memory_order_relaxed) + chunk,
                     ring.min_reader_position(&retention));
}

void partition_state::enforce_retention(std::size_t retention_bytes, std::chrono::nanoseconds age,
                                        std::int64_t now_realtime_ns) noexcept {
  std::lock_guard lock(mu);
  const std::uint64_t published = ring.published_position();
  if (retention_bytes != 0 && published > retention_bytes) {
    drop_before(published - retention_bytes, published);
  }
  if (age.count() > 0) {
    const std::int64_t cutoff = now_realtime_ns - age.count();
    drop_oldest(published,
                [&](const record_header& h, const frame_view&) { return h.timestamp_ns < cutoff; });
  }
}

}  // namespace lanes::detail
