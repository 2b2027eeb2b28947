// lanes/segment_scan.hpp: walks a segment file batch by batch, as recovery and index
// rebuilding do, and says where the good prefix ends and why.
//
// The scan trusts nothing it reads: every length is bounded by the bytes left in the file
// and by max_batch_bytes before it is used; payloads are checksummed in fixed 16 KiB chunks,
// so a scan allocates nothing whatever the file says. Cold path; any thread; no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lanes/segment_format.hpp"

namespace lanes::io {

// Where a scan reads from: a file (pread) or memory (tests, the fuzzer).
class byte_source {
 public:
  virtual ~byte_source() = default;
  virtual std::uint64_t size() const noexcept = 0;
  // Reads exactly n bytes at pos (pos + n <= size()); false on an I/O error.
  virtual bool read_at(std::uint64_t pos, std::byte* dst, std::size_t n) noexcept = 0;
};

class memory_source final : public byte_source {
 public:
  memory_source(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  std::uint64_t size() const noexcept override { return size_; }
  bool read_at(std::uint64_t pos, std::byte* dst, std::size_t n) noexcept override;

 private:
  const std::byte* data_;
  std::size_t size_;
};

class file_source final : public byte_source {
 public:
  file_source(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}
  std::uint64_t size() const noexcept override { return size_; }
  bool read_at(std::uint64_t pos, std::byte* dst, std::size_t n) noexcept override;

 private:
  int fd_;
  std::uint64_t size_;
};

// Values in this order, read_error last: to_string names them by value.
enum class scan_stop : std::uint8_t {
  end_of_file,      // every byte belongs to a good batch
  bad_file_header,  // the 32-byte file header is missing, damaged or names another base
  truncated,        // a batch runs past the end of the file (a torn tail)
  bad_magic,        // bytes that are not a batch header (garbage, zeros)
  bad_length,       // implausible count, length or timestamps
  bad_crc,          // checksum mismatch
  offset_gap,       // a good batch whose base offset is not the expected next offset
  read_error,       // the source could not be read
};
const char* to_string(scan_stop s) noexcept;

struct scan_result {
  scan_stop stop = scan_stop::end_of_file;
  std::uint64_t valid_bytes = 0;              // file prefix of good data (0 when the header is bad)
  std::uint64_t next_offset = 0;              // one past the last record of the good prefix
  std::uint64_t batches = 0;                  // good batches
  std::int64_t max_timestamp_ns = INT64_MIN;  // over the good batches
  file_header header{};
  bool clean() const noexcept { return stop == scan_stop::end_of_file; }
};

// Whether a segment whose file header is bad was simply never written: shorter than a header,
// or a header of zeros (what a crash right after a roll leaves). Any other bad header is
// damage, not a torn tail (recovery and `lanes verify` apply the same rule).
bool header_never_written(byte_source& src) noexcept;

// Called for every good batch, in file order, with its byte position.
using batch_visitor = void (*)(void* ctx, std::uint64_t position, const batch_header& h);

// Scans a .log file whose name says `base_offset`. visit may be nullptr.
scan_result scan_segment(byte_source& src, std::uint64_t base_offset, std::uint32_t max_batch_bytes,
                         batch_visitor visit = nullptr, void* ctx = nullptr) noexcept;

}  // namespace lanes::io
