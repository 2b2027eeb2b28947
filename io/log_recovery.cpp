// io/log_recovery.cpp: what partition_log::open does with the files it finds: the inspect
// step of a log_recovery (log_recovery.hpp; io/FORMAT.md, "Recovery"), and recover() itself.
#include "log_recovery.hpp"

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
  log_recovery run(*this, detail);
  if (const errc e = run.inspect(); e != errc::ok) return e;
  if (run.damaged()) return run.refuse(topic_dir);
  if (const errc e = run.apply(); e != errc::ok) return e;
  return run.install();
}

errc log_recovery::inspect() {
  if (const errc e = list_directory(); e != errc::ok) return e;
  if (const errc e = read_checkpoint(); e != errc::ok) return e;
  durable_ = log_.report_.had_checkpoint ? cp_.durable_offset : 0;
  skip_leftovers();
  for (std::size_t i = 0; damage_.empty() && i < bases_.size(); ++i) {
    next_step step = next_step::go_on;
    if (const errc e = plan_segment(i, step); e != errc::ok) return e;
    if (step == next_step::stop) break;
  }
  check_log_end();
  return errc::ok;
}

// The directory: segment files by base offset, a leftover checkpoint.tmp.
errc log_recovery::list_directory() {
  DIR* d = ::opendir(log_.dir_.c_str());
  if (d == nullptr) {
    detail_ = "cannot list " + describe_errno(log_.dir_, errno);
    return errc_of_errno(errno);
  }
  while (const dirent* ent = ::readdir(d)) {
    std::uint64_t b = 0;
    if (parse_segment_name(ent->d_name, b)) bases_.push_back(b);
    if (std::strcmp(ent->d_name, "checkpoint.tmp") == 0) tmp_leftover_ = true;
  }
  ::closedir(d);
  std::sort(bases_.begin(), bases_.end());
  return errc::ok;
}

// The checkpoint: the durable point X and the log start. A damaged one is damage; a link
// is an error.
errc log_recovery::read_checkpoint() {
  const std::filesystem::path cp_path = log_.dir_ / "checkpoint";
  if (!exists_nofollow(cp_path)) return errc::ok;
  std::vector<std::byte> bytes;
  file_status rd = read_small_file(cp_path, checkpoint_size, bytes);
  if (!rd && rd.what.find("symbolic link") != std::string::npos) {
    detail_ = rd.what;
    return errc::file_error;
  }
  if (!rd || !decode_checkpoint(bytes, cp_)) {
    damage_ = cp_path.string() + " is damaged (" + (rd ? "bad checksum or fields" : rd.what) +
              "; it is only ever replaced atomically)";
    return errc::ok;
  }
  recovery_report& r = log_.report_;
  r.had_checkpoint = true;
  r.clean_shutdown = cp_.clean;
  r.checkpoint_durable = cp_.durable_offset;
  resume_hint_ = cp_.durable_offset;
  log_.last_start_hint_ = cp_.log_start_offset;
  return errc::ok;
}

// Segments below the checkpoint's log start are leftovers of a retention that a crash
// interrupted (the checkpoint is written first); the first one kept must start there.
void log_recovery::skip_leftovers() {
  if (!damage_.empty() || !log_.report_.had_checkpoint) return;
  while (!bases_.empty() && bases_.front() < cp_.log_start_offset) {
    leftovers_.push_back(bases_.front());
    bases_.erase(bases_.begin());
  }
  if (!bases_.empty() && bases_.front() > cp_.log_start_offset) {
    damage_ = "the first segment file is missing: the checkpoint says the log starts at offset " +
              std::to_string(cp_.log_start_offset) + ", the first file " +
              segment_file_name(bases_.front(), ".log") + " starts at offset " +
              std::to_string(bases_.front());
  } else if (bases_.empty() && durable_ > cp_.log_start_offset) {
    damage_ = "no segment file, but offsets " + std::to_string(cp_.log_start_offset) + " to " +
              std::to_string(durable_) + " were durable (checkpoint)";
  }
}

// Segment i: trusted through its index when it is sealed, wholly durable and its index is
// good; otherwise scanned batch by batch.
errc log_recovery::plan_segment(std::size_t i, next_step& step) {
  segment_plan plan;
  plan.base = bases_[i];
  auto seg = std::make_shared<segment>();
  if (const errc e = open_segment(i, *seg, plan.file_size); e != errc::ok) return e;
  plan.keep_bytes = plan.file_size;
  if (!log_.report_.had_checkpoint && plan.file_size > file_header_size) {
    damage_ = "the checkpoint file is missing, but " + seg->log_path.string() +
              " holds records (every open writes a checkpoint: it was deleted)";
    step = next_step::stop;
    return errc::ok;
  }
  std::vector<offset_index_entry> idx;
  std::vector<time_index_entry> tidx;
  bool index_ok = false;
  if (const errc e = read_indexes(i, *seg, plan.file_size, idx, tidx, index_ok); e != errc::ok) {
    return e;
  }
  if (!index_ok) ++log_.report_.indexes_rebuilt;
  const bool below_durable = i + 1 < bases_.size() && bases_[i + 1] <= durable_;
  step = below_durable && index_ok ? plan_trusted(i, std::move(seg), plan, idx, tidx)
                                   : plan_scanned(i, std::move(seg), plan, index_ok);
  return errc::ok;
}

errc log_recovery::open_segment(std::size_t i, segment& seg, std::uint64_t& file_size) {
  seg.base = bases_[i];
  seg.log_path = log_.dir_ / segment_file_name(seg.base, ".log");
  seg.fd = open_nofollow(seg.log_path, log_.opt_.read_only ? O_RDONLY : O_RDWR);
  hint_exact_reads(seg.fd);  // until plan_trusted or plan_scanned
  struct stat st {};
  if (i == 0 && !log_.report_.had_checkpoint) log_.last_start_hint_ = seg.base;
  if (seg.fd < 0 || ::fstat(seg.fd, &st) != 0) {
    detail_ = "cannot open " + describe_errno(seg.log_path, errno);
    return errc_of_errno(errno);
  }
  if (!S_ISREG(st.st_mode)) {
    detail_ = seg.log_path.string() + " is not a regular file";
    return errc::file_error;
  }
  file_size = static_cast<std::uint64_t>(st.st_size);
  return errc::ok;
}

// The indexes on disk, bounded by what the segment could possibly hold. index_ok: both
// decode, and the offset index's entries are increasing and inside the file (and the
// segment's offsets).
errc log_recovery::read_indexes(std::size_t i, const segment& seg, std::uint64_t file_size,
                                std::vector<offset_index_entry>& idx,
                                std::vector<time_index_entry>& tidx, bool& index_ok) {
  const std::uint64_t base = bases_[i];
  const std::uint64_t max_entries = file_size / batch_header_size + 2;
  std::vector<std::byte> bytes;
  file_status ri = read_small_file(seg.sibling(".index"),
                                   file_header_size + index_trailer_size + max_entries * 8, bytes);
  index_ok = ri && decode_index(bytes, file_kind::offset_index, base, idx);
  file_status rt =
      ri ? read_small_file(seg.sibling(".timeindex"),
                           file_header_size + index_trailer_size + max_entries * 16, bytes)
         : ri;
  index_ok = index_ok && rt && decode_index(bytes, file_kind::time_index, base, tidx);
  for (const file_status* f : {&ri, &rt}) {
    if (f->what.find("symbolic link") != std::string::npos) {
      detail_ = f->what;
      return errc::file_error;
    }
  }
  if (!index_ok) return errc::ok;
  const std::uint64_t span = i + 1 == bases_.size() ? UINT64_MAX : bases_[i + 1] - base;
  for (std::size_t k = 0; k < idx.size() && index_ok; ++k) {
    index_ok = idx[k].position >= file_header_size && idx[k].position < file_size &&
               idx[k].relative_offset < span &&
               (k == 0 || (idx[k].relative_offset > idx[k - 1].relative_offset &&
                           idx[k].position > idx[k - 1].position));
  }
  return errc::ok;
}

// Wholly durable, sealed, with a good index: trusted without reading its payloads (every
// read checks each batch's CRC), once its end is seen to meet the next file.
log_recovery::next_step log_recovery::plan_trusted(std::size_t i, std::shared_ptr<segment> seg,
                                                   segment_plan& plan,
                                                   std::vector<offset_index_entry>& idx,
                                                   std::vector<time_index_entry>& tidx) {
  const std::uint64_t next_base = bases_[i + 1];
  const std::string bad = check_sealed_end(seg->fd, plan.file_size, plan.base, next_base,
                                           log_.opt_.max_batch_bytes, idx);
  if (!bad.empty()) {
    damage_ = seg->log_path.filename().string() + ": " + bad + "; offsets up to " +
              std::to_string(durable_) + " were durable (checkpoint), so this is damage";
    return next_step::stop;
  }
  hint_sequential_reads(seg->fd);  // what readers of a segment do from here on
  seg->size = plan.file_size;
  seg->next_offset = next_base;
  seg->max_ts = tidx.empty() ? INT64_MIN : tidx.back().timestamp_ns;
  seg->idx_cap = idx.size();
  seg->idx = std::make_unique<offset_index_entry[]>(idx.size());
  std::copy(idx.begin(), idx.end(), seg->idx.get());
  seg->idx_count.store(idx.size(), std::memory_order_relaxed);
  seg->tidx = std::move(tidx);
  plan.seg = std::move(seg);
  plans_.push_back(std::move(plan));
  return next_step::go_on;
}

// Scans batch by batch, rebuilding the indexes. A bad batch or a gap before the durable
// point is damage; after it, a torn tail: the segment is cut to its good prefix (or goes,
// when even its header was never written) and every later segment goes.
log_recovery::next_step log_recovery::plan_scanned(std::size_t i, std::shared_ptr<segment> seg,
                                                   segment_plan& plan, bool index_ok) {
  recovery_report& report = log_.report_;
  const bool last = i + 1 == bases_.size();
  ++report.segments_scanned;
  hint_sequential_reads(seg->fd);  // the scan reads it front to back, as readers do later
  index_rebuild rb;
  rb.base = plan.base;
  rb.interval = log_.opt_.index_interval_bytes;
  file_source src(seg->fd, plan.file_size);
  const scan_result s =
      scan_segment(src, plan.base, log_.opt_.max_batch_bytes, &index_rebuild::visit, &rb);
  const bool cut_here = !s.clean() || (!last && s.next_offset != bases_[i + 1]);
  if (cut_here) {
    char what[320];
    std::snprintf(what, sizeof what,
                  "%s: %s at byte %" PRIu64 " of %" PRIu64 " (good records end at offset %" PRIu64
                  ")",
                  seg->log_path.filename().c_str(),
                  s.clean() ? "missing records before the next segment" : to_string(s.stop),
                  s.valid_bytes, plan.file_size, s.next_offset);
    if (s.next_offset < durable_) {
      damage_ = std::string(what) + "; offsets up to " + std::to_string(durable_) +
                " were durable (checkpoint), so this is damage, not a torn tail";
      resume_hint_ = std::max(resume_hint_, s.next_offset);
      return next_step::stop;
    }
    if (s.stop == scan_stop::bad_file_header && !header_never_written(src)) {
      damage_ = std::string(what) +
                "; its file header is neither a lanes segment header nor unwritten (a file "
                "that is not a segment, or damage): move it away";
      return next_step::stop;
    }
    report.detail = std::string("torn tail after the durable point: ") + what;
    report.torn_tail = true;
    report.torn_from = s.next_offset;
    if (s.stop == scan_stop::bad_file_header) {
      seg.reset();  // created right before a crash: nothing of it can have been durable
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
    seg->idx_cap = rb.idx.size() + log_.opt_.segment_bytes / log_.opt_.index_interval_bytes + 2;
    seg->idx = std::make_unique<offset_index_entry[]>(seg->idx_cap);
    std::copy(rb.idx.begin(), rb.idx.end(), seg->idx.get());
    seg->idx_count.store(rb.idx.size(), std::memory_order_relaxed);
    seg->tidx = std::move(rb.tidx);
    seg->tidx.reserve(seg->idx_cap + 1);
    plan.write_index = !index_ok && !last && !cut_here;
    plan.seg = std::move(seg);
  }
  plans_.push_back(std::move(plan));
  if (!cut_here) return next_step::go_on;
  plan_removal_after(i);
  return next_step::stop;
}

// Everything after a torn tail lies after the durable point too: it goes, when it is what a
// crash leaves (a segment with a good header, or one never written). Anything else there is
// not ours to delete.
void log_recovery::plan_removal_after(std::size_t i) {
  for (std::size_t k = i + 1; k < bases_.size() && damage_.empty(); ++k) {
    const std::filesystem::path f = log_.dir_ / segment_file_name(bases_[k], ".log");
    if (!looks_like_segment(f, bases_[k])) {
      damage_ = f.filename().string() +
                " follows a torn tail but is not a lanes segment (a file that is not one, "
                "or damage): move it away";
    }
    segment_plan gone;
    gone.base = bases_[k];
    plans_.push_back(std::move(gone));
  }
}

// The kept segments must reach the durable point.
void log_recovery::check_log_end() {
  if (!damage_.empty() || !log_.report_.had_checkpoint) return;
  std::uint64_t end = cp_.log_start_offset;
  for (const segment_plan& p : plans_) {
    if (p.seg) end = p.seg->next_offset;
  }
  if (end < durable_) {
    damage_ = "the log ends at offset " + std::to_string(end) + " but offsets up to " +
              std::to_string(durable_) + " were durable (checkpoint): segment files are missing";
  }
}

}  // namespace lanes::io
