// lanes/acks_file.hpp: a durable queue partition's acks file, <partition dir>/acks
// (io/FORMAT.md, "Acks file"): read back at recovery, appended to round by round, rewritten
// whole when it has grown.
//
// The file is a file header (kind acks) and then 32-byte CRC-protected records, each either
// "every offset below F is acked" (the floor) or "[first, end) is acked" (a range). Records
// only ever add acks. What they mean for a queue, and when a round runs, is modes/'s
// (modes/queue_acks.cpp); this file knows the bytes and the system calls.
//
// Threads: an acks_file belongs to one thread at a time (the persister, or the opener during
// recovery). Cold paths: they allocate, never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lanes/error.hpp"
#include "lanes/file_io.hpp"
#include "lanes/segment_format.hpp"

namespace lanes::io {

// Acked ranges [first, end) of offsets.
using ack_ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// Sorts and merges `ranges`, cutting off what lies below `floor`.
void normalise_ack_ranges(ack_ranges& ranges, std::uint64_t floor);

// What an acks file says, as far as it could be trusted.
struct acks_content {
  std::uint64_t floor = 0;  // the largest floor record
  ack_ranges ranges;        // ranges below `end` (see read_acks_file); not normalised
  // A record failed its checks and a good one followed it, or the file header is damaged:
  // not a torn append (which only ever hits the tail) but damage. The acks from the first
  // bad record on were not taken. `detail` says where.
  bool damaged = false;
  std::string detail;
};

// Reads `file` record by record, in 64 KiB chunks (no allocation that a length in the file
// decides). Acks at or past `end` are dropped as they are read (their records did not
// survive). The first record that fails its checks ends what is taken; bad records up to
// the end of the file are a torn append (not damage). A missing file is an empty one (ok);
// a read error is file_error.
errc read_acks_file(const std::filesystem::path& file, std::uint64_t end, acks_content& out);

// Copies a damaged acks file aside as <dir>/acks.damaged-<ns> for a person (the directory
// fsynced); returns the copy's path.
std::filesystem::path keep_damaged_acks_file(const std::filesystem::path& dir);

// The acks file of one partition, open for appending.
class acks_file {
 public:
  static constexpr const char* file_name = "acks";

  acks_file() = default;
  acks_file(const acks_file&) = delete;
  acks_file& operator=(const acks_file&) = delete;
  ~acks_file() { close(); }

  // The partition's directory; the file is <dir>/acks. Nothing is opened yet.
  void set_directory(std::filesystem::path dir) { dir_ = std::move(dir); }
  const std::filesystem::path& directory() const noexcept { return dir_; }
  std::filesystem::path path() const { return dir_ / file_name; }
  bool is_open() const noexcept { return fd_ >= 0; }

  // Replaces the file atomically with the state `floor` plus `ranges` (acks.tmp written and
  // fdatasynced, renamed, directory fsynced), then opens it for appending.
  errc rewrite(std::uint64_t floor, const ack_ranges& ranges);

  // A round: records are added to a buffer, then appended with one pwrite and fdatasync.
  void add_range(std::uint64_t first, std::uint64_t end);
  void add_floor(std::uint64_t floor);
  std::size_t pending_records() const noexcept { return pending_.size() / ack_record_size; }
  // Appends the pending records and fdatasyncs: ok, no_space (the disk is full) or
  // sync_failed. The buffer is emptied either way.
  errc append_pending() noexcept;
  void drop_pending() noexcept { pending_.clear(); }
  // Records appended since the file was last rewritten.
  std::uint64_t records_since_rewrite() const noexcept { return records_; }
  // Reserves room for a round of `records` records (the buffer then does not grow).
  void reserve(std::size_t records) { pending_.reserve(records * ack_record_size); }

  void close() noexcept;

 private:
  std::filesystem::path dir_;
  int fd_ = -1;
  std::uint64_t size_ = 0;     // appended at this position
  std::uint64_t records_ = 0;  // appended since the last rewrite
  std::vector<std::byte> pending_;
};

}  // namespace lanes::io
