// tools/verify.cpp: `lanes verify DIR`, an offline check of the files io/ writes
// (io/FORMAT.md). It does not open a bus or take the data directory's lock, so it works while
// another process has the bus open (it may then see a tail being written).
//
// verify: every segment of every partition of every topic, batch by batch (io::scan_segment:
//   header rules, length bounds, CRC32C, offsets dense within the segment), plus what a scan
//   of one file cannot see: each record inside a batch (frames well formed, record offsets
//   dense from the batch's base, as many as the batch says), segment base offsets equal to
//   their file names and dense across segments, and the checkpoint's durable point. Damage
//   found: one line per problem naming the file, the byte position and the kind, exit 1.
//   A torn tail of the last segment beyond the durable point (what a crash leaves, and what
//   recovery truncates) is reported as a note and is damage only with --strict.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/group_offsets_file.hpp"
#include "lanes/lanes.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_format.hpp"
#include "lanes_support/json_writer.hpp"
#include "segment_check.hpp"

namespace lanes_tools {
namespace {
namespace fs = std::filesystem;

struct finding {
  std::string file;
  std::uint64_t position;
  std::string kind;
  std::string detail;
  bool damage;
};

// What a verify run found and counted.
struct verify_result {
  std::vector<finding> findings;
  std::uint64_t topics = 0, partitions = 0, segments = 0, batches = 0, records = 0, bytes = 0;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Recovery's rule for a bad segment header (lanes/segment_scan.hpp): never written, or damage.
bool never_written(const fs::path& p) {
  fd_holder f(p.string());
  struct stat st {};
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0) return false;
  lanes::io::file_source src(f.fd, static_cast<std::uint64_t>(st.st_size));
  return lanes::io::header_never_written(src);
}

// The topic's configuration, and its committed group offsets (io/FORMAT.md): each file must
// decode.
void check_topic_files(const fs::path& tdir, verify_result& v) {
  lanes::topic_config config;
  if (!lanes::parse_topic_config(tdir.filename().string(), slurp(tdir / "topic.conf"), config)) {
    v.findings.push_back({(tdir / "topic.conf").string(), 0, "bad_topic_config",
                          "the topic configuration does not decode: the bus refuses to open",
                          true});
  }
  std::error_code ec;
  if (!fs::is_directory(tdir / "offsets", ec)) return;
  for (const auto& e : fs::directory_iterator(tdir / "offsets", ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".tmp") || name.find(".damaged-") != std::string::npos) continue;
    std::vector<std::int64_t> committed;
    std::string why;
    const std::string text = slurp(e.path());
    if (!lanes::io::decode_group_offsets(text, config.partitions, committed, why)) {
      v.findings.push_back({e.path().string(), 0, "bad_group_offsets", why, true});
    }
  }
}

// The topic's partition directories, by number; quarantined ones are noted.
std::vector<std::pair<std::uint32_t, fs::path>> partition_dirs(const fs::path& tdir,
                                                               verify_result& v) {
  std::vector<std::pair<std::uint32_t, fs::path>> parts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tdir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory()) continue;
    if (name.find(".quarantine-") != std::string::npos) {
      v.findings.push_back({e.path().string(), 0, "quarantined",
                            "a partition directory the bus set aside after damage", false});
      continue;
    }
    if (name.empty() || name.size() > 9 ||
        name.find_first_not_of("0123456789") != std::string::npos) {
      continue;  // offsets/, ...
    }
    parts.emplace_back(static_cast<std::uint32_t>(std::stoul(name)), e.path());
  }
  std::sort(parts.begin(), parts.end());
  return parts;
}

// The checkpoint's durable point (everything below it must be there) and log start.
struct checkpoint_points {
  std::uint64_t durable = 0;
  std::optional<std::uint64_t> log_start;
};

checkpoint_points read_checkpoint(const fs::path& cp, verify_result& v) {
  checkpoint_points points;
  std::error_code ec;
  if (fs::is_symlink(cp)) {
    v.findings.push_back({cp.string(), 0, "symlink", "a symbolic link: the bus refuses it", true});
  } else if (fs::exists(cp)) {
    std::vector<std::byte> b(lanes::io::checkpoint_size);
    fd_holder f(cp.string());
    lanes::io::checkpoint c;
    if (fs::file_size(cp, ec) != lanes::io::checkpoint_size || f.fd < 0 ||
        !read_exact(f.fd, 0, b.data(), b.size()) || !lanes::io::decode_checkpoint(b, c)) {
      v.findings.push_back({cp.string(), 0, "bad_checkpoint",
                            "the checkpoint file is damaged (it is only ever replaced whole)",
                            true});
    } else {
      points.durable = c.durable_offset;
      points.log_start = c.log_start_offset;
    }
  }
  return points;
}

using segment_list = std::vector<std::pair<std::uint64_t, fs::path>>;

// The partition's segments by base offset, from the checkpoint's log start on; what is odd
// about them (names, below the log start, the first missing, no checkpoint) is a finding.
segment_list list_segments(const fs::path& pdir, const fs::path& cp,
                           const checkpoint_points& points, verify_result& v) {
  segment_list segs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(pdir, ec)) {
    if (e.path().extension() != ".log") continue;
    if (auto base = base_from_name(e.path())) {
      segs.emplace_back(*base, e.path());
    } else {
      v.findings.push_back({e.path().string(), 0, "bad_name",
                            "a .log file not named by a 20-digit base offset", true});
    }
  }
  std::sort(segs.begin(), segs.end());
  const std::optional<std::uint64_t>& log_start = points.log_start;
  // Below the checkpoint's log start: left by a retention a crash interrupted (recovery
  // deletes them). The first segment must start at the log start.
  while (log_start && !segs.empty() && segs.front().first < *log_start) {
    v.findings.push_back({segs.front().second.string(), 0, "below_log_start",
                          "a segment retention was deleting (recovery finishes that)", false});
    segs.erase(segs.begin());
  }
  if (log_start && !segs.empty() && segs.front().first > *log_start) {
    v.findings.push_back({pdir.string(), 0, "first_segment_missing",
                          "the checkpoint says the log starts at offset " +
                              std::to_string(*log_start) + ", the first segment at " +
                              std::to_string(segs.front().first) + ": records are missing",
                          true});
  }
  if (!fs::exists(cp) && !fs::is_symlink(cp)) {
    for (const auto& [b, path] : segs) {
      if (fs::file_size(path, ec) > lanes::io::file_header_size) {
        v.findings.push_back({cp.string(), 0, "missing_checkpoint",
                              "the checkpoint is missing but segments hold records (every "
                              "open writes one: it was deleted)",
                              true});
        break;
      }
    }
  }
  return segs;
}

// Segment `base` at path checked; returns the offset its good records end at.
std::uint64_t check_one_segment(const verify_options& o, std::uint64_t base, const fs::path& path,
                                bool last, std::uint32_t max_batch, std::uint64_t durable,
                                verify_result& v) {
  const segment_check c = check_segment(path.string(), base, max_batch, false, false, false);
  v.batches += c.scan.batches;
  v.bytes += c.size;
  v.records += c.scan.next_offset > base ? c.scan.next_offset - base : 0;
  const std::uint64_t end =
      c.scan.stop == lanes::io::scan_stop::bad_file_header ? base : c.scan.next_offset;
  if (!c.scan.clean()) {
    // Beyond the durable point in the last segment: a torn tail, which recovery cuts.
    const bool torn = last && end >= durable && c.scan.stop != lanes::io::scan_stop::read_error &&
                      c.scan.stop != lanes::io::scan_stop::offset_gap &&
                      (c.scan.stop != lanes::io::scan_stop::bad_file_header || never_written(path));
    v.findings.push_back(
        {path.string(), c.scan.valid_bytes, lanes::io::to_string(c.scan.stop),
         std::string(stop_meaning(c.scan.stop)) +
             (torn ? "; a torn tail after the durable point " + std::to_string(durable) + " (" +
                         std::to_string(c.size - c.scan.valid_bytes) +
                         " bytes that recovery truncates)"
                   : "; records from offset " + std::to_string(end) + " on are lost"),
         !torn || o.strict});
  }
  if (!c.record_problem.empty()) {
    v.findings.push_back(
        {path.string(), c.record_problem_at, "bad_record", c.record_problem, true});
  }
  return end;
}

void verify_partition(const verify_options& o, const fs::path& pdir, std::uint32_t max_batch,
                      verify_result& v) {
  ++v.partitions;
  const fs::path cp = pdir / "checkpoint";
  const checkpoint_points points = read_checkpoint(cp, v);
  const segment_list segs = list_segments(pdir, cp, points, v);
  std::optional<std::uint64_t> expect;  // next offset after the previous segment
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& [base, path] = segs[i];
    ++v.segments;
    if (expect && base != *expect) {
      v.findings.push_back({path.string(), 0, "offset_gap",
                            "segment starts at offset " + std::to_string(base) +
                                ", the previous one ends at " + std::to_string(*expect),
                            true});
    }
    end = check_one_segment(o, base, path, i + 1 == segs.size(), max_batch, points.durable, v);
    expect = end;
  }
  if (end < points.durable) {
    v.findings.push_back({pdir.string(), 0, "below_durable_point",
                          "the log ends at offset " + std::to_string(end) +
                              " but the checkpoint says offsets below " +
                              std::to_string(points.durable) + " were durable",
                          true});
  }
}

// The topic directories of the data directory (those with a topic.conf), sorted.
std::vector<fs::path> topic_dirs(const verify_options& o) {
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(o.data_dir, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "topic.conf")) dirs.push_back(e.path());
  }
  if (ec) runtime_error("cannot list " + o.data_dir + ": " + ec.message());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// The totals, in the order both reports give them, named as the JSON names them.
std::vector<std::pair<const char*, std::uint64_t>> totals(const verify_result& v) {
  return {{"topics", v.topics},   {"partitions", v.partitions}, {"segments", v.segments},
          {"batches", v.batches}, {"records", v.records},       {"bytes", v.bytes}};
}

void print_json(const verify_options& o, const verify_result& v, std::size_t damage) {
  json_writer j;
  j.begin_object();
  j.field("data_dir", o.data_dir);
  j.field("status", damage == 0 ? "ok" : "damaged");
  for (const auto& [name, n] : totals(v)) j.field(name, n);
  j.objects("findings", v.findings, [&](const finding& f) {
    j.field("file", f.file);
    j.field("position", f.position);
    j.field("kind", f.kind);
    j.field("detail", f.detail);
    j.field("damage", f.damage);
  });
  j.end_object();
  std::fputs(j.str().c_str(), stdout);
}

// The totals (JSON or a line), every finding on stderr; the exit code.
int report(const verify_options& o, const verify_result& v) {
  std::size_t damage = 0;
  for (const finding& f : v.findings) damage += f.damage ? 1 : 0;
  if (o.json) {
    print_json(o, v, damage);
  } else {
    std::string line = "lanes verify " + o.data_dir + ":";
    const char* separator = " ";
    for (const auto& [name, n] : totals(v)) {
      line += separator + std::to_string(n) + " " + name;
      separator = ", ";
    }
    std::printf("%s\n", line.c_str());
  }
  for (const finding& f : v.findings) {
    std::fprintf(stderr, "lanes verify: %s: %s: byte %llu: %s: %s\n", f.damage ? "DAMAGE" : "note",
                 f.file.c_str(), static_cast<unsigned long long>(f.position), f.kind.c_str(),
                 f.detail.c_str());
  }
  if (damage != 0) {
    std::fprintf(stderr, "lanes: error: %zu damaged place%s in %s (listed above)\n", damage,
                 damage == 1 ? "" : "s", o.data_dir.c_str());
    return exit_failed;
  }
  if (!o.json) std::printf("ok: no damage found\n");
  return exit_ok;
}

}  // namespace

CLI::App* add_verify_command(CLI::App& app, verify_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check every segment of every partition of a data directory, batch by batch (offline: no "
      "bus, no lock); exit 1 on damage");
  cmd->add_option("data-dir", o.data_dir, "Data directory")->required();
  cmd->add_flag("--strict", o.strict,
                "A torn tail after the durable point (what a crash leaves) counts as damage");
  cmd->add_flag("--json", o.json, "Print the findings as one JSON object");
  return cmd;
}

int run_verify(const verify_options& o) {
  struct stat st {};
  if (::stat(o.data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    runtime_error("data directory " + o.data_dir + " does not exist or is not a directory");
  }
  if (::access(o.data_dir.c_str(), R_OK | X_OK) != 0) {
    runtime_error("data directory " + o.data_dir + " is not readable by this user");
  }
  verify_result v;
  for (const fs::path& tdir : topic_dirs(o)) {
    ++v.topics;
    const std::uint32_t max_batch = max_batch_for(tdir);
    check_topic_files(tdir, v);
    for (const auto& [pid, pdir] : partition_dirs(tdir, v)) verify_partition(o, pdir, max_batch, v);
  }
  return report(o, v);
}

}  // namespace lanes_tools
