// tools/stress_damage.cpp: the damage `lanes-stress` does between cycles (stress.cpp, step 3,
// and --fault-point index_rebuild): a flipped bit or a cut in the last segment of a partition
// after its durable point, or a sealed segment's .index removed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"
#include "stress_internal.hpp"

namespace lanes_stress {
namespace {
namespace fs = std::filesystem;

// The checkpoint's durable offset: damage below it is (rightly) refused by recovery.
std::uint64_t checkpoint_durable(const fs::path& pdir) {
  std::uint64_t durable = 0;
  const int fd = ::open((pdir / "checkpoint").c_str(), O_RDONLY | O_CLOEXEC);
  std::byte b[lanes::io::checkpoint_size];
  lanes::io::checkpoint c;
  if (fd >= 0 && ::pread(fd, b, sizeof b, 0) == static_cast<ssize_t>(sizeof b) &&
      lanes::io::decode_checkpoint(b, c)) {
    durable = c.durable_offset;
  }
  if (fd >= 0) ::close(fd);
  return durable;
}

// The first batch of a segment from offset safe_from on.
struct found_t {
  std::uint64_t pos = 0, end = 0, base = 0;
  bool ok = false;
  std::uint64_t safe_from = 0;
};

found_t first_batch_from(int fd, std::uint64_t size, const fs::path& segment,
                         std::uint64_t safe_from) {
  found_t found;
  found.safe_from = safe_from;
  lanes::io::file_source src(fd, size);
  const std::uint64_t base = std::stoull(segment.stem().string());
  (void)lanes::io::scan_segment(
      src, base, 1u << 30,
      [](void* ctx, std::uint64_t pos, const lanes::io::batch_header& h) {
        auto* f = static_cast<found_t*>(ctx);
        if (!f->ok && h.base_offset >= f->safe_from) {
          f->ok = true;
          f->pos = pos;
          f->end = pos + h.total_size();
          f->base = h.base_offset;
        }
      },
      &found);
  return found;
}

// flip (and acked): one bit somewhere inside the batch.
std::string flip_a_bit(int fd, const found_t& found, const fs::path& last, rng& r, stats& s) {
  const std::uint64_t at = found.pos + r.below(found.end - found.pos);
  unsigned char byte = 0;
  if (::pread(fd, &byte, 1, static_cast<off_t>(at)) != 1) {
    return "cannot read byte " + std::to_string(at) + " of " + last.string() + ": " +
           std::strerror(errno) + " (not damaged)";
  }
  byte ^= static_cast<unsigned char>(1u << r.below(8));
  if (::pwrite(fd, &byte, 1, static_cast<off_t>(at)) != 1) {
    return "cannot write byte " + std::to_string(at) + " of " + last.string() + ": " +
           std::strerror(errno) + " (not damaged)";
  }
  ++s.corruptions;
  return "flipped a bit at byte " + std::to_string(at) + " of " + last.string() +
         " (batch from offset " + std::to_string(found.base) + ")";
}

// truncate: the file cut within the first 64 bytes of the batch.
std::string cut_inside(int fd, std::uint64_t size, const found_t& found, const fs::path& last,
                       rng& r, stats& s) {
  const std::uint64_t cut =
      found.pos + 1 + r.below(std::min<std::uint64_t>(64, size - found.pos - 1));
  if (::ftruncate(fd, static_cast<off_t>(cut)) != 0) {
    return "cannot truncate " + last.string() + " to " + std::to_string(cut) +
           " bytes: " + std::strerror(errno) + " (not damaged)";
  }
  ++s.corruptions;
  s.bytes_truncated_expected += size - cut;
  return "truncated " + last.string() + " from " + std::to_string(size) + " to " +
         std::to_string(cut) + " bytes (batch from offset " + std::to_string(found.base) + ")";
}

}  // namespace

std::string corrupt_tail(const options& o, rng& r, const std::vector<std::uint64_t>& acked_end,
                         const std::vector<std::uint64_t>& committed, stats& s) {
  const auto part = static_cast<std::uint32_t>(r.below(o.partitions));
  const fs::path pdir = fs::path(o.data_dir) / topic_name / std::to_string(part);
  std::vector<fs::path> segs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(pdir, ec)) {
    if (e.path().extension() == ".log") segs.push_back(e.path());
  }
  if (segs.empty()) return "no segment";
  std::sort(segs.begin(), segs.end());
  const fs::path last = segs.back();
  const std::uint64_t durable = checkpoint_durable(pdir);
  // Nor below an acknowledged record or a committed offset (records the group read).
  // --corrupt acked is the self-test: it damages acknowledged data on purpose, and the run
  // must then report violations.
  const std::uint64_t safe_from =
      o.corrupt == "acked" ? 0 : std::max({durable, acked_end[part], committed[part]});
  const int fd = ::open(last.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return "cannot open " + last.string();
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const found_t found = first_batch_from(fd, size, last, safe_from);
  std::string what;
  if (!found.ok) {
    ++s.corruptions_skipped;
    what = "nothing after the durable point " + std::to_string(safe_from) + " in partition " +
           std::to_string(part) + ": not damaged";
  } else if (o.corrupt == "flip" || o.corrupt == "acked") {
    what = flip_a_bit(fd, found, last, r, s);
  } else {
    what = cut_inside(fd, size, found, last, r, s);
  }
  ::fdatasync(fd);
  ::close(fd);
  return what;
}

void drop_an_index(const options& o, rng& r) {
  std::vector<fs::path> sealed;
  std::error_code ec;
  for (std::uint32_t p = 0; p < o.partitions; ++p) {
    std::vector<fs::path> logs;
    for (const auto& e :
         fs::directory_iterator(fs::path(o.data_dir) / topic_name / std::to_string(p), ec)) {
      if (e.path().extension() == ".log") logs.push_back(e.path());
    }
    std::sort(logs.begin(), logs.end());
    if (logs.size() > 1)
      logs.pop_back();  // the active segment has no index yet
    else
      logs.clear();
    for (auto& l : logs) sealed.push_back(l.replace_extension(".index"));
  }
  if (sealed.empty()) return;
  fs::remove(sealed[r.next() % sealed.size()], ec);
}

}  // namespace lanes_stress
