// io/segment.hpp (private to io/): one segment file of a partition log in memory, and the
// codec of its sparse index files (.index, .timeindex; io/FORMAT.md).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "lanes/crc32c.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_format.hpp"

namespace lanes::io {

// Segment files are read front to back (a consumer catching up, recovery's scan): tell the
// kernel, which then reads ahead twice as far and keeps the disk busy while the reader
// checks what it got. fio's sequential read sets this hint by default (fadvise_hint); on
// this machine a cold 1.1 GB read of the segments ran at 1.4-1.6 GB/s without it and
// 3.4-4.0 GB/s with it. A hint only: failure changes nothing but speed.
inline void hint_sequential_reads(int fd) noexcept {
  if (fd >= 0) (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

// Recovery's checks of a trusted segment read a few headers (the file's, the batches' after
// its last index entry): no read-ahead for them, until hint_sequential_reads() when the
// segment is ready for readers. Under the sequential hint, the 32-byte read of the file
// header read ahead a window of its own, and a later cold read of the file from the start ran
// at 1.0-1.2 GB/s on this machine, against 1.7-2.0 after a header read without read-ahead
// (a plain pread loop, alternating runs, 1.1 GB of segments).
inline void hint_exact_reads(int fd) noexcept {
  if (fd >= 0) (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
}

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
  // Any thread: the first indexed offset whose batch starts after byte `position` (a place
  // a reader can resume after damage there), or `otherwise` when none is.
  std::uint64_t offset_after_position(std::uint64_t position,
                                      std::uint64_t otherwise) const noexcept {
    const std::size_t n = idx_count.load(std::memory_order_acquire);  // pairs with add_index
    for (std::size_t k = 0; k < n; ++k) {
      if (idx[k].position > position) return base + idx[k].relative_offset;
    }
    return otherwise;
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

template <class Entry>
inline std::vector<std::byte> encode_index(file_kind kind, std::uint64_t base, const Entry* entries,
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
inline bool decode_index(std::span<const std::byte> in, file_kind kind, std::uint64_t base,
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

}  // namespace lanes::io
