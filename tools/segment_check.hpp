// tools/segment_check.hpp: reading io/'s files offline (io/FORMAT.md), as `lanes dump` and
// `lanes verify` do (dump.cpp, verify.cpp): one segment checked batch by batch and record by
// record, and the small file helpers both need. Internal to the `lanes` tool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "lanes/segment_scan.hpp"

namespace lanes_tools {

// An open file, closed on scope exit.
struct fd_holder {
  int fd = -1;
  explicit fd_holder(const std::string& path);
  ~fd_holder();
  fd_holder(const fd_holder&) = delete;
  fd_holder& operator=(const fd_holder&) = delete;
};

bool read_exact(int fd, std::uint64_t pos, std::byte* dst, std::size_t n);

// The base offset a segment's file name says, if it is "<20 digits>.log".
std::optional<std::uint64_t> base_from_name(const std::filesystem::path& p);

// One segment checked batch by batch.
struct segment_check {
  lanes::io::scan_result scan;
  std::uint64_t size = 0;
  std::string record_problem;  // first malformed record, "" when none
  std::uint64_t record_problem_at = 0;
};

// Checks the segment at path (base offset `base`). print: the file header and every batch
// on stdout; records: every record too; values: with its value.
segment_check check_segment(const std::string& path, std::uint64_t base,
                            std::uint32_t max_batch_bytes, bool print, bool records, bool values);

// What a scan_stop means, for a person.
const char* stop_meaning(lanes::io::scan_stop s);

// max_batch_bytes as the bus configures it (modes/persist.cpp, log_options_for) from the
// ring capacity in topic.conf; generous when that cannot be read (the CRC still decides).
std::uint32_t max_batch_for(const std::filesystem::path& topic_dir);

}  // namespace lanes_tools
