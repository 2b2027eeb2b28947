// tools/segment_check.cpp: one segment file read offline, batch by batch and record by
// record (segment_check.hpp), for `lanes dump` and `lanes verify`.
#include "segment_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "lanes/lanes.hpp"
#include "lanes/segment_format.hpp"
#include "record_codec.hpp"

namespace lanes_tools {
namespace fs = std::filesystem;

fd_holder::fd_holder(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}

fd_holder::~fd_holder() {
  if (fd >= 0) ::close(fd);
}

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

namespace {

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

}  // namespace

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

}  // namespace lanes_tools
