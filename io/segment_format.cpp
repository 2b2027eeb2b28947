#include "lanes/segment_format.hpp"

#include <bit>
#include <cstring>
#include <iterator>

#include "lanes/crc32c.hpp"

namespace lanes::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "segment files are little-endian; add byte swaps for a big-endian host");

template <class T>
void put(std::byte* out, std::size_t at, T v) noexcept {
  std::memcpy(out + at, &v, sizeof(T));
}
template <class T>
T get(const std::byte* in, std::size_t at) noexcept {
  T v;
  std::memcpy(&v, in + at, sizeof(T));
  return v;
}

// Batch header layout (FORMAT.md): byte positions.
constexpr std::size_t b_magic = 0, b_version = 4, b_flags = 6, b_base = 8, b_count = 16,
                      b_length = 20, b_first_ts = 24, b_max_ts = 32, b_reserved = 40, b_crc = 44;
static_assert(b_crc + 4 == batch_header_size);

// File header layout.
constexpr std::size_t f_magic = 0, f_version = 4, f_kind = 6, f_base = 8, f_created = 16,
                      f_reserved = 24, f_crc = 28;
static_assert(f_crc + 4 == file_header_size);

// Checkpoint layout.
constexpr std::size_t c_magic = 0, c_version = 4, c_flags = 6, c_durable = 8, c_start = 16,
                      c_active_base = 24, c_active_size = 32, c_reserved = 40, c_crc = 44;
static_assert(c_crc + 4 == checkpoint_size);

// Ack record layout.
constexpr std::size_t a_magic = 0, a_version = 4, a_kind = 6, a_first = 8, a_end = 16,
                      a_reserved = 24, a_crc = 28;
static_assert(a_crc + 4 == ack_record_size);

// Every fixed-size record (file header, checkpoint, ack record) starts with its magic and the
// format version, and ends with the CRC32C of every byte before it.
static_assert(f_magic == 0 && c_magic == 0 && a_magic == 0);
static_assert(f_version == 4 && c_version == 4 && a_version == 4);

// The checks such a record starts with: at least `size` bytes, `magic`, the version, the CRC.
bool sealed_record_ok(std::span<const std::byte> in, std::size_t size,
                      std::uint32_t magic) noexcept {
  if (in.size() < size) return false;
  const std::byte* p = in.data();
  const std::size_t crc_at = size - 4;
  return get<std::uint32_t>(p, 0) == magic && get<std::uint16_t>(p, 4) == format_version &&
         get<std::uint32_t>(p, crc_at) == crc32c_extend(0, p, crc_at);
}

}  // namespace

void encode_file_header(const file_header& h, std::byte* out) noexcept {
  put(out, f_magic, file_magic);
  put(out, f_version, format_version);
  put(out, f_kind, static_cast<std::uint16_t>(h.kind));
  put(out, f_base, h.base_offset);
  put(out, f_created, h.created_ns);
  put(out, f_reserved, std::uint32_t{0});
  put(out, f_crc, crc32c_extend(0, out, f_crc));
}

bool decode_file_header(std::span<const std::byte> in, file_header& out) noexcept {
  if (!sealed_record_ok(in, file_header_size, file_magic)) return false;
  const std::byte* p = in.data();
  const auto kind = get<std::uint16_t>(p, f_kind);
  if (kind < 1 || kind > 4) return false;
  out.kind = static_cast<file_kind>(kind);
  out.base_offset = get<std::uint64_t>(p, f_base);
  out.created_ns = get<std::int64_t>(p, f_created);
  return true;
}

void encode_batch_header(const batch_header& h, std::byte* out) noexcept {
  put(out, b_magic, batch_magic);
  put(out, b_version, format_version);
  put(out, b_flags, std::uint16_t{0});
  put(out, b_base, h.base_offset);
  put(out, b_count, h.count);
  put(out, b_length, h.payload_length);
  put(out, b_first_ts, h.first_timestamp_ns);
  put(out, b_max_ts, h.max_timestamp_ns);
  put(out, b_reserved, std::uint32_t{0});
  put(out, b_crc, h.crc);
}

std::uint32_t batch_crc(const std::byte* encoded_header, std::span<const iovec> payload) noexcept {
  std::uint32_t c = crc32c_extend(0, encoded_header, b_crc);
  for (const iovec& v : payload) c = crc32c_extend(c, v.iov_base, v.iov_len);
  return c;
}

const char* to_string(batch_status s) noexcept {
  // By value; bad_crc is the last enumerator (batch_status's declaration says so).
  static constexpr const char* names[] = {"ok", "truncated", "bad_magic", "bad_length", "bad_crc"};
  static_assert(std::size(names) == static_cast<std::size_t>(batch_status::bad_crc) + 1);
  const auto i = static_cast<std::size_t>(s);
  return i < std::size(names) ? names[i] : "unknown";
}

batch_status decode_batch_header(std::span<const std::byte> in, std::uint32_t max_batch_bytes,
                                 batch_header& out) noexcept {
  if (in.size() < batch_header_size) return batch_status::truncated;
  const std::byte* p = in.data();
  if (get<std::uint32_t>(p, b_magic) != batch_magic ||
      get<std::uint16_t>(p, b_version) != format_version || get<std::uint16_t>(p, b_flags) != 0 ||
      get<std::uint32_t>(p, b_reserved) != 0) {
    return batch_status::bad_magic;
  }
  out.base_offset = get<std::uint64_t>(p, b_base);
  out.count = get<std::uint32_t>(p, b_count);
  out.payload_length = get<std::uint32_t>(p, b_length);
  out.first_timestamp_ns = get<std::int64_t>(p, b_first_ts);
  out.max_timestamp_ns = get<std::int64_t>(p, b_max_ts);
  out.crc = get<std::uint32_t>(p, b_crc);
  // Never trust a length: bound it before anything is read or allocated for it.
  if (out.payload_length > max_batch_bytes || out.count == 0 ||
      out.base_offset > UINT64_MAX - out.count || out.first_timestamp_ns > out.max_timestamp_ns) {
    return batch_status::bad_length;
  }
  return batch_status::ok;
}

batch_status decode_batch(std::span<const std::byte> in, std::uint32_t max_batch_bytes,
                          batch_header& out, std::span<const std::byte>& payload) noexcept {
  const batch_status s = decode_batch_header(in, max_batch_bytes, out);
  if (s != batch_status::ok) return s;
  if (in.size() - batch_header_size < out.payload_length) return batch_status::truncated;
  const std::byte* p = in.data();
  std::uint32_t c = crc32c_extend(0, p, b_crc);
  c = crc32c_extend(c, p + batch_header_size, out.payload_length);
  if (c != out.crc) return batch_status::bad_crc;
  payload = in.subspan(batch_header_size, out.payload_length);
  return batch_status::ok;
}

void encode_checkpoint(const checkpoint& c, std::byte* out) noexcept {
  put(out, c_magic, checkpoint_magic);
  put(out, c_version, format_version);
  put(out, c_flags, static_cast<std::uint16_t>(c.clean ? 1 : 0));
  put(out, c_durable, c.durable_offset);
  put(out, c_start, c.log_start_offset);
  put(out, c_active_base, c.active_base);
  put(out, c_active_size, c.active_size);
  put(out, c_reserved, std::uint32_t{0});
  put(out, c_crc, crc32c_extend(0, out, c_crc));
}

bool decode_checkpoint(std::span<const std::byte> in, checkpoint& out) noexcept {
  if (in.size() != checkpoint_size || !sealed_record_ok(in, checkpoint_size, checkpoint_magic)) {
    return false;
  }
  const std::byte* p = in.data();
  const auto flags = get<std::uint16_t>(p, c_flags);
  if ((flags & ~1u) != 0) return false;
  out.clean = (flags & 1u) != 0;
  out.durable_offset = get<std::uint64_t>(p, c_durable);
  out.log_start_offset = get<std::uint64_t>(p, c_start);
  out.active_base = get<std::uint64_t>(p, c_active_base);
  out.active_size = get<std::uint64_t>(p, c_active_size);
  return out.log_start_offset <= out.durable_offset;
}

void encode_ack_record(const ack_record& r, std::byte* out) noexcept {
  put(out, a_magic, ack_record_magic);
  put(out, a_version, format_version);
  put(out, a_kind, static_cast<std::uint16_t>(r.kind));
  put(out, a_first, r.first);
  put(out, a_end, r.kind == ack_kind::floor ? std::uint64_t{0} : r.end);
  put(out, a_reserved, std::uint32_t{0});
  put(out, a_crc, crc32c_extend(0, out, a_crc));
}

bool decode_ack_record(std::span<const std::byte> in, ack_record& out) noexcept {
  if (!sealed_record_ok(in, ack_record_size, ack_record_magic)) return false;
  const std::byte* p = in.data();
  if (get<std::uint32_t>(p, a_reserved) != 0) return false;
  const auto kind = get<std::uint16_t>(p, a_kind);
  out.first = get<std::uint64_t>(p, a_first);
  out.end = get<std::uint64_t>(p, a_end);
  if (kind == static_cast<std::uint16_t>(ack_kind::floor)) {
    out.kind = ack_kind::floor;
    return out.end == 0;
  }
  if (kind == static_cast<std::uint16_t>(ack_kind::range)) {
    out.kind = ack_kind::range;
    return out.first < out.end;
  }
  return false;
}

}  // namespace lanes::io
