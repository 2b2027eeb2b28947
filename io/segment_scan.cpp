#include "lanes/segment_scan.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "lanes/crc32c.hpp"

namespace lanes::io {

bool memory_source::read_at(std::uint64_t pos, std::byte* dst, std::size_t n) noexcept {
  if (pos > size_ || n > size_ - pos) return false;
  if (n != 0) std::memcpy(dst, data_ + pos, n);
  return true;
}

bool file_source::read_at(std::uint64_t pos, std::byte* dst, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t r = ::pread(fd_, dst, n, static_cast<off_t>(pos));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    dst += r;
    n -= static_cast<std::size_t>(r);
    pos += static_cast<std::uint64_t>(r);
  }
  return true;
}

bool header_never_written(byte_source& src) noexcept {
  if (src.size() < file_header_size) return true;
  std::byte head[file_header_size];
  if (!src.read_at(0, head, sizeof head)) return false;
  for (std::byte b : head) {
    if (b != std::byte{0}) return false;
  }
  return true;
}

const char* to_string(scan_stop s) noexcept {
  // By value; read_error is the last enumerator (scan_stop's declaration says so).
  static constexpr const char* names[] = {"end_of_file", "bad_file_header", "truncated",
                                          "bad_magic",   "bad_length",      "bad_crc",
                                          "offset_gap",  "read_error"};
  static_assert(std::size(names) == static_cast<std::size_t>(scan_stop::read_error) + 1);
  const auto i = static_cast<std::size_t>(s);
  return i < std::size(names) ? names[i] : "unknown";
}

scan_result scan_segment(byte_source& src, std::uint64_t base_offset, std::uint32_t max_batch_bytes,
                         batch_visitor visit, void* ctx) noexcept {
  scan_result r;
  r.next_offset = base_offset;
  const std::uint64_t size = src.size();
  std::byte head[file_header_size > batch_header_size ? file_header_size : batch_header_size];
  if (size < file_header_size) {
    r.stop = scan_stop::bad_file_header;
    return r;
  }
  if (!src.read_at(0, head, file_header_size)) {
    r.stop = scan_stop::read_error;
    return r;
  }
  if (!decode_file_header({head, file_header_size}, r.header) || r.header.kind != file_kind::log ||
      r.header.base_offset != base_offset) {
    r.stop = scan_stop::bad_file_header;
    return r;
  }
  std::uint64_t pos = file_header_size;
  r.valid_bytes = pos;
  constexpr std::size_t chunk = 16 * 1024;
  std::byte buf[chunk];
  for (;;) {
    if (pos == size) {
      r.stop = scan_stop::end_of_file;
      return r;
    }
    if (size - pos < batch_header_size) {
      r.stop = scan_stop::truncated;
      return r;
    }
    if (!src.read_at(pos, head, batch_header_size)) {
      r.stop = scan_stop::read_error;
      return r;
    }
    batch_header h;
    const batch_status s = decode_batch_header({head, batch_header_size}, max_batch_bytes, h);
    if (s != batch_status::ok) {
      r.stop = s == batch_status::bad_magic ? scan_stop::bad_magic : scan_stop::bad_length;
      return r;
    }
    // Bound the length by the file before reading a byte of payload.
    if (h.payload_length > size - pos - batch_header_size) {
      r.stop = scan_stop::truncated;
      return r;
    }
    std::uint32_t c = crc32c_extend(0, head, batch_header_size - 4);
    std::uint64_t at = pos + batch_header_size;
    std::uint64_t left = h.payload_length;
    while (left > 0) {
      const std::size_t n = left < chunk ? static_cast<std::size_t>(left) : chunk;
      if (!src.read_at(at, buf, n)) {
        r.stop = scan_stop::read_error;
        return r;
      }
      c = crc32c_extend(c, buf, n);
      at += n;
      left -= n;
    }
    if (c != h.crc) {
      r.stop = scan_stop::bad_crc;
      return r;
    }
    if (h.base_offset != r.next_offset) {
      r.stop = scan_stop::offset_gap;
      return r;
    }
    if (visit != nullptr) visit(ctx, pos, h);
    pos += h.total_size();
    r.valid_bytes = pos;
    r.next_offset = h.next_offset();
    ++r.batches;
    if (h.max_timestamp_ns > r.max_timestamp_ns) r.max_timestamp_ns = h.max_timestamp_ns;
  }
}

}  // namespace lanes::io
