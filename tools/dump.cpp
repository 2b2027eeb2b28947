// tools/dump.cpp: `lanes dump FILE.log`, an offline reader of the segment files io/ writes
// (io/FORMAT.md). It does not open a bus or take the data directory's lock, so it works while
// another process has the bus open (it may then see a tail being written). `lanes verify` is
// verify.cpp; both read segments with segment_check.cpp.
//
// dump: the file header, every batch (position, offsets, count, length, timestamps, CRC) and
//   every record (offset, timestamp, key, header count, value size; values with --values),
//   checking each checksum; the first damage ends the dump with its byte position and kind.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/segment_format.hpp"
#include "segment_check.hpp"

namespace lanes_tools {
namespace fs = std::filesystem;

CLI::App* add_dump_command(CLI::App& app, dump_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "dump",
      "Print a segment file's batches and records and check every checksum (offline: no bus, "
      "no lock)");
  cmd->add_option("file", o.file, "A segment file, <data-dir>/<topic>/<partition>/<base>.log")
      ->required();
  cmd->add_flag("!--no-records", o.records, "Batches only");
  cmd->add_flag("--values", o.values, "Print values too (first 200 bytes, escaped)");
  add_size_option(cmd, "--max-batch-bytes", o.max_batch_bytes, 1, UINT32_MAX,
                  "Largest plausible batch payload (default: from topic.conf, else 1 GiB)")
      ->default_str("");
  return cmd;
}

int run_dump(const dump_options& o) {
  struct stat st {};
  if (::stat(o.file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    runtime_error("cannot read " + o.file + ": not a readable file");
  }
  const fs::path path(o.file);
  std::uint64_t base = 0;
  if (auto b = base_from_name(path)) {
    base = *b;
  } else {
    // Not named as a segment: trust the header's base offset (still checksummed).
    fd_holder f(o.file);
    std::byte hdr[lanes::io::file_header_size];
    lanes::io::file_header fh;
    if (f.fd >= 0 && read_exact(f.fd, 0, hdr, sizeof hdr) &&
        lanes::io::decode_file_header(std::span<const std::byte>(hdr, sizeof hdr), fh)) {
      base = fh.base_offset;
    }
  }
  const std::uint32_t max_batch =
      o.max_batch_bytes != 0
          ? static_cast<std::uint32_t>(std::min<std::uint64_t>(o.max_batch_bytes, UINT32_MAX))
          : max_batch_for(path.parent_path().parent_path());
  const segment_check c = check_segment(o.file, base, max_batch, true, o.records, o.values);
  const auto& s = c.scan;
  std::printf("%llu good batches, offsets [%llu, %llu), %llu of %llu bytes good\n",
              static_cast<unsigned long long>(s.batches), static_cast<unsigned long long>(base),
              static_cast<unsigned long long>(s.next_offset),
              static_cast<unsigned long long>(s.valid_bytes),
              static_cast<unsigned long long>(c.size));
  bool damaged = false;
  if (!s.clean()) {
    damaged = true;
    std::fprintf(stderr, "lanes: error: %s: damage at byte %llu: %s (%s)\n", o.file.c_str(),
                 static_cast<unsigned long long>(s.valid_bytes), lanes::io::to_string(s.stop),
                 stop_meaning(s.stop));
  }
  if (!c.record_problem.empty()) {
    damaged = true;
    std::fprintf(stderr, "lanes: error: %s: bad record at byte %llu: %s\n", o.file.c_str(),
                 static_cast<unsigned long long>(c.record_problem_at), c.record_problem.c_str());
  }
  return damaged ? exit_failed : exit_ok;
}

}  // namespace lanes_tools
