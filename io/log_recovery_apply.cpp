// io/log_recovery_apply.cpp: the steps of a log_recovery after inspect (log_recovery.hpp):
// refusing a damaged directory, making the decisions true on disk, and installing the kept
// segments as the log's.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "lanes/clock.hpp"
#include "lanes/fault_injection.hpp"
#include "lanes/file_io.hpp"
#include "log_recovery.hpp"

namespace lanes::io {

errc log_recovery::refuse(const std::filesystem::path& topic_dir) {
  const std::filesystem::path& dir = log_.dir_;
  detail_ = dir.string() + ": " + damage_;
  log_.report_.detail = detail_;
  log_.last_resume_hint_ = std::max(resume_hint_, durable_);
  if (log_.opt_.quarantine_on_damage && !log_.opt_.read_only) {
    const std::filesystem::path aside =
        dir.string() + ".quarantine-" + std::to_string(realtime_ns());
    if (::rename(dir.c_str(), aside.c_str()) == 0 && fsync_dir(topic_dir)) {
      detail_ += "; moved aside to " + aside.string();
      return errc::log_quarantined;
    }
    detail_ += "; could not move it aside: " + std::string(std::strerror(errno));
  }
  return errc::corrupt_log;
}

void log_recovery::remove_segment_files(std::uint64_t base, bool& dir_changed) {
  for (const char* ext : {".log", ".index", ".timeindex"}) {
    ::unlink((log_.dir_ / segment_file_name(base, ext)).c_str());
  }
  dir_changed = true;
}

errc log_recovery::apply() {
  recovery_report& report = log_.report_;
  if (log_.opt_.read_only) {
    report.bytes_truncated = 0;  // nothing was cut; the torn tail is only hidden
    return errc::ok;
  }
  bool dir_changed = false;
  for (std::uint64_t b : leftovers_) {
    remove_segment_files(b, dir_changed);
    ++report.leftovers_removed;
  }
  if (tmp_leftover_) {
    ::unlink((log_.dir_ / "checkpoint.tmp").c_str());
    ++report.leftovers_removed;
    dir_changed = true;
  }
  for (segment_plan& p : plans_) {
    if (const errc e = apply_plan(p, dir_changed); e != errc::ok) return e;
  }
  if (dir_changed) {
    if (file_status f = fsync_dir(log_.dir_); !f) {
      detail_ = f.what;
      return f.status;
    }
  }
  return errc::ok;
}

// One segment file: removed, cut to its good prefix, its index files written again; what
// is kept past the durable point is made durable before anything acknowledges it.
errc log_recovery::apply_plan(segment_plan& p, bool& dir_changed) {
  recovery_report& report = log_.report_;
  if (!p.seg) {
    remove_segment_files(p.base, dir_changed);
    ++report.segments_removed;
    return errc::ok;
  }
  if (p.keep_bytes < p.file_size) {
    if (::ftruncate(p.seg->fd, static_cast<off_t>(p.keep_bytes)) != 0 ||
        ::fdatasync(p.seg->fd) != 0) {
      detail_ = "cannot truncate " + describe_errno(p.seg->log_path, errno);
      return errc_of_errno(errno);
    }
    report.bytes_truncated += p.file_size - p.keep_bytes;
  }
  if (p.write_index) {
    crash_point("index_rebuild");  // rebuilt in memory, not written
    segment& sg = *p.seg;
    const auto a = encode_index(file_kind::offset_index, sg.base, sg.idx.get(),
                                sg.idx_count.load(std::memory_order_relaxed));
    const auto b = encode_index(file_kind::time_index, sg.base, sg.tidx.data(), sg.tidx.size());
    for (const auto& [ext, data] : {std::pair{".index", &a}, std::pair{".timeindex", &b}}) {
      if (file_status w = write_file(sg.sibling(ext), *data, true); !w) {
        detail_ = "cannot write the index: " + w.what;
        return w.status;
      }
    }
    dir_changed = true;
  }
  if (p.seg->next_offset > durable_ && ::fdatasync(p.seg->fd) != 0) {
    detail_ = "fdatasync " + describe_errno(p.seg->log_path, errno);
    return errc_of_errno(errno);
  }
  return errc::ok;
}

errc log_recovery::install() {
  partition_log& l = log_;
  std::vector<std::shared_ptr<segment>> segs;
  for (segment_plan& p : plans_) {
    if (p.seg) segs.push_back(p.seg);
  }
  l.report_.segments = segs.size();
  {
    std::lock_guard lock(l.seg_mutex_);
    l.segments_ = std::move(segs);
  }
  const std::uint64_t first_offset =
      l.report_.had_checkpoint ? cp_.log_start_offset : l.opt_.initial_offset;
  if (l.segments_.empty() && !l.opt_.read_only) {
    if (const errc e = l.create_segment(first_offset, realtime_ns(), true); e != errc::ok) {
      detail_ = "cannot create the first segment in " + describe_errno(l.dir_, errno);
      return e;
    }
    l.report_.segments = 1;
  }
  l.active_ = l.segments_.empty() ? nullptr : l.segments_.back().get();
  if (l.active_ != nullptr) {
    l.active_base_.store(l.active_->base, std::memory_order_relaxed);
    l.active_size_.store(l.active_->size, std::memory_order_relaxed);
  }
  const std::uint64_t e = l.active_ != nullptr ? l.active_->next_offset : first_offset;
  l.start_.store(l.segments_.empty() ? first_offset : l.segments_.front()->base,
                 std::memory_order_release);  // pairs with readers
  l.appended_.store(e, std::memory_order_relaxed);
  l.written_.store(e, std::memory_order_release);  // pairs with read()
  l.durable_.store(e, std::memory_order_release);  // pairs with waiters
  l.notified_durable_ = e;
  std::lock_guard cp_lock(l.cp_mutex_);
  if (const errc w = l.write_checkpoint(false); w != errc::ok) {
    detail_ = "cannot write the checkpoint: " + l.last_file_error_;
    return w;
  }
  return errc::ok;
}

}  // namespace lanes::io
