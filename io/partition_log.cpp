#include "lanes/partition_log.hpp"

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
#include "lanes/segment_scan.hpp"
#include "lanes/uring.hpp"
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

namespace {

constexpr std::uint64_t sync_tag = std::uint64_t{1} << 63;

std::int64_t mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The single writer's increment: no read-modify-write instruction needed.
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

bool valid_topic_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string segment_file_name(std::uint64_t base, std::string_view ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020" PRIu64, base);
  std::string s(buf);
  s.append(ext);
  return s;
}

// ---------------------------------------------------------------------------------------
// open and recovery

open_result partition_log::open(const std::filesystem::path& root, std::string_view topic,
                                std::uint32_t partition, const log_options& options) {
  open_result r;
  if (!valid_topic_name(topic)) {
    r.status = errc::invalid_topic_name;
    return r;
  }
  const log_options& o = options;
  if (o.segment_bytes > UINT32_MAX || o.max_batch_bytes < 64 ||
      o.segment_bytes < o.max_batch_bytes + file_header_size + batch_header_size ||
      o.queue_depth == 0 || o.queue_depth > 4096 || o.index_interval_bytes == 0) {
    r.status = errc::invalid_config;
    r.detail =
        "need max_batch_bytes >= 64, max_batch_bytes + 80 <= segment_bytes < 2^32, "
        "1 <= queue_depth <= 4096, index_interval_bytes >= 1";
    return r;
  }
  std::unique_ptr<partition_log> log(new partition_log());
  log->opt_ = options;
  log->ring_ = std::make_unique<uring>();
  int sys_err = 0;
  // Room for every write and one sync per segment they touch, all at once.
  if (log->ring_->init(o.queue_depth * 2 + 2, &sys_err) != errc::ok) {
    r.status = errc::io_uring_unavailable;
    r.detail = std::string("io_uring_queue_init: ") + std::strerror(sys_err);
    return r;
  }
  log->slots_ = std::make_unique<write_slot[]>(o.queue_depth);
  log->free_.reserve(o.queue_depth);
  for (std::uint32_t i = o.queue_depth; i > 0; --i) log->free_.push_back(i - 1);
  log->fifo_.assign(o.queue_depth, 0);

  const std::filesystem::path topic_dir = root / std::string(topic);
  log->dir_ = topic_dir / std::to_string(partition);
  if (o.read_only) {
    struct stat st {};
    if (::lstat(log->dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      r.status = errc::file_error;
      r.detail = "read-only open: " + (S_ISLNK(st.st_mode) ? describe_errno(log->dir_, ELOOP)
                                                           : log->dir_.string() + " is missing");
      return r;
    }
  } else {
    for (const std::filesystem::path& d : {topic_dir, log->dir_}) {
      file_status made = make_dir(d);
      if (!made) {
        r.status = made.status;
        r.detail = "cannot create directory: " + made.what;
        return r;
      }
    }
  }
  std::string detail;
  const errc e = log->recover(topic_dir, detail);
  if (e != errc::ok) {
    r.status = e;
    r.detail = std::move(detail);
    r.resume_offset = log->last_resume_hint_;
    r.damaged_log_start = log->last_start_hint_;
    return r;
  }
  log->opened_ = true;
  r.log = std::move(log);
  return r;
}

errc partition_log::create_segment(std::uint64_t base, std::int64_t now_ns) noexcept {
  try {
    auto seg = std::make_shared<segment>();
    seg->base = base;
    seg->next_offset = base;
    seg->created_ns = now_ns;
    seg->log_path = dir_ / segment_file_name(base, ".log");
    seg->fd = open_nofollow(seg->log_path, O_CREAT | O_EXCL | O_RDWR);
    if (seg->fd < 0) return errc_of_errno(errno);
    file_header fh;
    fh.kind = file_kind::log;
    fh.base_offset = base;
    fh.created_ns = now_ns;
    std::byte hdr[file_header_size];
    encode_file_header(fh, hdr);
    // The header is covered by this file's first fdatasync, which follows its first batch.
    if (!write_all(seg->fd, hdr, sizeof hdr, 0)) {
      const errc e = errc_of_errno(errno);
      ::unlink(seg->log_path.c_str());
      return e;
    }
    seg->size = file_header_size;
    seg->idx_cap = opt_.segment_bytes / opt_.index_interval_bytes + 2;
    seg->idx = std::make_unique<offset_index_entry[]>(seg->idx_cap);
    seg->tidx.reserve(seg->idx_cap + 1);
    crash_point("segment_roll");  // created, its directory entry not synced
    if (file_status synced = fsync_dir(dir_); !synced) return synced.status;
    segment* raw = seg.get();
    {
      std::lock_guard lock(seg_mutex_);
      segments_.push_back(std::move(seg));
    }
    active_ = raw;
    active_base_.store(base, std::memory_order_relaxed);
    active_size_.store(file_header_size, std::memory_order_relaxed);
    return errc::ok;
  } catch (...) {
    return errc::file_error;  // allocation failure: cold path, reported, not thrown
  }
}

// Seals the active segment (writes its indexes, not synced: they are rebuilt if damaged)
// and starts a new one at the next offset. Cold path on the owner thread.
errc partition_log::roll(std::int64_t now_ns) noexcept {
  segment* old = active_;
  try {
    if (old->max_ts != INT64_MIN &&
        (old->tidx.empty() || old->max_ts > old->tidx.back().timestamp_ns)) {
      // The final time-index entry records the segment's newest timestamp (retention).
      old->tidx.push_back(
          {old->max_ts, static_cast<std::uint32_t>(old->next_offset - 1 - old->base), 0});
    }
    const auto a = encode_index(file_kind::offset_index, old->base, old->idx.get(),
                                old->idx_count.load(std::memory_order_relaxed));
    const auto b =
        encode_index(file_kind::time_index, old->base, old->tidx.data(), old->tidx.size());
    if (file_status w = write_file(old->sibling(".index"), a, false); !w) return w.status;
    if (file_status w = write_file(old->sibling(".timeindex"), b, false); !w) return w.status;
  } catch (...) {
    return errc::file_error;
  }
  const errc e = create_segment(old->next_offset, now_ns);
  if (e == errc::ok) bump(counters_.segments_rolled);
  return e;
}

partition_log::~partition_log() { (void)close(); }

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
  if (active_->batches > 0) {
    bool roll_now = active_->size + batch_bytes > opt_.segment_bytes ||
                    first_offset + count - active_->base > UINT32_MAX;
    std::int64_t now = 0;
    if (!roll_now && opt_.segment_age.count() > 0) {
      now = realtime_ns();
      roll_now = now - active_->created_ns >=
                 std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.segment_age).count();
    }
    if (roll_now) {
      const errc e = roll(now != 0 ? now : realtime_ns());
      if (e != errc::ok) {
        // No new segment (ENOSPC, EIO...): the log fails, as for a failed write; producers
        // and durability waiters get the error instead of waiting for room forever.
        fail(e);
        notify();
        r.status = e;
        return r;
      }
    }
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
  if (!submit_write(i)) {
    r.status = status_.load(std::memory_order_relaxed);
    return r;
  }
  submit_pending();
  r.end_offset = s.end_offset;
  return r;
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
  if (unsynced_bytes_ == 0) oldest_unsynced_ns_ = mono_ns();
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
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, mono_ns() - sync_started_ns_));
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
  std::size_t ops = 0;
  // Segments written since the last group: the active one and ones rolled meanwhile.
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    segment& seg = **it;
    if (!seg.dirty) {
      if (seg.next_offset <= durable) break;
      continue;
    }
    io_uring_sqe* sqe = ring_->get_sqe();
    if (sqe == nullptr) {
      submit_pending();
      sqe = ring_->get_sqe();
    }
    if (sqe == nullptr) {
      fail(errc::io_error);
      break;
    }
    io_uring_prep_fsync(sqe, seg.fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, sync_tag | static_cast<std::uint32_t>(seg.fd));
    seg.dirty = false;
    ++ops;
    ++inflight_ops_;
    ++unsubmitted_;
  }
  if (ops == 0) return;
  sync_inflight_ = true;
  sync_ops_left_ = ops;
  sync_group_failed_ = false;
  sync_target_ = target;
  unsynced_bytes_ = 0;
  bump(counters_.sync_groups);
  sync_started_ns_ = mono_ns();
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
      sync_due(opt_.mode == durability::async ? mono_ns() : 0)) {
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

// ---------------------------------------------------------------------------------------
// reads, retention, checkpoint, close

std::size_t partition_log::segment_count() const noexcept {
  std::lock_guard lock(seg_mutex_);
  return segments_.size();
}

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
  std::uint64_t pos = 0;
  std::uint64_t expected = 0;
  seg->find_position(offset, pos, expected);
  const std::uint64_t stop = std::min(limit, seg_end);
  file_source src(seg->fd, UINT64_MAX);
  std::byte head[batch_header_size];
  // Damage at (pos, expected): reported when nothing good came before it in this read (the
  // next read starts there and reports it then).
  const auto damaged = [&]() noexcept {
    if (r.batches != 0) return;
    r.status = errc::corrupt_batch;
    r.damaged_segment = seg->base;
    r.damaged_position = pos;
    r.damaged_offset = expected;
    r.skip_to = seg->offset_after_position(pos, std::min(stop, seg_end));
  };
  while (expected < stop) {
    batch_header h;
    if (!src.read_at(pos, head, sizeof head) ||
        decode_batch_header({head, sizeof head}, opt_.max_batch_bytes, h) != batch_status::ok ||
        h.base_offset != expected) {
      damaged();
      return r;
    }
    if (h.next_offset() > offset) break;  // the batch holding `offset`
    pos += h.total_size();                // before it: skipped without reading it
    expected = h.next_offset();
  }
  if (expected >= stop) {
    r.status = errc::empty;
    return r;
  }
  // Whole batches from there on, with one pread per buffer (they lie back to back), each
  // checked against its CRC once, here, before a byte of it is handed out.
  std::size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n =
        ::pread(seg->fd, buffer.data() + got, buffer.size() - got, static_cast<off_t>(pos + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);  // short only at the end of the file
  }
  std::size_t at = 0;
  const std::uint64_t first_pos = pos;
  while (expected < stop) {
    pos = first_pos + at;
    batch_header h;
    if (got - at < batch_header_size) {
      if (at == 0) damaged();  // the file ends (or cannot be read) where a batch should be
      break;
    }
    if (decode_batch_header({buffer.data() + at, batch_header_size}, opt_.max_batch_bytes, h) !=
            batch_status::ok ||
        h.base_offset != expected) {
      damaged();
      break;
    }
    const std::uint64_t total = h.total_size();
    if (total > got - at) {
      if (at == 0 && total > buffer.size()) {
        r.status = errc::invalid_argument;
        r.needed = static_cast<std::size_t>(total);
      } else if (at == 0) {
        damaged();  // the file is shorter than a batch it holds below the written point
      }
      break;  // the rest comes with the next read
    }
    batch_header check;
    std::span<const std::byte> payload;
    if (decode_batch({buffer.data() + at, static_cast<std::size_t>(total)}, opt_.max_batch_bytes,
                     check, payload) != batch_status::ok) {
      damaged();
      break;  // what came before is good; the next read reports the damage
    }
    if (r.batches == 0) r.first_offset = h.base_offset;
    at += static_cast<std::size_t>(total);
    r.bytes = at;
    r.next_offset = h.next_offset();
    ++r.batches;
    expected = h.next_offset();
  }
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
