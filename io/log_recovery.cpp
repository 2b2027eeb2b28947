// io/log_recovery.cpp: what partition_log::open does with the files it finds (io/FORMAT.md,
// "Recovery"). Two phases:
//   inspect: reads only. Decides, for every segment file, whether it is kept as it is, cut
//            to its good prefix (a torn tail after the durable point), deleted (a torn new
//            segment, segments after a torn tail, leftovers of an interrupted retention), or
//            whether the directory holds damage before the durable point.
//   apply:   the writes those decisions need, then a new checkpoint.
// Damage stops after the first phase: a refused open changes nothing on disk, so every later
// open refuses the same way until a person acts (or, with quarantine_on_damage, the
// partition directory is renamed aside, which is the one change asked for). A read-only open
// runs the first phase only and keeps the decisions in memory.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "lanes/clock.hpp"
#include "lanes/fault_injection.hpp"
#include "lanes/file_io.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_scan.hpp"
#include "segment.hpp"

namespace lanes::io {

namespace {

bool parse_segment_name(const char* name, std::uint64_t& base) noexcept {
  if (std::strlen(name) != 24 || std::strcmp(name + 20, ".log") != 0) return false;
  std::uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    const auto d = static_cast<std::uint64_t>(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  base = v;
  return true;
}

// What the first phase decided for one segment file.
struct segment_plan {
  std::shared_ptr<segment> seg;  // kept (possibly cut); null when the file goes
  std::uint64_t base = 0;
  std::uint64_t file_size = 0;
  std::uint64_t keep_bytes = 0;  // < file_size: cut to this good prefix
  bool write_index = false;      // sealed, and its index files were missing or damaged
};

// The rebuilt sparse indexes of a scanned segment.
struct index_rebuild {
  std::vector<offset_index_entry> idx;
  std::vector<time_index_entry> tidx;
  std::uint64_t since = 0;
  std::uint64_t base = 0;
  std::uint32_t interval = 0;

  static void visit(void* ctx, std::uint64_t pos, const batch_header& h) {
    auto& b = *static_cast<index_rebuild*>(ctx);
    if (b.since >= b.interval) {
      b.since = 0;
      const auto rel = static_cast<std::uint32_t>(h.base_offset - b.base);
      b.idx.push_back({rel, static_cast<std::uint32_t>(pos)});
      if (b.tidx.empty() || h.max_timestamp_ns > b.tidx.back().timestamp_ns) {
        b.tidx.push_back({h.max_timestamp_ns, rel, 0});
      }
    }
    b.since += h.total_size();
  }
};

// A sealed segment trusted through its index: its file header, and the batch headers from
// its last index entry to the end of the file (no payload is read), must lead exactly to
// `next_base`. Catches a segment that is missing after it, a cut file, or a damaged header.
// Returns an empty string when they do, else what is wrong (for a person).
std::string check_sealed_end(int fd, std::uint64_t file_size, std::uint64_t base,
                             std::uint64_t next_base, std::uint32_t max_batch,
                             const std::vector<offset_index_entry>& idx) {
  file_source src(fd, file_size);
  std::byte head[batch_header_size];
  file_header fh;
  if (file_size < file_header_size || !src.read_at(0, head, file_header_size) ||
      !decode_file_header({head, file_header_size}, fh) || fh.kind != file_kind::log ||
      fh.base_offset != base) {
    return "bad file header at byte 0";
  }
  std::uint64_t pos = idx.empty() ? file_header_size : idx.back().position;
  std::uint64_t expected = idx.empty() ? base : base + idx.back().relative_offset;
  while (pos < file_size) {
    batch_header h;
    if (file_size - pos < batch_header_size || !src.read_at(pos, head, sizeof head) ||
        decode_batch_header({head, sizeof head}, max_batch, h) != batch_status::ok ||
        h.base_offset != expected || h.total_size() > file_size - pos) {
      return "bad batch header at byte " + std::to_string(pos) + " (offset " +
             std::to_string(expected) + ")";
    }
    pos += h.total_size();
    expected = h.next_offset();
  }
  if (expected != next_base) {
    return "its batches end at offset " + std::to_string(expected) +
           " but the next segment file starts at offset " + std::to_string(next_base) +
           (expected < next_base ? " (the records in between are missing)" : "");
  }
  return {};
}

// Whether the file at `path` has a lanes segment header for `base`, or was never written.
bool looks_like_segment(const std::filesystem::path& path, std::uint64_t base) {
  const int fd = open_nofollow(path, O_RDONLY);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::byte head[file_header_size];
    file_source src(fd, size);
    file_header fh;
    ok = header_never_written(src) ||
         (src.read_at(0, head, sizeof head) && decode_file_header({head, sizeof head}, fh) &&
          fh.kind == file_kind::log && fh.base_offset == base);
  }
  ::close(fd);
  return ok;
}

}  // namespace

errc partition_log::recover(const std::filesystem::path& topic_dir, std::string& detail) {
  const std::uint32_t max_batch = opt_.max_batch_bytes;
  const bool ro = opt_.read_only;
  std::string damage;  // non-empty: damage before the durable point (refuse or quarantine)
  std::uint64_t resume_hint = 0;

  // ---- phase 1: inspect (reads only) ----
  // The directory: segment files by base offset, a leftover checkpoint.tmp.
  std::vector<std::uint64_t> bases;
  bool tmp_leftover = false;
  {
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) {
      detail = "cannot list " + describe_errno(dir_, errno);
      return errc_of_errno(errno);
    }
    while (const dirent* ent = ::readdir(d)) {
      std::uint64_t b = 0;
      if (parse_segment_name(ent->d_name, b)) bases.push_back(b);
      if (std::strcmp(ent->d_name, "checkpoint.tmp") == 0) tmp_leftover = true;
    }
    ::closedir(d);
  }
  std::sort(bases.begin(), bases.end());

  // The checkpoint: the durable point X and the log start.
  io::checkpoint cp;
  const std::filesystem::path cp_path = dir_ / "checkpoint";
  if (exists_nofollow(cp_path)) {
    std::vector<std::byte> bytes;
    file_status rd = read_small_file(cp_path, checkpoint_size, bytes);
    if (!rd && rd.what.find("symbolic link") != std::string::npos) {
      detail = rd.what;
      return errc::file_error;
    }
    if (!rd || !decode_checkpoint(bytes, cp)) {
      damage = cp_path.string() + " is damaged (" + (rd ? "bad checksum or fields" : rd.what) +
               "; it is only ever replaced atomically)";
    } else {
      report_.had_checkpoint = true;
      report_.clean_shutdown = cp.clean;
      report_.checkpoint_durable = cp.durable_offset;
      resume_hint = cp.durable_offset;
      last_start_hint_ = cp.log_start_offset;
    }
  }
  const std::uint64_t X = report_.had_checkpoint ? cp.durable_offset : 0;

  // Segments below the checkpoint's log start are leftovers of a retention that a crash
  // interrupted (the checkpoint is written first); the first one kept must start there.
  std::vector<std::uint64_t> leftovers;
  if (damage.empty() && report_.had_checkpoint) {
    while (!bases.empty() && bases.front() < cp.log_start_offset) {
      leftovers.push_back(bases.front());
      bases.erase(bases.begin());
    }
    if (!bases.empty() && bases.front() > cp.log_start_offset) {
      damage = "the first segment file is missing: the checkpoint says the log starts at offset " +
               std::to_string(cp.log_start_offset) + ", the first file " +
               segment_file_name(bases.front(), ".log") + " starts at offset " +
               std::to_string(bases.front());
    } else if (bases.empty() && X > cp.log_start_offset) {
      damage = "no segment file, but offsets " + std::to_string(cp.log_start_offset) + " to " +
               std::to_string(X) + " were durable (checkpoint)";
    }
  }

  std::vector<segment_plan> plans;
  for (std::size_t i = 0; damage.empty() && i < bases.size(); ++i) {
    const std::uint64_t base = bases[i];
    const bool last = i + 1 == bases.size();
    segment_plan plan;
    plan.base = base;
    auto seg = std::make_shared<segment>();
    seg->base = base;
    seg->log_path = dir_ / segment_file_name(base, ".log");
    seg->fd = open_nofollow(seg->log_path, ro ? O_RDONLY : O_RDWR);
    struct stat st {};
    if (i == 0 && !report_.had_checkpoint) last_start_hint_ = base;
    if (seg->fd < 0 || ::fstat(seg->fd, &st) != 0) {
      detail = "cannot open " + describe_errno(seg->log_path, errno);
      return errc_of_errno(errno);
    }
    if (!S_ISREG(st.st_mode)) {
      detail = seg->log_path.string() + " is not a regular file";
      return errc::file_error;
    }
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    plan.file_size = file_size;
    plan.keep_bytes = file_size;
    if (!report_.had_checkpoint && file_size > file_header_size) {
      damage = "the checkpoint file is missing, but " + seg->log_path.string() +
               " holds records (every open writes a checkpoint: it was deleted)";
      break;
    }
    // The indexes on disk, bounded by what the segment could possibly hold.
    std::vector<offset_index_entry> idx;
    std::vector<time_index_entry> tidx;
    const std::uint64_t max_entries = file_size / batch_header_size + 2;
    std::vector<std::byte> bytes;
    file_status ri = read_small_file(
        seg->sibling(".index"), file_header_size + index_trailer_size + max_entries * 8, bytes);
    bool index_ok = ri && decode_index(bytes, file_kind::offset_index, base, idx);
    file_status rt =
        ri ? read_small_file(seg->sibling(".timeindex"),
                             file_header_size + index_trailer_size + max_entries * 16, bytes)
           : ri;
    index_ok = index_ok && rt && decode_index(bytes, file_kind::time_index, base, tidx);
    for (const file_status* f : {&ri, &rt}) {
      if (f->what.find("symbolic link") != std::string::npos) {
        detail = f->what;
        return errc::file_error;
      }
    }
    if (index_ok) {
      // Entries must be increasing and inside the file (and the segment's offsets).
      const std::uint64_t span = last ? UINT64_MAX : bases[i + 1] - base;
      for (std::size_t k = 0; k < idx.size() && index_ok; ++k) {
        index_ok = idx[k].position >= file_header_size && idx[k].position < file_size &&
                   idx[k].relative_offset < span &&
                   (k == 0 || (idx[k].relative_offset > idx[k - 1].relative_offset &&
                               idx[k].position > idx[k - 1].position));
      }
    }
    const bool below_durable = !last && bases[i + 1] <= X;
    if (!index_ok) ++report_.indexes_rebuilt;

    if (below_durable && index_ok) {
      // Wholly durable, sealed, with a good index: trusted without reading its payloads
      // (every read checks each batch's CRC), once its end is seen to meet the next file.
      const std::string bad =
          check_sealed_end(seg->fd, file_size, base, bases[i + 1], max_batch, idx);
      if (!bad.empty()) {
        damage = seg->log_path.filename().string() + ": " + bad + "; offsets up to " +
                 std::to_string(X) + " were durable (checkpoint), so this is damage";
        break;
      }
      seg->size = file_size;
      seg->next_offset = bases[i + 1];
      seg->max_ts = tidx.empty() ? INT64_MIN : tidx.back().timestamp_ns;
      seg->idx_cap = idx.size();
      seg->idx = std::make_unique<offset_index_entry[]>(idx.size());
      std::copy(idx.begin(), idx.end(), seg->idx.get());
      seg->idx_count.store(idx.size(), std::memory_order_relaxed);
      seg->tidx = std::move(tidx);
      plan.seg = std::move(seg);
      plans.push_back(std::move(plan));
      continue;
    }

    // Scan batch by batch, rebuilding the indexes.
    ++report_.segments_scanned;
    index_rebuild rb;
    rb.base = base;
    rb.interval = opt_.index_interval_bytes;
    file_source src(seg->fd, file_size);
    const scan_result s = scan_segment(src, base, max_batch, &index_rebuild::visit, &rb);
    const bool gap = !last && s.next_offset != bases[i + 1];
    bool cut_here = false;
    if (!s.clean() || gap) {
      char what[320];
      std::snprintf(what, sizeof what,
                    "%s: %s at byte %" PRIu64 " of %" PRIu64 " (good records end at offset %" PRIu64
                    ")",
                    seg->log_path.filename().c_str(),
                    s.clean() ? "missing records before the next segment" : to_string(s.stop),
                    s.valid_bytes, file_size, s.next_offset);
      if (s.next_offset < X) {
        damage = std::string(what) + "; offsets up to " + std::to_string(X) +
                 " were durable (checkpoint), so this is damage, not a torn tail";
        resume_hint = std::max(resume_hint, s.next_offset);
        break;
      }
      if (s.stop == scan_stop::bad_file_header && !header_never_written(src)) {
        damage = std::string(what) +
                 "; its file header is neither a lanes segment header nor unwritten (a file "
                 "that is not a segment, or damage): move it away";
        break;
      }
      report_.detail = std::string("torn tail after the durable point: ") + what;
      report_.torn_tail = true;
      report_.torn_from = s.next_offset;
      cut_here = true;
      if (s.stop == scan_stop::bad_file_header) {
        // A segment created right before a crash: nothing of it can have been durable.
        seg.reset();
      } else {
        plan.keep_bytes = s.valid_bytes;
      }
    }
    if (seg) {
      seg->size = plan.keep_bytes;
      seg->next_offset = s.next_offset;
      seg->batches = s.batches;
      seg->max_ts = s.max_timestamp_ns;
      seg->bytes_since_index = rb.since;
      seg->created_ns = s.header.created_ns;
      // Room to grow if this one becomes the active segment.
      seg->idx_cap = rb.idx.size() + opt_.segment_bytes / opt_.index_interval_bytes + 2;
      seg->idx = std::make_unique<offset_index_entry[]>(seg->idx_cap);
      std::copy(rb.idx.begin(), rb.idx.end(), seg->idx.get());
      seg->idx_count.store(rb.idx.size(), std::memory_order_relaxed);
      seg->tidx = std::move(rb.tidx);
      seg->tidx.reserve(seg->idx_cap + 1);
      plan.write_index = !index_ok && !last && !cut_here;
      plan.seg = std::move(seg);
    }
    plans.push_back(std::move(plan));
    if (cut_here) {
      // Everything after a torn tail lies after the durable point too: it goes, when it is
      // what a crash leaves (a segment with a good header, or one never written). Anything
      // else there is not ours to delete.
      for (std::size_t k = i + 1; k < bases.size() && damage.empty(); ++k) {
        const std::filesystem::path f = dir_ / segment_file_name(bases[k], ".log");
        if (!looks_like_segment(f, bases[k])) {
          damage = f.filename().string() +
                   " follows a torn tail but is not a lanes segment (a file that is not one, "
                   "or damage): move it away";
        }
        segment_plan gone;
        gone.base = bases[k];
        plans.push_back(std::move(gone));
      }
      break;
    }
  }
  std::uint64_t end = 0;
  bool any = false;
  for (const segment_plan& p : plans) {
    if (p.seg) {
      end = p.seg->next_offset;
      any = true;
    }
  }
  if (damage.empty() && report_.had_checkpoint && (any ? end : cp.log_start_offset) < X) {
    damage = "the log ends at offset " + std::to_string(any ? end : cp.log_start_offset) +
             " but offsets up to " + std::to_string(X) +
             " were durable (checkpoint): segment files are missing";
  }

  if (!damage.empty()) {
    detail = dir_.string() + ": " + damage;
    report_.detail = detail;
    last_resume_hint_ = std::max(resume_hint, X);
    if (opt_.quarantine_on_damage && !ro) {
      const std::filesystem::path aside =
          dir_.string() + ".quarantine-" + std::to_string(realtime_ns());
      if (::rename(dir_.c_str(), aside.c_str()) == 0 && fsync_dir(topic_dir)) {
        detail += "; moved aside to " + aside.string();
        return errc::log_quarantined;
      }
      detail += "; could not move it aside: " + std::string(std::strerror(errno));
    }
    return errc::corrupt_log;
  }

  // ---- phase 2: apply (skipped when read-only: the decisions stay in memory) ----
  std::vector<std::shared_ptr<segment>> segs;
  for (segment_plan& p : plans) {
    if (p.seg) segs.push_back(p.seg);
  }
  if (!ro) {
    bool dir_changed = false;
    const auto remove_files = [&](std::uint64_t b) {
      for (const char* ext : {".log", ".index", ".timeindex"}) {
        ::unlink((dir_ / segment_file_name(b, ext)).c_str());
      }
      dir_changed = true;
    };
    for (std::uint64_t b : leftovers) {
      remove_files(b);
      ++report_.leftovers_removed;
    }
    if (tmp_leftover) {
      ::unlink((dir_ / "checkpoint.tmp").c_str());
      ++report_.leftovers_removed;
      dir_changed = true;
    }
    for (segment_plan& p : plans) {
      if (!p.seg) {
        remove_files(p.base);
        ++report_.segments_removed;
        continue;
      }
      if (p.keep_bytes < p.file_size) {
        if (::ftruncate(p.seg->fd, static_cast<off_t>(p.keep_bytes)) != 0 ||
            ::fdatasync(p.seg->fd) != 0) {
          detail = "cannot truncate " + describe_errno(p.seg->log_path, errno);
          return errc_of_errno(errno);
        }
        report_.bytes_truncated += p.file_size - p.keep_bytes;
      }
      if (p.write_index) {
        crash_point("index_rebuild");  // rebuilt in memory, not written
        segment& sg = *p.seg;
        const auto a = encode_index(file_kind::offset_index, sg.base, sg.idx.get(),
                                    sg.idx_count.load(std::memory_order_relaxed));
        const auto b = encode_index(file_kind::time_index, sg.base, sg.tidx.data(), sg.tidx.size());
        for (const auto& [ext, data] : {std::pair{".index", &a}, std::pair{".timeindex", &b}}) {
          if (file_status w = write_file(sg.sibling(ext), *data, true); !w) {
            detail = "cannot write the index: " + w.what;
            return w.status;
          }
        }
        dir_changed = true;
      }
      // Everything kept is on disk now: make it durable before acknowledging it.
      if (p.seg->next_offset > X && ::fdatasync(p.seg->fd) != 0) {
        detail = "fdatasync " + describe_errno(p.seg->log_path, errno);
        return errc_of_errno(errno);
      }
    }
    if (dir_changed) {
      if (file_status f = fsync_dir(dir_); !f) {
        detail = f.what;
        return f.status;
      }
    }
  } else {
    report_.bytes_truncated = 0;  // nothing was cut; the torn tail is only hidden
  }
  report_.segments = segs.size();
  {
    std::lock_guard lock(seg_mutex_);
    segments_ = std::move(segs);
  }
  const std::uint64_t first_offset =
      report_.had_checkpoint ? cp.log_start_offset : opt_.initial_offset;
  if (segments_.empty() && !ro) {
    if (const errc e = create_segment(first_offset, realtime_ns()); e != errc::ok) {
      detail = "cannot create the first segment in " + describe_errno(dir_, errno);
      return e;
    }
    report_.segments = 1;
  }
  active_ = segments_.empty() ? nullptr : segments_.back().get();
  if (active_ != nullptr) {
    active_base_.store(active_->base, std::memory_order_relaxed);
    active_size_.store(active_->size, std::memory_order_relaxed);
  }
  const std::uint64_t e = active_ != nullptr ? active_->next_offset : first_offset;
  start_.store(segments_.empty() ? first_offset : segments_.front()->base,
               std::memory_order_release);  // pairs with readers
  appended_.store(e, std::memory_order_relaxed);
  written_.store(e, std::memory_order_release);  // pairs with read()
  durable_.store(e, std::memory_order_release);  // pairs with waiters
  notified_durable_ = e;
  std::lock_guard cp_lock(cp_mutex_);
  if (const errc w = write_checkpoint(false); w != errc::ok) {
    detail = "cannot write the checkpoint: " + last_file_error_;
    return w;
  }
  return errc::ok;
}

}  // namespace lanes::io
