// bench/durable_segments.cpp: the segment files of a durable partition as durable_bench reads
// them outside lanes: listing them, dropping them from the page cache, a pread walk without
// checks, and the time CRC32C takes over them.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "durable_bench.hpp"
#include "record_codec.hpp"
#include <lanes/clock.hpp>
#include <lanes/crc32c.hpp>
#include <lanes/segment_format.hpp>

namespace lanes_bench {
namespace {

std::uint32_t benchmark_sink = 0;  // keeps results the compiler could otherwise drop

}  // namespace

std::vector<fs::path> segment_files(const fs::path& pdir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(pdir)) {
    if (e.path().extension() == ".log") v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

// Drops the files from the page cache (they are durable: fsync first, then DONTNEED).
void drop_cache(const std::vector<fs::path>& files) {
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::fsync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// A pread walk of the segment files without any check: batch headers and frames only (what
// reading the files costs without lanes' checks and bookkeeping).
double raw_walk_mbs(const std::vector<fs::path>& files, std::uint64_t& records) {
  // One batch per read, as the consumer reads (its read-ahead is one 1 MiB batch here): the
  // same reads without the checks and the per-record bookkeeping.
  std::vector<std::byte> buf((std::size_t{1} << 20) + (std::size_t{64} << 10));
  std::uint64_t bytes = 0;
  records = 0;
  const std::int64_t t0 = lanes::steady_ns();
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    std::uint64_t pos = lanes::io::file_header_size;
    for (;;) {
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
      if (n <= 0) break;
      std::size_t at = 0;
      while (at + lanes::io::batch_header_size <= static_cast<std::size_t>(n)) {
        lanes::io::batch_header h;
        if (lanes::io::decode_batch_header({buf.data() + at, lanes::io::batch_header_size},
                                           1u << 30, h) != lanes::io::batch_status::ok ||
            h.total_size() > static_cast<std::size_t>(n) - at) {
          break;
        }
        // The frames, as a reader walks them (no CRC, no record size checks).
        const std::size_t end = at + h.total_size();
        lanes::detail::frame_walker w(
            {buf.data() + at + lanes::io::batch_header_size, h.payload_length});
        lanes::detail::record_frame frame;
        for (lanes::detail::frame_step s = w.next(frame);
             s == lanes::detail::frame_step::record || s == lanes::detail::frame_step::short_record;
             s = w.next(frame)) {
          ++records;
        }
        at = end;
      }
      if (at == 0) break;
      pos += at;
      bytes += at;
    }
    ::close(fd);
  }
  return static_cast<double>(bytes) / 1e6 / (static_cast<double>(lanes::steady_ns() - t0) / 1e9);
}

// The time CRC32C takes over every byte of these files, as the consumer's checks run: on
// each 1 MiB just read (hot in the cache; only the CRC is timed). What the read checks add
// to a replay at most.
double crc_seconds(const std::vector<fs::path>& files) {
  std::vector<std::byte> buf(std::size_t{1} << 20);
  double total = 0;
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    for (off_t pos = 0;;) {
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), pos);
      if (n <= 0) break;
      const std::int64_t t0 = lanes::steady_ns();
      benchmark_sink ^= lanes::io::crc32c_extend(0, buf.data(), static_cast<std::size_t>(n));
      total += static_cast<double>(lanes::steady_ns() - t0) / 1e9;
      pos += n;
    }
    ::close(fd);
  }
  return total;
}

}  // namespace lanes_bench
