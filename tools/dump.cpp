// tools/dump.cpp: `lanes dump FILE.log` and `lanes verify DIR`, offline readers of the files
// io/ writes (io/FORMAT.md). Neither opens a bus or takes the data directory's lock, so both
// work while another process has the bus open (they may then see a tail being written).
//
// dump: the file header, every batch (position, offsets, count, length, timestamps, CRC) and
//   every record (offset, timestamp, key, header count, value size; values with --values),
//   checking each checksum; the first damage ends the dump with its byte position and kind.
// verify: every segment of every partition of every topic, batch by batch (io::scan_segment:
//   header rules, length bounds, CRC32C, offsets dense within the segment), plus what a scan
//   of one file cannot see: each record inside a batch (frames well formed, record offsets
//   dense from the batch's base, as many as the batch says), segment base offsets equal to
//   their file names and dense across segments, and the checkpoint's durable point. Damage
//   found: one line per problem naming the file, the byte position and the kind, exit 1.
//   A torn tail of the last segment beyond the durable point (what a crash leaves, and what
//   recovery truncates) is reported as a note and is damage only with --strict.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "lanes/group_offsets_file.hpp"
#include "lanes/lanes.hpp"
#include "lanes/partition_log.hpp"
#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"
#include "lanes_support/json_writer.hpp"
#include "record_codec.hpp"

namespace lanes_tools {
namespace {
namespace fs = std::filesystem;

// An open file, closed on scope exit.
struct fd_holder {
  int fd = -1;
  explicit fd_holder(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~fd_holder() {
    if (fd >= 0) ::close(fd);
  }
  fd_holder(const fd_holder&) = delete;
  fd_holder& operator=(const fd_holder&) = delete;
};

bool read_exact(int fd, std::uint64_t pos, std::byte* dst, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, dst + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

// The base offset a segment's file name says, if it is "<20 digits>.log".
std::optional<std::uint64_t> base_from_name(const fs::path& p) {
  const std::string stem = p.stem().string();
  if (p.extension() != ".log" || stem.size() != 20 ||
      stem.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(stem);
}

struct batch_at {
  std::uint64_t position;
  lanes::io::batch_header header;
};

void collect_batch(void* ctx, std::uint64_t position, const lanes::io::batch_header& h) {
  static_cast<std::vector<batch_at>*>(ctx)->push_back({position, h});
}

// Walks the frames of a batch payload. Returns "" when every frame is well formed, the
// records' offsets run densely from base and there are exactly `count` of them; otherwise
// what is wrong, with the byte position inside the payload in `where`.
template <class Fn>
std::string walk_records(std::span<const std::byte> payload, const lanes::io::batch_header& h,
                         std::size_t& where, Fn&& fn) {
  lanes::detail::frame_walker w(payload);
  lanes::detail::record_frame f;
  std::uint64_t expect = h.base_offset;
  std::uint32_t seen = 0;
  for (;;) {
    where = w.position();
    const lanes::detail::frame_step step = w.next(f);
    if (step == lanes::detail::frame_step::end) break;
    if (step == lanes::detail::frame_step::cut) return "frame header cut short";
    where = f.at;
    if (step == lanes::detail::frame_step::overrun) {
      return "frame length " + std::to_string(f.frame.length) + " runs past the batch";
    }
    if (step != lanes::detail::frame_step::record) {
      return "frame of " + std::to_string(f.frame.length) + " bytes is too short for a record";
    }
    const lanes::record_header rh = lanes::detail::decode_record_header(f.rec);
    const std::uint64_t key = rh.key_size == lanes::record_header::no_key ? 0 : rh.key_size;
    if (sizeof rh + key + rh.headers_size + rh.value_size > f.frame.length) {
      return "record sizes (key " + std::to_string(key) + ", headers " +
             std::to_string(rh.headers_size) + ", value " + std::to_string(rh.value_size) +
             ") exceed its frame of " + std::to_string(f.frame.length) + " bytes";
    }
    if (rh.offset != expect) {
      return "record offset " + std::to_string(rh.offset) + ", expected " + std::to_string(expect);
    }
    lanes::record_view r;
    lanes::detail::fill_record_view(r, f.rec, {}, 0);
    fn(r);
    ++expect;
    ++seen;
  }
  if (seen != h.count) {
    return std::to_string(seen) + " records, the batch header says " + std::to_string(h.count);
  }
  return {};
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (const char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// One segment checked batch by batch. `problems` gets a line per damage found.
struct segment_check {
  lanes::io::scan_result scan;
  std::uint64_t size = 0;
  std::string record_problem;  // first malformed record, "" when none
  std::uint64_t record_problem_at = 0;
};

segment_check check_segment(const std::string& path, std::uint64_t base,
                            std::uint32_t max_batch_bytes, bool print, bool records, bool values) {
  segment_check out;
  fd_holder f(path);
  if (f.fd < 0) runtime_error("cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) runtime_error("cannot stat " + path + ": " + std::strerror(errno));
  out.size = static_cast<std::uint64_t>(st.st_size);
  lanes::io::file_source src(f.fd, out.size);
  std::vector<batch_at> batches;
  out.scan = lanes::io::scan_segment(src, base, max_batch_bytes, collect_batch, &batches);
  if (print) {
    if (out.scan.stop != lanes::io::scan_stop::bad_file_header) {
      std::printf("file %s: %llu bytes, log segment, base offset %llu, created %lld ns\n",
                  path.c_str(), static_cast<unsigned long long>(out.size),
                  static_cast<unsigned long long>(out.scan.header.base_offset),
                  static_cast<long long>(out.scan.header.created_ns));
    }
  }
  std::vector<std::byte> buf;
  for (const batch_at& b : batches) {
    if (print) {
      std::printf(
          "batch at %llu: offsets %llu..%llu (%u records), %u payload bytes, timestamps "
          "%lld..%lld, crc 0x%08x ok\n",
          static_cast<unsigned long long>(b.position),
          static_cast<unsigned long long>(b.header.base_offset),
          static_cast<unsigned long long>(b.header.next_offset() - 1), b.header.count,
          b.header.payload_length, static_cast<long long>(b.header.first_timestamp_ns),
          static_cast<long long>(b.header.max_timestamp_ns), b.header.crc);
    }
    buf.resize(b.header.payload_length);  // bounded: the scan checked it against the file
    if (!read_exact(f.fd, b.position + lanes::io::batch_header_size, buf.data(), buf.size())) {
      runtime_error("cannot read " + path + " at byte " + std::to_string(b.position));
    }
    std::size_t where = 0;
    const std::string problem = walk_records(
        std::span<const std::byte>(buf), b.header, where, [&](const lanes::record_view& r) {
          if (!print || !records) return;
          std::printf("  offset %llu: timestamp %lld, key %s, %u headers, %zu value bytes",
                      static_cast<unsigned long long>(r.offset),
                      static_cast<long long>(r.timestamp_ns),
                      r.has_key ? ("\"" + printable(r.key, 40) + "\"").c_str() : "none",
                      r.headers.size(), r.value.size());
          if (values) std::printf(": \"%s\"", printable(r.value, 200).c_str());
          std::printf("\n");
        });
    if (!problem.empty() && out.record_problem.empty()) {
      out.record_problem = problem;
      out.record_problem_at = b.position + lanes::io::batch_header_size + where;
    }
  }
  return out;
}

const char* stop_meaning(lanes::io::scan_stop s) {
  switch (s) {
    case lanes::io::scan_stop::end_of_file: return "no damage";
    case lanes::io::scan_stop::bad_file_header:
      return "the 32-byte file header is missing, damaged or names another base offset";
    case lanes::io::scan_stop::truncated: return "a batch runs past the end of the file";
    case lanes::io::scan_stop::bad_magic: return "bytes that are not a batch header";
    case lanes::io::scan_stop::bad_length: return "implausible count, length or timestamps";
    case lanes::io::scan_stop::bad_crc: return "checksum mismatch";
    case lanes::io::scan_stop::offset_gap: return "a batch's base offset is not the next offset";
    case lanes::io::scan_stop::read_error: return "the file could not be read";
  }
  return "?";
}

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

// max_batch_bytes as the bus configures it (modes/persist.cpp, log_options_for) from the
// ring capacity in topic.conf; generous when that cannot be read (the CRC still decides).
std::uint32_t max_batch_for(const fs::path& topic_dir) {
  std::ifstream in(topic_dir / "topic.conf");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("ring_capacity=", 0) == 0) {
      try {
        const std::uint64_t ring = std::stoull(line.substr(14));
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(
            UINT32_MAX, std::max<std::uint64_t>(8u << 20, ring / 2 + 4096)));
      } catch (const std::exception&) {
        break;
      }
    }
  }
  return 1u << 30;
}

}  // namespace

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
  struct finding {
    std::string file;
    std::uint64_t position;
    std::string kind;
    std::string detail;
    bool damage;
  };
  std::vector<finding> findings;
  std::uint64_t topics = 0, partitions = 0, segments = 0, batches = 0, records = 0, bytes = 0;
  std::error_code ec;
  std::vector<fs::path> topic_dirs;
  for (const auto& e : fs::directory_iterator(o.data_dir, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "topic.conf")) topic_dirs.push_back(e.path());
  }
  if (ec) runtime_error("cannot list " + o.data_dir + ": " + ec.message());
  std::sort(topic_dirs.begin(), topic_dirs.end());
  for (const fs::path& tdir : topic_dirs) {
    ++topics;
    const std::uint32_t max_batch = max_batch_for(tdir);
    lanes::topic_config config;
    if (!lanes::parse_topic_config(tdir.filename().string(), slurp(tdir / "topic.conf"), config)) {
      findings.push_back({(tdir / "topic.conf").string(), 0, "bad_topic_config",
                          "the topic configuration does not decode: the bus refuses to open",
                          true});
    }
    // Committed group offsets (io/FORMAT.md): each file must decode.
    if (fs::is_directory(tdir / "offsets", ec)) {
      for (const auto& e : fs::directory_iterator(tdir / "offsets", ec)) {
        const std::string name = e.path().filename().string();
        if (name.ends_with(".tmp") || name.find(".damaged-") != std::string::npos) continue;
        std::vector<std::int64_t> committed;
        std::string why;
        const std::string text = slurp(e.path());
        if (!lanes::io::decode_group_offsets(text, config.partitions, committed, why)) {
          findings.push_back({e.path().string(), 0, "bad_group_offsets", why, true});
        }
      }
    }
    std::vector<std::pair<std::uint32_t, fs::path>> parts;
    for (const auto& e : fs::directory_iterator(tdir, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory()) continue;
      if (name.find(".quarantine-") != std::string::npos) {
        findings.push_back({e.path().string(), 0, "quarantined",
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
    for (const auto& [pid, pdir] : parts) {
      ++partitions;
      // The checkpoint's durable point: everything below it must be there.
      std::uint64_t durable = 0;
      std::optional<std::uint64_t> log_start;
      const fs::path cp = pdir / "checkpoint";
      if (fs::is_symlink(cp)) {
        findings.push_back(
            {cp.string(), 0, "symlink", "a symbolic link: the bus refuses it", true});
      } else if (fs::exists(cp)) {
        std::vector<std::byte> b(lanes::io::checkpoint_size);
        fd_holder f(cp.string());
        lanes::io::checkpoint c;
        if (fs::file_size(cp, ec) != lanes::io::checkpoint_size || f.fd < 0 ||
            !read_exact(f.fd, 0, b.data(), b.size()) || !lanes::io::decode_checkpoint(b, c)) {
          findings.push_back({cp.string(), 0, "bad_checkpoint",
                              "the checkpoint file is damaged (it is only ever replaced whole)",
                              true});
        } else {
          durable = c.durable_offset;
          log_start = c.log_start_offset;
        }
      }
      std::vector<std::pair<std::uint64_t, fs::path>> segs;
      for (const auto& e : fs::directory_iterator(pdir, ec)) {
        if (e.path().extension() != ".log") continue;
        if (auto base = base_from_name(e.path())) {
          segs.emplace_back(*base, e.path());
        } else {
          findings.push_back({e.path().string(), 0, "bad_name",
                              "a .log file not named by a 20-digit base offset", true});
        }
      }
      std::sort(segs.begin(), segs.end());
      // Below the checkpoint's log start: left by a retention a crash interrupted (recovery
      // deletes them). The first segment must start at the log start.
      while (log_start && !segs.empty() && segs.front().first < *log_start) {
        findings.push_back({segs.front().second.string(), 0, "below_log_start",
                            "a segment retention was deleting (recovery finishes that)", false});
        segs.erase(segs.begin());
      }
      if (log_start && !segs.empty() && segs.front().first > *log_start) {
        findings.push_back({pdir.string(), 0, "first_segment_missing",
                            "the checkpoint says the log starts at offset " +
                                std::to_string(*log_start) + ", the first segment at " +
                                std::to_string(segs.front().first) + ": records are missing",
                            true});
      }
      if (!fs::exists(cp) && !fs::is_symlink(cp)) {
        for (const auto& [b, path] : segs) {
          if (fs::file_size(path, ec) > lanes::io::file_header_size) {
            findings.push_back({cp.string(), 0, "missing_checkpoint",
                                "the checkpoint is missing but segments hold records (every "
                                "open writes one: it was deleted)",
                                true});
            break;
          }
        }
      }
      std::optional<std::uint64_t> expect;  // next offset after the previous segment
      std::uint64_t end = 0;
      for (std::size_t i = 0; i < segs.size(); ++i) {
        const auto& [base, path] = segs[i];
        const bool last = i + 1 == segs.size();
        ++segments;
        if (expect && base != *expect) {
          findings.push_back({path.string(), 0, "offset_gap",
                              "segment starts at offset " + std::to_string(base) +
                                  ", the previous one ends at " + std::to_string(*expect),
                              true});
        }
        const segment_check c = check_segment(path.string(), base, max_batch, false, false, false);
        batches += c.scan.batches;
        bytes += c.size;
        records += c.scan.next_offset > base ? c.scan.next_offset - base : 0;
        end = c.scan.stop == lanes::io::scan_stop::bad_file_header ? base : c.scan.next_offset;
        if (!c.scan.clean()) {
          // Beyond the durable point in the last segment: a torn tail, which recovery cuts.
          const bool torn =
              last && end >= durable && c.scan.stop != lanes::io::scan_stop::read_error &&
              c.scan.stop != lanes::io::scan_stop::offset_gap &&
              (c.scan.stop != lanes::io::scan_stop::bad_file_header || never_written(path));
          findings.push_back(
              {path.string(), c.scan.valid_bytes, lanes::io::to_string(c.scan.stop),
               std::string(stop_meaning(c.scan.stop)) +
                   (torn ? "; a torn tail after the durable point " + std::to_string(durable) +
                               " (" + std::to_string(c.size - c.scan.valid_bytes) +
                               " bytes that recovery truncates)"
                         : "; records from offset " + std::to_string(end) + " on are lost"),
               !torn || o.strict});
        }
        if (!c.record_problem.empty()) {
          findings.push_back(
              {path.string(), c.record_problem_at, "bad_record", c.record_problem, true});
        }
        expect = end;
      }
      if (end < durable) {
        findings.push_back({pdir.string(), 0, "below_durable_point",
                            "the log ends at offset " + std::to_string(end) +
                                " but the checkpoint says offsets below " +
                                std::to_string(durable) + " were durable",
                            true});
      }
    }
  }
  std::size_t damage = 0;
  for (const finding& f : findings) damage += f.damage ? 1 : 0;
  if (o.json) {
    json_writer j;
    j.begin_object();
    j.field("data_dir", o.data_dir);
    j.field("status", damage == 0 ? "ok" : "damaged");
    j.field("topics", topics);
    j.field("partitions", partitions);
    j.field("segments", segments);
    j.field("batches", batches);
    j.field("records", records);
    j.field("bytes", bytes);
    j.key("findings");
    j.begin_array();
    for (const finding& f : findings) {
      j.begin_object();
      j.field("file", f.file);
      j.field("position", f.position);
      j.field("kind", f.kind);
      j.field("detail", f.detail);
      j.field("damage", f.damage);
      j.end_object();
    }
    j.end_array();
    j.end_object();
    std::fputs(j.str().c_str(), stdout);
  } else {
    std::printf(
        "lanes verify %s: %llu topics, %llu partitions, %llu segments, %llu batches, %llu "
        "records, %llu bytes\n",
        o.data_dir.c_str(), static_cast<unsigned long long>(topics),
        static_cast<unsigned long long>(partitions), static_cast<unsigned long long>(segments),
        static_cast<unsigned long long>(batches), static_cast<unsigned long long>(records),
        static_cast<unsigned long long>(bytes));
  }
  for (const finding& f : findings) {
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

}  // namespace lanes_tools
