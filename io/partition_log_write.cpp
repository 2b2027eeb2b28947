// io/partition_log_write.cpp: a partition log's appends through io_uring, their completions,
// group commit (fdatasync), durable waits, stats.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
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
// append and completions

append_result partition_log::append(std::span<const iovec> frames, std::uint64_t first_offset,
                                    std::uint32_t count, std::int64_t first_timestamp_ns,
                                    std::int64_t max_timestamp_ns) noexcept {
  append_result r;
  const errc st = status_.load(std::memory_order_relaxed);
  if (st != errc::ok || active_ == nullptr) {
    r.status = st != errc::ok ? st : errc::read_only;
    return r;
  }
  std::uint64_t total = 0;
  for (const iovec& v : frames) total += v.iov_len;
  if (count == 0 || frames.size() > max_iovecs || total > opt_.max_batch_bytes ||
      first_offset != appended_.load(std::memory_order_relaxed) ||
      first_timestamp_ns > max_timestamp_ns || first_offset > UINT64_MAX - count) {
    r.status = errc::invalid_argument;
    return r;
  }
  if (free_.empty()) {
    r.status = errc::full;
    return r;
  }
  const std::uint64_t batch_bytes = batch_header_size + total;
  if (const errc e = roll_if_due(first_offset + count, batch_bytes); e != errc::ok) {
    r.status = e;
    return r;
  }
  const std::uint32_t i = free_.back();
  free_.pop_back();
  write_slot& s = slots_[i];
  batch_header h;
  h.base_offset = first_offset;
  h.count = count;
  h.payload_length = static_cast<std::uint32_t>(total);
  h.first_timestamp_ns = first_timestamp_ns;
  h.max_timestamp_ns = max_timestamp_ns;
  encode_batch_header(h, s.header);
  h.crc = batch_crc(s.header, frames);
  encode_batch_header(h, s.header);
  s.iov[0] = {s.header, batch_header_size};
  for (std::size_t k = 0; k < frames.size(); ++k) s.iov[k + 1] = frames[k];
  s.iov_first = 0;
  s.iov_count = static_cast<unsigned>(frames.size() + 1);
  s.pos = active_->size;
  s.left = batch_bytes;
  s.bytes = static_cast<std::uint32_t>(batch_bytes);
  s.end_offset = first_offset + count;
  s.seg = active_;
  s.done = false;

  segment& seg = *active_;
  if (seg.bytes_since_index >= opt_.index_interval_bytes) {
    seg.bytes_since_index = 0;
    seg.add_index(first_offset, seg.size, max_timestamp_ns);
  }
  seg.bytes_since_index += batch_bytes;
  seg.size += batch_bytes;
  active_size_.store(seg.size, std::memory_order_relaxed);  // for checkpoints (any thread)
  seg.next_offset = s.end_offset;
  ++seg.batches;
  if (max_timestamp_ns > seg.max_ts) seg.max_ts = max_timestamp_ns;

  fifo_[(fifo_head_ + fifo_size_) % fifo_.size()] = i;
  ++fifo_size_;
  appended_.store(s.end_offset, std::memory_order_relaxed);
  if (opt_.mode == durability::sync) {
    write_inline(i);
  } else if (!submit_write(i)) {
    r.status = status_.load(std::memory_order_relaxed);
    return r;
  }
  submit_pending();
  r.end_offset = s.end_offset;
  return r;
}

// A sync log writes on the owner thread: a write to the page cache takes microseconds, and
// the group's fdatasync can then be submitted in the same pass. Through io_uring, this
// kernel hands buffered ext4 writes to an io-wq worker, so each sync group cost two
// worker hand-offs and two wake-ups of the owner instead of one (BENCHMARKS.md, sync
// latency). The result goes through the completion path (faults, short writes, errors).
void partition_log::write_inline(std::uint32_t i) noexcept {
  write_slot& s = slots_[i];
  const ssize_t n =
      ::pwritev(s.seg->fd, &s.iov[s.iov_first], static_cast<int>(s.iov_count - s.iov_first),
                static_cast<off_t>(s.pos));
  handle_write(i, n < 0 ? -errno : static_cast<int>(n));
}

// A new segment before a batch that would make the active one too large (bytes, or offsets
// beyond 32 bits from its base) or that comes after its age. A segment that cannot be made
// (ENOSPC, EIO...) fails the log, as a failed write does: producers and durability waiters
// get the error instead of waiting for room forever.
errc partition_log::roll_if_due(std::uint64_t end_offset, std::uint64_t batch_bytes) noexcept {
  if (active_->batches == 0) return errc::ok;
  bool roll_now =
      active_->size + batch_bytes > opt_.segment_bytes || end_offset - active_->base > UINT32_MAX;
  std::int64_t now = 0;
  if (!roll_now && opt_.segment_age.count() > 0) {
    now = realtime_ns();
    roll_now = now - active_->created_ns >=
               std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.segment_age).count();
  }
  if (!roll_now) return errc::ok;
  const errc e = roll(now != 0 ? now : realtime_ns());
  if (e != errc::ok) {
    fail(e);
    notify();
  }
  return e;
}

bool partition_log::submit_write(std::uint32_t i) noexcept {
  io_uring_sqe* sqe = ring_->get_sqe();
  if (sqe == nullptr) {
    submit_pending();
    sqe = ring_->get_sqe();
  }
  if (sqe == nullptr) {  // cannot happen with the ring sized for every request
    fail(errc::io_error);
    return false;
  }
  write_slot& s = slots_[i];
  io_uring_prep_writev(sqe, s.seg->fd, &s.iov[s.iov_first], s.iov_count - s.iov_first, s.pos);
  io_uring_sqe_set_data64(sqe, i);
  ++inflight_ops_;
  ++unsubmitted_;
  return true;
}

void partition_log::submit_pending() noexcept {
  while (unsubmitted_ > 0) {
    const int rc = ring_->submit();
    if (rc > 0) {
      unsubmitted_ -= std::min<std::size_t>(unsubmitted_, static_cast<std::size_t>(rc));
      continue;
    }
    // -EBUSY/-EAGAIN (completions to reap first), -EINTR: the entries stay queued and the
    // next poll submits them. Anything else is a broken ring.
    if (rc != -EBUSY && rc != -EAGAIN && rc != -EINTR && rc != 0) fail(errc::io_error);
    return;
  }
}

void partition_log::handle_write(std::uint32_t i, int res) noexcept {
  write_slot& s = slots_[i];
  res = faults_.on_completion(fault_op::write, res);
  const bool failed = status_.load(std::memory_order_relaxed) != errc::ok;
  if (res == -EAGAIN || res == -EINTR) {
    bump(counters_.again);
    if (!failed) submit_write(i);
    return;
  }
  if (res < 0) {
    fail(errc_of_errno(-res));
    return;
  }
  if (res == 0) {  // no progress on a regular file: treat as the device refusing
    fail(errc::io_error);
    return;
  }
  auto n = static_cast<std::uint64_t>(res);
  if (n < s.left) {
    // Short write: step over what was written and resubmit the rest.
    bump(counters_.short_writes);
    s.left -= n;
    s.pos += n;
    while (n > 0) {
      iovec& v = s.iov[s.iov_first];
      if (n >= v.iov_len) {
        n -= v.iov_len;
        ++s.iov_first;
      } else {
        v.iov_base = static_cast<std::byte*>(v.iov_base) + n;
        v.iov_len -= n;
        n = 0;
      }
    }
    if (!failed) submit_write(i);
    return;
  }
  s.done = true;
  s.left = 0;
  s.seg->dirty = true;
  bump(counters_.batches_written);
  bump(counters_.bytes_written, s.bytes);
  if (unsynced_bytes_ == 0) oldest_unsynced_ns_ = steady_ns();
  unsynced_bytes_ += s.bytes;
  // Advance written_ over the completed prefix, in append order.
  std::uint64_t w = 0;
  while (fifo_size_ > 0 && slots_[fifo_[fifo_head_]].done) {
    const std::uint32_t k = fifo_[fifo_head_];
    w = slots_[k].end_offset;
    slots_[k].done = false;
    free_.push_back(k);
    fifo_head_ = (fifo_head_ + 1) % fifo_.size();
    --fifo_size_;
  }
  if (w != 0) written_.store(w, std::memory_order_release);  // pairs with read(), flush()
}

void partition_log::handle_sync(int res) noexcept {
  res = faults_.on_completion(fault_op::sync, res);
  if (res < 0) {
    // PostgreSQL's lesson: a failed fsync is never retried and then trusted. The group
    // does not count and the log is failed.
    sync_group_failed_ = true;
    fail(errc::sync_failed);
  } else {
    bump(counters_.syncs);
  }
  if (--sync_ops_left_ > 0) return;
  sync_inflight_ = false;
  const auto took =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, steady_ns() - sync_started_ns_));
  std::size_t b = 0;
  while (b < log_stats::sync_bounds_ns.size() && took > log_stats::sync_bounds_ns[b]) ++b;
  bump(counters_.sync_latency[b]);
  bump(counters_.sync_latency_sum_ns, took);
  if (!sync_group_failed_ && status_.load(std::memory_order_relaxed) == errc::ok) {
    // Every write below sync_target_ completed in full before this group was submitted,
    // and every fdatasync of the group returned 0.
    durable_.store(sync_target_, std::memory_order_seq_cst);  // pairs with wait_durable
  }
  sync_group_failed_ = false;
}

bool partition_log::sync_due(std::int64_t now_mono) const noexcept {
  const std::uint64_t w = written_.load(std::memory_order_relaxed);
  if (sync_inflight_ || w <= durable_.load(std::memory_order_relaxed)) return false;
  if (synced_request_ > durable_.load(std::memory_order_relaxed)) return true;
  switch (opt_.mode) {
    case durability::sync: return true;
    case durability::async:
      return unsynced_bytes_ >= opt_.sync_bytes ||
             now_mono - oldest_unsynced_ns_ >=
                 std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.sync_interval).count();
    case durability::none: return false;
  }
  return false;
}

void partition_log::start_sync_group() noexcept {
  crash_point("after_write");  // written, not synced
  const std::uint64_t target = written_.load(std::memory_order_relaxed);
  const std::uint64_t durable = durable_.load(std::memory_order_relaxed);
  // Segments written since the last group: the active one and ones rolled meanwhile.
  auto for_each_dirty = [&](auto&& fn) {
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      segment& seg = **it;
      if (seg.dirty) {
        fn(seg);
      } else if (seg.next_offset <= durable) {
        break;
      }
    }
  };
  std::size_t ops = 0;
  for_each_dirty([&](segment&) { ++ops; });
  if (ops == 0) return;
  // A roll since the last group: the new segment's directory entry joins this group.
  const bool sync_dir = dir_unsynced_;
  dir_unsynced_ = false;
  if (sync_dir) ++ops;
  sync_inflight_ = true;
  sync_ops_left_ = ops;
  sync_group_failed_ = false;
  sync_target_ = target;
  unsynced_bytes_ = 0;
  bump(counters_.sync_groups);
  sync_started_ns_ = steady_ns();
  if (opt_.mode == durability::sync) {
    // A sync log's owner calls fdatasync itself, as it writes (write_inline): through
    // io_uring the call goes to an io-wq worker and its completion comes back through the
    // eventfd, two thread wake-ups that cost as much as the disk on this machine. Records
    // published meanwhile wait for the next group, as they would behind an fdatasync in
    // flight; other partitions' logs wait for this one (the owner serves them all).
    std::size_t left = ops;
    if (sync_dir) {
      --left;
      handle_sync(::fsync(dir_fd_) == 0 ? 0 : -errno);
    }
    for_each_dirty([&](segment& seg) {
      if (left == 0) return;  // the group completed: nothing else was counted in it
      --left;
      seg.dirty = false;
      handle_sync(::fdatasync(seg.fd) == 0 ? 0 : -errno);
    });
    return;
  }
  auto submit_sync = [&](int fd, unsigned flags) {
    io_uring_sqe* sqe = ring_->get_sqe();
    if (sqe == nullptr) {
      submit_pending();
      sqe = ring_->get_sqe();
    }
    if (sqe == nullptr) {
      // Cannot happen with the ring sized for every request. The group never completes;
      // the log is failed, so nothing waits for it.
      fail(errc::io_error);
      return false;
    }
    io_uring_prep_fsync(sqe, fd, flags);
    io_uring_sqe_set_data64(sqe, sync_tag | static_cast<std::uint32_t>(fd));
    ++inflight_ops_;
    ++unsubmitted_;
    return true;
  };
  if (sync_dir && !submit_sync(dir_fd_, 0)) return;
  for_each_dirty([&](segment& seg) {
    if (submit_sync(seg.fd, IORING_FSYNC_DATASYNC)) seg.dirty = false;
  });
  submit_pending();
}

void partition_log::reap(std::chrono::nanoseconds timeout) noexcept {
  submit_pending();
  bool may_wait = timeout.count() > 0 && inflight_ops_ > 0;
  const unsigned dropped_before = ring_->dropped();
  for (;;) {
    io_uring_cqe* cqe = may_wait ? ring_->wait(timeout) : ring_->peek();
    may_wait = false;
    if (cqe == nullptr) break;
    const std::uint64_t data = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    ring_->seen(cqe);
    --inflight_ops_;
    if ((data & sync_tag) != 0) {
      handle_sync(res);
    } else {
      handle_write(static_cast<std::uint32_t>(data), res);
    }
  }
  if (ring_->dropped() != dropped_before) fail(errc::completion_lost);
  submit_pending();
}

errc partition_log::poll_completions(std::chrono::nanoseconds timeout) noexcept {
  if (closed_) return status_.load(std::memory_order_relaxed);
  reap(timeout);
  // A durability waiter raises async to sync: everything appended so far is synced now. Not
  // consumed here: the record it waits for may still be on its way from the ring (the
  // persister appends after this call), and the next call covers it too.
  if (sync_wanted_to_.load(std::memory_order_acquire) > synced_request_ &&
      waiters_.load(std::memory_order_acquire) > 0) {
    const std::uint64_t a = appended_.load(std::memory_order_relaxed);
    if (a > synced_request_) synced_request_ = a;
  }
  if (status_.load(std::memory_order_relaxed) == errc::ok &&
      sync_due(opt_.mode == durability::async ? steady_ns() : 0)) {
    start_sync_group();
  }
  notify();
  return status_.load(std::memory_order_relaxed);
}

errc partition_log::flush(std::chrono::nanoseconds timeout) noexcept {
  const std::uint64_t target = appended_.load(std::memory_order_relaxed);
  if (target > synced_request_) synced_request_ = target;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const errc st = status_.load(std::memory_order_relaxed);
    if (st != errc::ok) return st;
    if (durable_.load(std::memory_order_relaxed) >= target) return errc::ok;
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return errc::timeout;
    poll_completions(std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(10)));
  }
}

log_stats partition_log::stats() const noexcept {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  log_stats s;
  s.batches_written = get(counters_.batches_written);
  s.bytes_written = get(counters_.bytes_written);
  s.short_writes = get(counters_.short_writes);
  s.again = get(counters_.again);
  s.syncs = get(counters_.syncs);
  s.sync_groups = get(counters_.sync_groups);
  s.segments_rolled = get(counters_.segments_rolled);
  for (std::size_t b = 0; b < s.sync_latency.size(); ++b)
    s.sync_latency[b] = get(counters_.sync_latency[b]);
  s.sync_latency_sum_ns = get(counters_.sync_latency_sum_ns);
  return s;
}

void partition_log::fail(errc e) noexcept {
  errc expected = errc::ok;
  // The first error wins; release pairs with the acquire in status().
  status_.compare_exchange_strong(expected, e, std::memory_order_acq_rel);
}

void partition_log::notify() noexcept {
  const std::uint64_t d = durable_.load(std::memory_order_relaxed);
  const errc st = status_.load(std::memory_order_relaxed);
  if (d == notified_durable_ && st == notified_status_) return;
  notified_durable_ = d;
  notified_status_ = st;
  if (callback_ != nullptr) callback_(callback_ctx_, d, st);
  // Dekker with wait_durable: durable_/status_ were stored before this fence, a waiter
  // increments waiters_ before checking them; one of the two sees the other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_relaxed) > 0) {
    { std::lock_guard lock(wait_mutex_); }
    wait_cv_.notify_all();
  }
}

errc partition_log::wait_durable(std::uint64_t offset, std::chrono::nanoseconds timeout) noexcept {
  const auto ready = [&] {
    return durable_.load(std::memory_order_seq_cst) > offset ||
           status_.load(std::memory_order_seq_cst) != errc::ok;
  };
  if (!ready()) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    std::uint64_t want = sync_wanted_to_.load(std::memory_order_relaxed);
    while (want < offset + 1 &&
           !sync_wanted_to_.compare_exchange_weak(want, offset + 1, std::memory_order_release)) {
    }
    // After the request is visible: an owner that looked before it will look again.
    if (sync_hook_ != nullptr) sync_hook_(sync_hook_ctx_);
    {
      std::unique_lock lock(wait_mutex_);
      wait_cv_.wait_for(lock, timeout, ready);
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (durable_.load(std::memory_order_acquire) > offset) return errc::ok;
  const errc st = status_.load(std::memory_order_acquire);
  return st != errc::ok ? st : errc::timeout;
}

}  // namespace lanes::io
