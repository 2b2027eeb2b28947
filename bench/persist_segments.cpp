// bench/persist_segments.cpp: persist_bench's reading of the segment files the bus wrote
// (records and batches per file), and what one case did to the disk (disk_case).
#include <fstream>
#include <iterator>
#include <span>

#include "persist_bench.hpp"
#include <lanes/segment_format.hpp>

namespace lanes_bench {

// Walks every .log file under `root`, batch header by batch header (no CRC: the bus wrote
// them a moment ago; recovery is tested elsewhere).
log_scan scan_logs(const fs::path& root) {
  log_scan s;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".log") continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++s.files;
    s.bytes += data.size();
    std::size_t pos = lanes::io::file_header_size;
    while (pos + lanes::io::batch_header_size <= data.size()) {
      lanes::io::batch_header h;
      const auto bytes = std::as_bytes(std::span(data)).subspan(pos);
      if (lanes::io::decode_batch_header(bytes, 64u << 20, h) != lanes::io::batch_status::ok) {
        break;
      }
      ++s.batches;
      s.records += h.count;
      s.payload += h.total_size();
      pos += h.total_size();
    }
  }
  return s;
}

disk_case::disk_case(const fs::path& dir, const disk_info& disk)
    : dir_(dir), stat_path_(disk.stat_path) {
  fs::remove_all(dir_);
  before_ = read_block(stat_path_);
}

log_scan disk_case::finish() {
  after_ = read_block(stat_path_);
  scan_ = scan_logs(dir_);
  fs::remove_all(dir_);
  return scan_;
}

void disk_case::add_batches_and_flushes(sample& s, const char* per_key, double per) const {
  s["records_per_batch"] =
      scan_.batches ? static_cast<double>(scan_.records) / static_cast<double>(scan_.batches) : 0;
  add_device(s);
  if (s.count("dev_flushes") != 0 && per != 0) s[per_key] = s["dev_flushes"] / per;
}

}  // namespace lanes_bench
