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
#include "lanes/segment_scan.hpp"
#include "lanes/uring.hpp"

namespace lanes::io {

// One segment file and its in-memory sparse indexes. The owner thread mutates it; readers
// see `base`, `fd` and the index entries below idx_count (published with release).
struct segment {
  std::uint64_t base = 0;
  int fd = -1;
  std::filesystem::path log_path;
  std::int64_t created_ns = 0;
  // Owner thread only.
  std::uint64_t size = 0;         // bytes appended (file header included), some in flight
  std::uint64_t next_offset = 0;  // one past the last record appended
  std::uint64_t batches = 0;
  std::int64_t max_ts = INT64_MIN;
  std::uint64_t bytes_since_index = 0;
  bool dirty = false;  // a write completed since this file's last sync was submitted
  // Offset index: entries [0, idx_count) are immutable once published.
  std::unique_ptr<offset_index_entry[]> idx;
  std::size_t idx_cap = 0;
  std::atomic<std::size_t> idx_count{0};
  // Time index: owner thread only.
  std::vector<time_index_entry> tidx;

  ~segment() {
    if (fd >= 0) ::close(fd);
  }
  std::filesystem::path sibling(std::string_view ext) const {
    return log_path.parent_path() / segment_file_name(base, ext);
  }
  // Owner thread: adds an index entry for a batch at `position` (first offset `offset`).
  void add_index(std::uint64_t offset, std::uint64_t position, std::int64_t batch_max_ts) noexcept {
    const std::size_t n = idx_count.load(std::memory_order_relaxed);
    if (n == idx_cap) return;  // sparse anyway: reads just scan further
    idx[n] = {static_cast<std::uint32_t>(offset - base), static_cast<std::uint32_t>(position)};
    idx_count.store(n + 1, std::memory_order_release);  // pairs with the acquire in find_position
    if (tidx.size() < tidx.capacity() &&
        (tidx.empty() || batch_max_ts > tidx.back().timestamp_ns)) {
      tidx.push_back({batch_max_ts, static_cast<std::uint32_t>(offset - base), 0});
    }
  }
  // Any thread: the byte position and first offset of the indexed batch at or before offset.
  void find_position(std::uint64_t offset, std::uint64_t& position,
                     std::uint64_t& first) const noexcept {
    const std::size_t n = idx_count.load(std::memory_order_acquire);  // pairs with add_index
    const std::uint64_t rel = offset - base;
    const offset_index_entry* e =
        std::upper_bound(idx.get(), idx.get() + n, rel,
                         [](std::uint64_t r, const auto& x) { return r < x.relative_offset; });
    if (e == idx.get()) {
      position = file_header_size;
      first = base;
    } else {
      position = (e - 1)->position;
      first = base + (e - 1)->relative_offset;
    }
  }
};

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
constexpr mode_t file_mode = 0640;
constexpr mode_t dir_mode = 0750;

std::int64_t mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

errc errno_to_errc(int err) noexcept {
  return (err == ENOSPC || err == EDQUOT || err == EFBIG) ? errc::no_space : errc::io_error;
}

bool fsync_dir(const std::filesystem::path& dir) noexcept {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool write_all(int fd, const void* data, std::size_t n, std::uint64_t pos) noexcept {
  const auto* p = static_cast<const std::byte*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
    pos += static_cast<std::uint64_t>(w);
  }
  return true;
}

// Writes a whole small file: create or truncate, write, optionally fdatasync.
bool write_file(const std::filesystem::path& path, std::span<const std::byte> bytes,
                bool sync) noexcept {
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, file_mode);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, file_mode) == 0 && write_all(fd, bytes.data(), bytes.size(), 0);
  if (ok && sync) ok = ::fdatasync(fd) == 0;
  ::close(fd);
  return ok;
}

// Reads a whole file of at most max_size bytes; false when missing, larger or unreadable.
bool read_small_file(const std::filesystem::path& path, std::uint64_t max_size,
                     std::vector<std::byte>& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && st.st_size >= 0 &&
            static_cast<std::uint64_t>(st.st_size) <= max_size;
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    file_source src(fd, out.size());
    ok = src.read_at(0, out.data(), out.size());
  }
  ::close(fd);
  return ok;
}

// Creates dir (mode 0750) if missing and fsyncs its parent then. False on failure.
bool make_dir(const std::filesystem::path& dir) noexcept {
  if (::mkdir(dir.c_str(), dir_mode) == 0) {
    if (::chmod(dir.c_str(), dir_mode) != 0) return false;
    return fsync_dir(dir.parent_path().empty() ? "." : dir.parent_path());
  }
  struct stat st {};
  return errno == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

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

template <class Entry>
std::vector<std::byte> encode_index(file_kind kind, std::uint64_t base, const Entry* entries,
                                    std::size_t n) {
  std::vector<std::byte> out(file_header_size + n * sizeof(Entry) + index_trailer_size);
  file_header fh;
  fh.kind = kind;
  fh.base_offset = base;
  encode_file_header(fh, out.data());
  if (n != 0) std::memcpy(out.data() + file_header_size, entries, n * sizeof(Entry));
  const auto count = static_cast<std::uint32_t>(n);
  const std::uint32_t crc = crc32c_extend(0, out.data() + file_header_size, n * sizeof(Entry));
  std::memcpy(out.data() + out.size() - 8, &count, 4);
  std::memcpy(out.data() + out.size() - 4, &crc, 4);
  return out;
}

// Decodes an index file's entries; false when anything is off (then it is rebuilt).
template <class Entry>
bool decode_index(std::span<const std::byte> in, file_kind kind, std::uint64_t base,
                  std::vector<Entry>& out) {
  file_header fh;
  if (in.size() < file_header_size + index_trailer_size) return false;
  if (!decode_file_header(in, fh) || fh.kind != kind || fh.base_offset != base) return false;
  const std::size_t body = in.size() - file_header_size - index_trailer_size;
  if (body % sizeof(Entry) != 0) return false;
  std::uint32_t count = 0;
  std::uint32_t crc = 0;
  std::memcpy(&count, in.data() + in.size() - 8, 4);
  std::memcpy(&crc, in.data() + in.size() - 4, 4);
  if (count != body / sizeof(Entry)) return false;
  if (crc != crc32c_extend(0, in.data() + file_header_size, body)) return false;
  out.resize(count);
  if (count != 0) std::memcpy(out.data(), in.data() + file_header_size, body);
  return true;
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
  if (!make_dir(root) || !make_dir(topic_dir) || !make_dir(log->dir_)) {
    r.status = errc::file_error;
    r.detail = "cannot create directory " + log->dir_.string() + ": " + std::strerror(errno);
    return r;
  }
  std::string detail;
  const errc e = log->recover(topic_dir, detail);
  if (e != errc::ok) {
    r.status = e;
    r.detail = std::move(detail);
    return r;
  }
  r.log = std::move(log);
  return r;
}

errc partition_log::recover(const std::filesystem::path& topic_dir, std::string& detail) {
  const std::uint32_t max_batch = opt_.max_batch_bytes;
  // 1. The checkpoint: the durable point X (and whether the last close was clean).
  io::checkpoint cp;
  {
    std::vector<std::byte> bytes;
    const std::filesystem::path p = dir_ / "checkpoint";
    if (::access(p.c_str(), F_OK) == 0) {
      if (!read_small_file(p, checkpoint_size, bytes) || !decode_checkpoint(bytes, cp)) {
        detail = p.string() + " is damaged (it is only ever replaced atomically)";
        report_.detail = detail;
        goto damaged;
      }
      report_.had_checkpoint = true;
      report_.clean_shutdown = cp.clean;
      report_.checkpoint_durable = cp.durable_offset;
    }
  }
  {
    const std::uint64_t X = report_.had_checkpoint ? cp.durable_offset : 0;
    // 2. The segment files, by base offset; leftovers of interrupted writes go.
    std::vector<std::uint64_t> bases;
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) {
      detail = "cannot list " + dir_.string() + ": " + std::strerror(errno);
      return errc::file_error;
    }
    while (const dirent* ent = ::readdir(d)) {
      std::uint64_t b = 0;
      if (parse_segment_name(ent->d_name, b)) bases.push_back(b);
      if (std::strcmp(ent->d_name, "checkpoint.tmp") == 0) ::unlink((dir_ / ent->d_name).c_str());
    }
    ::closedir(d);
    std::sort(bases.begin(), bases.end());

    bool dir_changed = false;
    const auto remove_segment_files = [&](std::uint64_t b) {
      for (const char* ext : {".log", ".index", ".timeindex"}) {
        ::unlink((dir_ / segment_file_name(b, ext)).c_str());
      }
      dir_changed = true;
      ++report_.segments_removed;
    };

    std::vector<std::shared_ptr<segment>> segs;
    for (std::size_t i = 0; i < bases.size(); ++i) {
      const std::uint64_t base = bases[i];
      const bool last = i + 1 == bases.size();
      auto seg = std::make_shared<segment>();
      seg->base = base;
      seg->log_path = dir_ / segment_file_name(base, ".log");
      seg->fd = ::open(seg->log_path.c_str(), O_RDWR | O_CLOEXEC);
      struct stat st {};
      if (seg->fd < 0 || ::fstat(seg->fd, &st) != 0) {
        detail = "cannot open " + seg->log_path.string() + ": " + std::strerror(errno);
        return errc::file_error;
      }
      const auto file_size = static_cast<std::uint64_t>(st.st_size);
      // The indexes on disk, bounded by what the segment could possibly hold.
      std::vector<offset_index_entry> idx;
      std::vector<time_index_entry> tidx;
      const std::uint64_t max_entries = file_size / batch_header_size + 2;
      std::vector<std::byte> bytes;
      bool index_ok =
          read_small_file(seg->sibling(".index"),
                          file_header_size + index_trailer_size + max_entries * 8, bytes) &&
          decode_index(bytes, file_kind::offset_index, base, idx) &&
          read_small_file(seg->sibling(".timeindex"),
                          file_header_size + index_trailer_size + max_entries * 16, bytes) &&
          decode_index(bytes, file_kind::time_index, base, tidx);
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
        // Wholly durable, sealed, with a good index: trusted without a scan (a read still
        // checks every batch's CRC).
        seg->size = file_size;
        seg->next_offset = bases[i + 1];
        seg->max_ts = tidx.empty() ? INT64_MIN : tidx.back().timestamp_ns;
        seg->idx_cap = idx.size();
        seg->idx = std::make_unique<offset_index_entry[]>(idx.size());
        std::copy(idx.begin(), idx.end(), seg->idx.get());
        seg->idx_count.store(idx.size(), std::memory_order_relaxed);
        seg->tidx = std::move(tidx);
        segs.push_back(std::move(seg));
        continue;
      }

      // Scan batch by batch, rebuilding the indexes.
      ++report_.segments_scanned;
      struct rebuild {
        std::vector<offset_index_entry> idx;
        std::vector<time_index_entry> tidx;
        std::uint64_t since = 0;
        std::uint64_t base = 0;
        std::uint32_t interval = 0;
      } rb;
      rb.base = base;
      rb.interval = opt_.index_interval_bytes;
      file_source src(seg->fd, file_size);
      const scan_result s = scan_segment(
          src, base, max_batch,
          [](void* ctx, std::uint64_t pos, const batch_header& h) {
            auto& b = *static_cast<rebuild*>(ctx);
            if (b.since >= b.interval) {
              b.since = 0;
              const auto rel = static_cast<std::uint32_t>(h.base_offset - b.base);
              b.idx.push_back({rel, static_cast<std::uint32_t>(pos)});
              if (b.tidx.empty() || h.max_timestamp_ns > b.tidx.back().timestamp_ns) {
                b.tidx.push_back({h.max_timestamp_ns, rel, 0});
              }
            }
            b.since += h.total_size();
          },
          &rb);
      const bool gap = !last && s.next_offset != bases[i + 1];
      if (!s.clean() || gap) {
        char what[256];
        std::snprintf(what, sizeof what,
                      "%s: %s at byte %" PRIu64 " of %" PRIu64
                      " (good records end at offset %" PRIu64 ")",
                      seg->log_path.filename().c_str(),
                      s.clean() ? "missing records before the next segment" : to_string(s.stop),
                      s.valid_bytes, file_size, s.next_offset);
        if (s.next_offset < X) {
          detail = std::string(what) + "; offsets up to " + std::to_string(X) +
                   " were durable (checkpoint), so this is damage, not a torn tail";
          report_.detail = detail;
          goto damaged;
        }
        report_.detail = std::string("torn tail after the durable point: ") + what;
        if (s.stop == scan_stop::bad_file_header) {
          // A segment created right before a crash: nothing of it can have been durable.
          seg.reset();
          remove_segment_files(base);
        } else {
          if (s.valid_bytes < file_size) {
            if (::ftruncate(seg->fd, static_cast<off_t>(s.valid_bytes)) != 0 ||
                ::fdatasync(seg->fd) != 0) {
              detail = "cannot truncate " + seg->log_path.string() + ": " + std::strerror(errno);
              return errc::file_error;
            }
            report_.bytes_truncated += file_size - s.valid_bytes;
          }
          seg->size = s.valid_bytes;
        }
        for (std::size_t k = i + 1; k < bases.size(); ++k) remove_segment_files(bases[k]);
        bases.resize(i + 1);
      } else {
        seg->size = file_size;
      }
      if (seg) {
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
        if (!index_ok && i + 1 < bases.size()) {
          crash_point("index_rebuild");  // rebuilt in memory, not written
          // A sealed segment: write its rebuilt index now.
          const auto a = encode_index(file_kind::offset_index, base, seg->idx.get(),
                                      seg->idx_count.load(std::memory_order_relaxed));
          const auto b =
              encode_index(file_kind::time_index, base, seg->tidx.data(), seg->tidx.size());
          if (!write_file(seg->sibling(".index"), a, true) ||
              !write_file(seg->sibling(".timeindex"), b, true)) {
            detail = "cannot write the index of " + seg->log_path.string();
            return errc::file_error;
          }
          dir_changed = true;
        }
        segs.push_back(std::move(seg));
      }
      if (bases.size() == i + 1) break;
    }

    const std::uint64_t end = segs.empty() ? 0 : segs.back()->next_offset;
    if (report_.had_checkpoint && (segs.empty() ? cp.log_start_offset : end) < X) {
      detail = "the log ends at offset " + std::to_string(end) + " but offsets up to " +
               std::to_string(X) + " were durable (checkpoint): segment files are missing";
      report_.detail = detail;
      goto damaged;
    }
    // Everything kept is on disk now: make it durable before acknowledging it.
    for (const auto& sp : segs) {
      if (sp->next_offset > X && ::fdatasync(sp->fd) != 0) {
        detail = "fdatasync " + sp->log_path.string() + ": " + std::strerror(errno);
        return errc::file_error;
      }
    }
    if (dir_changed && !fsync_dir(dir_)) {
      detail = "cannot fsync " + dir_.string();
      return errc::file_error;
    }
    report_.segments = segs.size();
    {
      std::lock_guard lock(seg_mutex_);
      segments_ = std::move(segs);
    }
    if (segments_.empty()) {
      const std::uint64_t start =
          report_.had_checkpoint ? cp.log_start_offset : opt_.initial_offset;
      if (create_segment(start, realtime_ns()) != errc::ok) {
        detail =
            "cannot create the first segment in " + dir_.string() + ": " + std::strerror(errno);
        return errc::file_error;
      }
      report_.segments = 1;
    }
    active_ = segments_.back().get();
    const std::uint64_t e = active_->next_offset;
    start_.store(segments_.front()->base, std::memory_order_release);  // pairs with readers
    appended_.store(e, std::memory_order_relaxed);
    written_.store(e, std::memory_order_release);  // pairs with read()
    durable_.store(e, std::memory_order_release);  // pairs with waiters
    notified_durable_ = e;
    if (write_checkpoint(false) != errc::ok) {
      detail = "cannot write " + (dir_ / "checkpoint").string();
      return errc::file_error;
    }
    return errc::ok;
  }

damaged:
  if (opt_.quarantine_on_damage) {
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

errc partition_log::create_segment(std::uint64_t base, std::int64_t now_ns) noexcept {
  try {
    auto seg = std::make_shared<segment>();
    seg->base = base;
    seg->next_offset = base;
    seg->created_ns = now_ns;
    seg->log_path = dir_ / segment_file_name(base, ".log");
    seg->fd = ::open(seg->log_path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, file_mode);
    if (seg->fd < 0) return errc::file_error;
    file_header fh;
    fh.kind = file_kind::log;
    fh.base_offset = base;
    fh.created_ns = now_ns;
    std::byte hdr[file_header_size];
    encode_file_header(fh, hdr);
    // The header is covered by this file's first fdatasync, which follows its first batch.
    if (::fchmod(seg->fd, file_mode) != 0 || !write_all(seg->fd, hdr, sizeof hdr, 0)) {
      ::unlink(seg->log_path.c_str());
      return errc::file_error;
    }
    seg->size = file_header_size;
    seg->idx_cap = opt_.segment_bytes / opt_.index_interval_bytes + 2;
    seg->idx = std::make_unique<offset_index_entry[]>(seg->idx_cap);
    seg->tidx.reserve(seg->idx_cap + 1);
    crash_point("segment_roll");  // created, its directory entry not synced
    if (!fsync_dir(dir_)) return errc::file_error;
    segment* raw = seg.get();
    {
      std::lock_guard lock(seg_mutex_);
      segments_.push_back(std::move(seg));
    }
    active_ = raw;
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
    if (!write_file(old->sibling(".index"), a, false) ||
        !write_file(old->sibling(".timeindex"), b, false)) {
      return errc::file_error;
    }
  } catch (...) {
    return errc::file_error;
  }
  const errc e = create_segment(old->next_offset, now_ns);
  if (e == errc::ok) ++stats_.segments_rolled;
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
  if (st != errc::ok) {
    r.status = st;
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
    ++stats_.again;
    if (!failed) submit_write(i);
    return;
  }
  if (res < 0) {
    fail(errno_to_errc(-res));
    return;
  }
  if (res == 0) {  // no progress on a regular file: treat as the device refusing
    fail(errc::io_error);
    return;
  }
  auto n = static_cast<std::uint64_t>(res);
  if (n < s.left) {
    // Short write: step over what was written and resubmit the rest.
    ++stats_.short_writes;
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
  ++stats_.batches_written;
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
    ++stats_.syncs;
  }
  if (--sync_ops_left_ > 0) return;
  sync_inflight_ = false;
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
  ++stats_.sync_groups;
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
  while (expected < stop) {
    batch_header h;
    if (!src.read_at(pos, head, sizeof head) ||
        decode_batch_header({head, sizeof head}, opt_.max_batch_bytes, h) != batch_status::ok ||
        h.base_offset != expected) {
      r.status = r.batches == 0 ? errc::corrupt_batch : errc::ok;
      return r;
    }
    if (h.next_offset() <= offset) {  // before the one asked for: skip without reading it
      pos += h.total_size();
      expected = h.next_offset();
      continue;
    }
    const std::uint64_t total = h.total_size();
    if (total > buffer.size() - r.bytes) {
      if (r.batches == 0) {
        r.status = errc::invalid_argument;
        r.needed = static_cast<std::size_t>(total);
      }
      return r;
    }
    std::byte* dst = buffer.data() + r.bytes;
    batch_header check;
    std::span<const std::byte> payload;
    if (!src.read_at(pos, dst, static_cast<std::size_t>(total)) ||
        decode_batch({dst, static_cast<std::size_t>(total)}, opt_.max_batch_bytes, check,
                     payload) != batch_status::ok ||
        check.base_offset != expected) {
      if (r.batches == 0) r.status = errc::corrupt_batch;
      return r;  // what came before is good; the next read reports the damage
    }
    if (r.batches == 0) r.first_offset = h.base_offset;
    r.bytes += static_cast<std::size_t>(total);
    r.next_offset = h.next_offset();
    ++r.batches;
    pos += total;
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
  const std::uint64_t durable = durable_.load(std::memory_order_relaxed);
  std::size_t deleted = 0;
  while (segments_.size() > 1) {
    const segment& oldest = *segments_.front();
    const std::uint64_t next_base = segments_[1]->base;
    if (next_base > durable) break;  // only whole, durable, sealed segments
    if (!drop(oldest, next_base)) break;
    std::shared_ptr<segment> gone;
    {
      std::lock_guard lock(seg_mutex_);
      gone = segments_.front();
      segments_.erase(segments_.begin());
      start_.store(next_base, std::memory_order_release);  // pairs with log_start_offset()
    }
    // Open readers keep the file (their descriptor) until they drop the segment.
    for (const char* ext : {".log", ".index", ".timeindex"}) {
      ::unlink(gone->sibling(ext).c_str());
      crash_point("retention_delete");  // some of the segment's files gone, not all
    }
    ++deleted;
  }
  if (deleted > 0) {
    fsync_dir(dir_);
    (void)write_checkpoint(false);
  }
  return deleted;
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

errc partition_log::write_checkpoint(bool clean) noexcept {
  io::checkpoint cp;
  cp.clean = clean;
  cp.durable_offset = durable_.load(std::memory_order_relaxed);
  cp.log_start_offset = start_.load(std::memory_order_relaxed);
  if (active_ != nullptr) {
    cp.active_base = active_->base;
    cp.active_size = active_->size;
  }
  std::byte bytes[checkpoint_size];
  encode_checkpoint(cp, bytes);
  const std::filesystem::path tmp = dir_ / "checkpoint.tmp";
  const std::filesystem::path dst = dir_ / "checkpoint";
  if (!write_file(tmp, bytes, true) || ::rename(tmp.c_str(), dst.c_str()) != 0 ||
      !fsync_dir(dir_)) {
    return errc::file_error;
  }
  return errc::ok;
}

errc partition_log::checkpoint() noexcept {
  if (closed_) return errc::closed;
  return write_checkpoint(false);
}

errc partition_log::close() noexcept {
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
  (void)write_checkpoint(result == errc::ok);
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
