// io/partition_log.cpp: a partition's log: opening it (recovery is in log_recovery.cpp),
// segment files, rolling. Appends are in partition_log_write.cpp, reads, retention, checkpoints
// and close in partition_log_read.cpp.
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
#include "partition_log_slots.hpp"
#include "segment.hpp"

namespace lanes::io {

using namespace log_detail;

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
  // Room for every write, one sync per segment they touch and the directory's, all at once.
  if (log->ring_->init(o.queue_depth * 2 + 3, &sys_err) != errc::ok) {
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

errc partition_log::create_segment(std::uint64_t base, std::int64_t now_ns,
                                   bool sync_dir) noexcept {
  try {
    auto seg = std::make_shared<segment>();
    seg->base = base;
    seg->next_offset = base;
    seg->created_ns = now_ns;
    seg->log_path = dir_ / segment_file_name(base, ".log");
    seg->fd = open_nofollow(seg->log_path, O_CREAT | O_EXCL | O_RDWR);
    if (seg->fd < 0) return errc_of_errno(errno);
    hint_sequential_reads(seg->fd);
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
    if (sync_dir) {
      if (file_status synced = fsync_dir(dir_); !synced) return synced.status;
    } else {
      if (dir_fd_ < 0) {
        dir_fd_ = open_nofollow(dir_, O_RDONLY | O_DIRECTORY);
        if (dir_fd_ < 0) {
          const errc e = errc_of_errno(errno);
          ::unlink(seg->log_path.c_str());
          return e;
        }
      }
      dir_unsynced_ = true;
    }
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
  // The directory fsync waits for the next group: here, on the owner's thread, it took 13-31
  // ms under load (a flush behind the group's), and every partition's writes waited for it.
  const errc e = create_segment(old->next_offset, now_ns, false);
  if (e == errc::ok) bump(counters_.segments_rolled);
  return e;
}

partition_log::~partition_log() {
  (void)close();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}
}  // namespace lanes::io
