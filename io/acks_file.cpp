// io/acks_file.cpp: see lanes/acks_file.hpp.
#include "lanes/acks_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "lanes/clock.hpp"
#include "lanes/segment_format.hpp"

namespace lanes::io {

namespace fs = std::filesystem;

namespace {

void put_record(std::vector<std::byte>& out, ack_kind kind, std::uint64_t first,
                std::uint64_t end) {
  std::byte rec[ack_record_size];
  encode_ack_record({kind, first, end}, rec);
  out.insert(out.end(), rec, rec + ack_record_size);
}

// The records of a file read so far, in order: what they say, and whether the rest of
// the file is a torn tail or damage.
class acks_reader {
 public:
  acks_reader(std::uint64_t end, acks_content& out) : end_(end), out_(out) {}

  // The header: false when the file ends there or it is damaged (out_ says which).
  bool take_header(std::span<const std::byte> bytes) {
    if (bytes.size() < file_header_size) {
      // Empty or shorter than its header: created, never synced whole. Nothing acked.
      out_.damaged = !bytes.empty();
      if (out_.damaged) out_.detail = "acks file shorter than its header";
      return false;
    }
    file_header fh;
    if (!decode_file_header(bytes.first(file_header_size), fh) || fh.kind != file_kind::acks) {
      out_.damaged = true;
      out_.detail = "acks file header damaged";
      return false;
    }
    return true;
  }

  // One record at file position `at`: false once the file is known damaged (stop).
  bool take_record(std::span<const std::byte> bytes, std::uint64_t at) {
    ack_record r;
    const bool good = decode_ack_record(bytes, r);
    if (stopped_) {
      // A good record after a bad one: not a torn append (which only ever hits the tail)
      // but damage. Its acks are not trusted either.
      if (good) out_.damaged = true;
      return !good;
    }
    if (!good) {
      stopped_ = true;
      out_.detail = "acks file record at byte " + std::to_string(at) + " damaged";
      return true;
    }
    if (r.kind == ack_kind::floor) {
      out_.floor = std::max(out_.floor, r.first);
    } else if (r.first < end_) {
      out_.ranges.emplace_back(r.first, std::min(r.end, end_));
    }
    if (out_.ranges.size() >= normalise_at_) {  // many ranges: merge (amortised)
      normalise_ack_ranges(out_.ranges, out_.floor);
      normalise_at_ = std::max<std::size_t>(8192, 2 * out_.ranges.size());
    }
    return true;
  }

 private:
  std::uint64_t end_;
  acks_content& out_;
  bool stopped_ = false;  // a bad record was found: the rest only decides torn tail or damage
  std::size_t normalise_at_ = 8192;
};

// Fills buf[have, size) from the file at `at + have` until full or end of file.
bool fill(int fd, std::vector<std::byte>& buf, std::size_t& have, std::uint64_t at, bool& eof) {
  while (!eof && have < buf.size()) {
    const ssize_t n =
        ::pread(fd, buf.data() + have, buf.size() - have, static_cast<off_t>(at + have));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) eof = true;
    have += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

void normalise_ack_ranges(ack_ranges& rs, std::uint64_t floor) {
  for (auto& r : rs) r.first = std::max(r.first, floor);
  rs.erase(std::remove_if(rs.begin(), rs.end(), [](const auto& r) { return r.first >= r.second; }),
           rs.end());
  std::sort(rs.begin(), rs.end());
  std::size_t k = 0;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (k != 0 && rs[i].first <= rs[k - 1].second) {
      rs[k - 1].second = std::max(rs[k - 1].second, rs[i].second);
    } else {
      rs[k++] = rs[i];
    }
  }
  rs.resize(k);
}

errc read_acks_file(const fs::path& file, std::uint64_t end, acks_content& out) {
  const int fd = open_nofollow(file, O_RDONLY);
  if (fd < 0) return errno == ENOENT ? errc::ok : errc::file_error;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_it{fd};
  acks_reader reader(end, out);
  std::vector<std::byte> buf(64 * 1024);
  std::size_t have = 0;
  std::uint64_t at = 0;  // file position of buf[0]
  bool eof = false;
  bool header = false;
  for (;;) {
    if (!fill(fd, buf, have, at, eof)) return errc::file_error;
    std::size_t pos = 0;
    if (!header) {
      if (!reader.take_header({buf.data(), have})) return errc::ok;
      header = true;
      pos = file_header_size;
    }
    for (; have - pos >= ack_record_size; pos += ack_record_size) {
      if (!reader.take_record({buf.data() + pos, ack_record_size}, at + pos)) return errc::ok;
    }
    // A partial record at the end: a torn append, never synced. Not damage.
    if (eof) return errc::ok;
    std::memmove(buf.data(), buf.data() + pos, have - pos);
    at += pos;
    have -= pos;
  }
}

fs::path keep_damaged_acks_file(const fs::path& dir) {
  const fs::path aside = dir / ("acks.damaged-" + std::to_string(realtime_ns()));
  std::error_code e;
  fs::copy_file(dir / acks_file::file_name, aside, e);
  (void)fsync_dir(dir);
  return aside;
}

errc acks_file::rewrite(std::uint64_t floor, const ack_ranges& ranges) {
  std::vector<std::byte> bytes(file_header_size);
  encode_file_header({file_kind::acks, 0, realtime_ns()}, bytes.data());
  put_record(bytes, ack_kind::floor, floor, 0);
  for (const auto& [first, end] : ranges) put_record(bytes, ack_kind::range, first, end);
  if (file_status w = write_file_atomically(dir_, file_name, bytes); !w) return w.status;
  close();
  fd_ = open_nofollow(path(), O_WRONLY);
  if (fd_ < 0) return errc_of_errno(errno);
  size_ = bytes.size();
  records_ = 0;
  return errc::ok;
}

void acks_file::add_range(std::uint64_t first, std::uint64_t end) {
  put_record(pending_, ack_kind::range, first, end);
}

void acks_file::add_floor(std::uint64_t floor) { put_record(pending_, ack_kind::floor, floor, 0); }

errc acks_file::append_pending() noexcept {
  const std::size_t n = pending_.size();
  const bool ok = write_all(fd_, pending_.data(), n, size_) && ::fdatasync(fd_) == 0;
  const int err = errno;
  pending_.clear();
  if (!ok) return err == ENOSPC ? errc::no_space : errc::sync_failed;
  size_ += n;
  records_ += n / ack_record_size;
  return errc::ok;
}

void acks_file::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace lanes::io
