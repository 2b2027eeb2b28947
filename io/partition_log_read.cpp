// io/partition_log_read.cpp: a partition log's reads, retention (dropping whole segments),
// checkpoints and close.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <thread>

#include "lanes/clock.hpp"
#include "lanes/crc32c.hpp"
#include "lanes/file_io.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_scan.hpp"
#include "lanes/uring.hpp"
#include "partition_log_slots.hpp"
#include "segment.hpp"

namespace lanes::io {

using namespace log_detail;

// ---------------------------------------------------------------------------------------
// reads, retention, checkpoint, close

std::size_t partition_log::segment_count() const noexcept {
  std::lock_guard lock(seg_mutex_);
  return segments_.size();
}

namespace {

// Where a read is in its segment: the batch at file position `pos` must start at offset
// `expected`; no batch at or past `stop` (the written point, or the next segment) is read.
struct read_cursor {
  const segment& seg;
  std::uint64_t pos = 0;
  std::uint64_t expected = 0;
  std::uint64_t stop = 0;

  // Damage at (pos, expected): reported when nothing good came before it in this read (the
  // next read starts there and reports it then).
  void damaged(read_result& r) const noexcept {
    if (r.batches != 0) return;
    r.status = errc::corrupt_batch;
    r.damaged_segment = seg.base;
    r.damaged_position = pos;
    r.damaged_offset = expected;
    r.skip_to = seg.offset_after_position(pos, stop);
  }
};

// From the index entry's batch to the one holding `offset`, reading batch headers only.
// False on damage (a header that does not decode or does not follow on).
bool seek_batch(read_cursor& c, std::uint64_t offset, std::uint32_t max_batch) noexcept {
  file_source src(c.seg.fd, UINT64_MAX);
  std::byte head[batch_header_size];
  while (c.expected < c.stop) {
    batch_header h;
    if (!src.read_at(c.pos, head, sizeof head) ||
        decode_batch_header({head, sizeof head}, max_batch, h) != batch_status::ok ||
        h.base_offset != c.expected) {
      return false;
    }
    if (h.next_offset() > offset) break;  // the batch holding `offset`
    c.pos += h.total_size();              // before it: skipped without reading it
    c.expected = h.next_offset();
  }
  return true;
}

// One pread per buffer (batches lie back to back); short only at the end of the file.
std::size_t pread_full(int fd, std::span<std::byte> buffer, std::uint64_t pos) noexcept {
  std::size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n =
        ::pread(fd, buffer.data() + got, buffer.size() - got, static_cast<off_t>(pos + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// The whole batches among the `got` bytes read at c.pos, each checked against its CRC once,
// here, before a byte of it is handed out.
void take_batches(read_cursor& c, std::span<const std::byte> buffer, std::size_t got,
                  std::uint32_t max_batch, read_result& r) noexcept {
  std::size_t at = 0;
  const std::uint64_t first_pos = c.pos;
  while (c.expected < c.stop) {
    c.pos = first_pos + at;
    batch_header h;
    if (got - at < batch_header_size) {
      if (at == 0) c.damaged(r);  // the file ends (or cannot be read) where a batch should be
      return;
    }
    if (decode_batch_header({buffer.data() + at, batch_header_size}, max_batch, h) !=
            batch_status::ok ||
        h.base_offset != c.expected) {
      c.damaged(r);
      return;
    }
    const std::uint64_t total = h.total_size();
    if (total > got - at) {
      if (at == 0 && total > buffer.size()) {
        r.status = errc::invalid_argument;
        r.needed = static_cast<std::size_t>(total);
      } else if (at == 0) {
        c.damaged(r);  // the file is shorter than a batch it holds below the written point
      }
      return;  // the rest comes with the next read
    }
    batch_header check;
    std::span<const std::byte> payload;
    if (decode_batch({buffer.data() + at, static_cast<std::size_t>(total)}, max_batch, check,
                     payload) != batch_status::ok) {
      c.damaged(r);
      return;  // what came before is good; the next read reports the damage
    }
    if (r.batches == 0) r.first_offset = h.base_offset;
    at += static_cast<std::size_t>(total);
    r.bytes = at;
    r.next_offset = h.next_offset();
    ++r.batches;
    c.expected = h.next_offset();
  }
}

}  // namespace

read_result partition_log::read(std::uint64_t offset, std::span<std::byte> buffer) const noexcept {
  read_result r;
  const errc st = status_.load(std::memory_order_acquire);
  const bool healthy = st == errc::ok || st == errc::closed;
  const std::uint64_t limit = healthy ? written_.load(std::memory_order_acquire)  // handle_write
                                      : durable_.load(std::memory_order_acquire);
  std::shared_ptr<segment> seg;
  std::uint64_t seg_end = UINT64_MAX;
  {
    std::lock_guard lock(seg_mutex_);
    if (segments_.empty() || offset < segments_.front()->base) {
      r.status = errc::offset_out_of_range;
      return r;
    }
    if (offset >= limit) {
      r.status = offset > appended_.load(std::memory_order_relaxed) ? errc::offset_out_of_range
                                                                    : errc::empty;
      return r;
    }
    auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                               [](std::uint64_t o, const auto& s) { return o < s->base; });
    --it;
    seg = *it;
    if (it + 1 != segments_.end()) seg_end = (*(it + 1))->base;
  }
  read_cursor c{*seg, 0, 0, std::min(limit, seg_end)};
  seg->find_position(offset, c.pos, c.expected);
  // A reader going through the log asks for the offset a batch starts with, which the index
  // has (batches bigger than index_interval_bytes are each indexed): then the header is
  // checked in the buffer below, not read on its own first. That small read in front of
  // every buffer restarted the kernel's read-ahead each time: a cold sequential read of
  // 1 MiB buffers ran at ~0.9 GB/s with it and ~4 GB/s without it on this machine.
  if (c.expected != offset && !seek_batch(c, offset, opt_.max_batch_bytes)) {
    c.damaged(r);
    return r;
  }
  if (c.expected >= c.stop) {
    r.status = errc::empty;
    return r;
  }
  const std::size_t got = pread_full(seg->fd, buffer, c.pos);
  take_batches(c, buffer, got, opt_.max_batch_bytes, r);
  if (r.batches == 0 && r.status == errc::ok) r.status = errc::empty;
  return r;
}

// Deletes the oldest segment while it is sealed and durable (its successor's base is at or
// below the durable offset) and `drop(oldest, next_base)` says so. Shared by retention and
// the queue's deletion of fully acked segments.
template <class Pred>
std::size_t partition_log::drop_front(Pred&& drop) noexcept {
  if (opt_.read_only) return 0;
  const std::uint64_t durable = durable_.load(std::memory_order_relaxed);
  // Which segments go: whole, durable, sealed ones from the front, while drop() says so.
  std::size_t n = 0;
  while (n + 1 < segments_.size()) {
    const std::uint64_t next_base = segments_[n + 1]->base;
    if (next_base > durable || !drop(*segments_[n], next_base)) break;
    ++n;
  }
  if (n == 0) return 0;
  std::vector<std::shared_ptr<segment>> gone;
  {
    // The checkpoint names the new log start before any file goes: a crash in between
    // leaves files below the log start, which recovery finishes deleting; a segment missing
    // at or after the log start is then always damage, never retention (io/FORMAT.md,
    // Recovery). Under cp_mutex_, so that no checkpoint with the old start follows it.
    std::lock_guard cp_lock(cp_mutex_);
    if (write_checkpoint(false, segments_[n]->base) != errc::ok) return 0;
    std::lock_guard lock(seg_mutex_);
    gone.assign(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
    start_.store(segments_.front()->base,
                 std::memory_order_release);  // pairs with log_start_offset()
  }
  // Open readers keep the file (their descriptor) until they drop the segment.
  for (const auto& g : gone) {
    for (const char* ext : {".log", ".index", ".timeindex"}) {
      ::unlink(g->sibling(ext).c_str());
      crash_point("retention_delete");  // some of the segment's files gone, not all
    }
  }
  (void)fsync_dir(dir_);
  return n;
}

std::size_t partition_log::enforce_retention(std::uint64_t max_bytes,
                                             std::chrono::nanoseconds max_age,
                                             std::int64_t now_ns) noexcept {
  if (closed_) return 0;
  if (now_ns < 0) now_ns = realtime_ns();
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->size;
  return drop_front([&](const segment& oldest, std::uint64_t) {
    const bool by_bytes = max_bytes > 0 && total - oldest.size >= max_bytes;
    const bool by_age = max_age.count() > 0 && oldest.max_ts != INT64_MIN &&
                        oldest.max_ts < now_ns - max_age.count();
    if (!by_bytes && !by_age) return false;
    total -= oldest.size;
    return true;
  });
}

std::size_t partition_log::delete_segments_below(std::uint64_t offset) noexcept {
  if (closed_) return 0;
  return drop_front([&](const segment&, std::uint64_t next_base) { return next_base <= offset; });
}

errc partition_log::write_checkpoint(bool clean, std::uint64_t log_start) noexcept {
  if (opt_.read_only) return errc::ok;
  io::checkpoint cp;
  cp.clean = clean;
  cp.durable_offset = durable_.load(std::memory_order_acquire);  // pairs with handle_sync
  cp.log_start_offset = log_start;
  cp.active_base = active_base_.load(std::memory_order_relaxed);
  cp.active_size = active_size_.load(std::memory_order_relaxed);
  std::byte bytes[checkpoint_size];
  encode_checkpoint(cp, bytes);
  file_status w = write_file_atomically(dir_, "checkpoint", bytes);
  if (!w) {
    last_file_error_ = w.what;
    return w.status;
  }
  cp_durable_.store(cp.durable_offset, std::memory_order_release);
  cp_start_.store(log_start, std::memory_order_relaxed);
  return errc::ok;
}

errc partition_log::write_checkpoint(bool clean) noexcept {
  return write_checkpoint(clean, start_.load(std::memory_order_relaxed));
}

errc partition_log::checkpoint() noexcept {
  std::lock_guard lock(cp_mutex_);
  if (cp_closed_ || !opened_) return errc::closed;
  if (durable_.load(std::memory_order_acquire) == cp_durable_.load(std::memory_order_relaxed) &&
      start_.load(std::memory_order_acquire) == cp_start_.load(std::memory_order_relaxed)) {
    return errc::ok;  // nothing changed: an idle log writes nothing
  }
  return write_checkpoint(false);
}

errc partition_log::set_completion_eventfd(int eventfd) noexcept {
  return ring_ ? ring_->register_eventfd(eventfd) : errc::io_uring_unavailable;
}

std::int64_t partition_log::next_deadline_ns() const noexcept {
  if (opt_.mode != durability::async || sync_inflight_ || unsynced_bytes_ == 0 ||
      status_.load(std::memory_order_relaxed) != errc::ok) {
    return INT64_MAX;
  }
  return oldest_unsynced_ns_ +
         std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.sync_interval).count();
}

errc partition_log::close() noexcept {
  if (!opened_ || opt_.read_only) {
    // open() refused this log (damage, a bad file): nothing was changed on disk, and
    // nothing may be now, so that every later open refuses the same way until a person acts.
    // A read-only log never writes either.
    if (!closed_) {
      closed_ = true;
      fail(errc::closed);
      notify();
      std::lock_guard lock(seg_mutex_);
      segments_.clear();
      active_ = nullptr;
    }
    return errc::ok;
  }
  if (closed_) {
    const errc st = status_.load(std::memory_order_relaxed);
    return st == errc::closed ? errc::ok : st;
  }
  // The kernel holds the callers' memory until every request completes.
  while (inflight_ops_ > 0) {
    reap(std::chrono::milliseconds(100));
    if (status_.load(std::memory_order_relaxed) != errc::ok && unsubmitted_ > 0) {
      // Entries the kernel never accepted will not complete; nothing can wait for them.
      break;
    }
  }
  errc result = status_.load(std::memory_order_relaxed);
  if (result == errc::ok) {
    const errc f = flush(std::chrono::seconds(60));
    if (f != errc::ok) result = f;
  }
  if (result == errc::ok && active_ != nullptr) {
    try {
      segment& a = *active_;
      auto tidx = a.tidx;
      if (a.max_ts != INT64_MIN && (tidx.empty() || a.max_ts > tidx.back().timestamp_ns)) {
        tidx.push_back({a.max_ts, static_cast<std::uint32_t>(a.next_offset - 1 - a.base), 0});
      }
      const auto ia = encode_index(file_kind::offset_index, a.base, a.idx.get(),
                                   a.idx_count.load(std::memory_order_relaxed));
      const auto ib = encode_index(file_kind::time_index, a.base, tidx.data(), tidx.size());
      if (!write_file(a.sibling(".index"), ia, true) ||
          !write_file(a.sibling(".timeindex"), ib, true)) {
        result = errc::file_error;
      }
    } catch (...) {
      result = errc::file_error;
    }
  }
  {
    std::lock_guard lock(cp_mutex_);
    (void)write_checkpoint(result == errc::ok);
    cp_closed_ = true;
  }
  closed_ = true;
  fail(errc::closed);  // healthy logs become closed; failed ones keep their error
  notify();
  if (inflight_ops_ == 0) {
    std::lock_guard lock(seg_mutex_);
    segments_.clear();
    active_ = nullptr;
    ring_.reset();
  }
  return result;
}

}  // namespace lanes::io
