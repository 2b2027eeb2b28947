// lanes/segment_format.hpp: the bytes of segment, index and checkpoint files (io/FORMAT.md).
//
// Everything here is plain encoding and checking of fixed-size little-endian structures:
// no files, no allocation, no exceptions. Decoders take the bytes they are given and never
// trust a length field: decode_batch() bounds a batch's length by the buffer it sits in
// and by the caller's max_batch_bytes before anything reads past the header.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace lanes::io {

// ---- file header: the first 32 bytes of .log, .index, .timeindex and acks files ----
inline constexpr std::uint32_t file_magic = 0x31534E4Cu;  // bytes "LNS1"
inline constexpr std::uint16_t format_version = 1;
enum class file_kind : std::uint16_t { log = 1, offset_index = 2, time_index = 3, acks = 4 };
inline constexpr std::size_t file_header_size = 32;

struct file_header {
  file_kind kind = file_kind::log;
  std::uint64_t base_offset = 0;
  std::int64_t created_ns = 0;  // wall clock when the segment was created
};

void encode_file_header(const file_header& h, std::byte* out /* file_header_size */) noexcept;
// False when magic, version, kind or checksum is wrong.
[[nodiscard]] bool decode_file_header(std::span<const std::byte> in, file_header& out) noexcept;

// ---- batch: one append, header then payload (the caller's frames, byte for byte) ----
inline constexpr std::uint32_t batch_magic = 0x31424E4Cu;  // bytes "LNB1"
inline constexpr std::size_t batch_header_size = 48;

struct batch_header {
  std::uint64_t base_offset = 0;
  std::uint32_t count = 0;           // records in the batch, >= 1
  std::uint32_t payload_length = 0;  // bytes after the header
  std::int64_t first_timestamp_ns = 0;
  std::int64_t max_timestamp_ns = 0;
  std::uint32_t crc = 0;  // CRC32C over header bytes [0, 44) and the payload

  std::uint64_t next_offset() const noexcept { return base_offset + count; }
  std::uint64_t total_size() const noexcept { return batch_header_size + payload_length; }
};

// Writes the 48 header bytes; the crc field is taken from h (see batch_crc).
void encode_batch_header(const batch_header& h, std::byte* out /* batch_header_size */) noexcept;
// CRC of an encoded header (its first 44 bytes) continued over payload iovecs.
std::uint32_t batch_crc(const std::byte* encoded_header, std::span<const iovec> payload) noexcept;

// Values in this order, bad_crc last: to_string names them by value.
enum class batch_status : std::uint8_t {
  ok,
  truncated,   // fewer bytes than the header or the length says (a torn tail)
  bad_magic,   // not a batch header (garbage, zeros, a torn page)
  bad_length,  // length above max_batch_bytes, or zero/oversized count, bad timestamps
  bad_crc,     // header and length plausible, checksum wrong
};
const char* to_string(batch_status s) noexcept;

// Header fields only: magic, version and sanity of count, length and timestamps against
// max_batch_bytes. No checksum (the payload may not be read yet).
[[nodiscard]] batch_status decode_batch_header(std::span<const std::byte> in,
                                               std::uint32_t max_batch_bytes,
                                               batch_header& out) noexcept;

// A whole batch at the start of `in`: header checks, length within `in`, then the CRC.
// On ok, `payload` views the payload inside `in`. The fuzz target's entry point.
[[nodiscard]] batch_status decode_batch(std::span<const std::byte> in,
                                        std::uint32_t max_batch_bytes, batch_header& out,
                                        std::span<const std::byte>& payload) noexcept;

// ---- sparse indexes (written whole when a segment is sealed or the log closes) ----
// .index entry: record offset relative to the segment base, byte position of its batch.
struct offset_index_entry {
  std::uint32_t relative_offset;
  std::uint32_t position;
};
static_assert(sizeof(offset_index_entry) == 8);
// .timeindex entry: the largest timestamp so far and the relative offset of the batch that
// first reached it.
struct time_index_entry {
  std::int64_t timestamp_ns;
  std::uint32_t relative_offset;
  std::uint32_t reserved;
};
static_assert(sizeof(time_index_entry) == 16);
// An index file: file header, entries, trailer {u32 count, u32 CRC32C of the entries}.
inline constexpr std::size_t index_trailer_size = 8;

// ---- checkpoint: the partition's durable point and clean-shutdown flag ----
inline constexpr std::uint32_t checkpoint_magic = 0x31434E4Cu;  // bytes "LNC1"
inline constexpr std::size_t checkpoint_size = 48;
struct checkpoint {
  bool clean = false;                // written by close() after a final sync
  std::uint64_t durable_offset = 0;  // every offset below it was durable when written
  std::uint64_t log_start_offset = 0;
  std::uint64_t active_base = 0;  // base offset of the last segment then
  std::uint64_t active_size = 0;  // its size in bytes then
};
void encode_checkpoint(const checkpoint& c, std::byte* out /* checkpoint_size */) noexcept;
[[nodiscard]] bool decode_checkpoint(std::span<const std::byte> in, checkpoint& out) noexcept;

// ---- ack records: a durable queue's acks file, after its file header (kind acks) ----
// Each record is 32 bytes with its own CRC, so a torn or damaged record is found and
// everything before it stays good. `floor`: every offset below `first` is acked (`end` is
// 0). `range`: offsets [first, end) are acked.
inline constexpr std::uint32_t ack_record_magic = 0x31414E4Cu;  // bytes "LNA1"
inline constexpr std::size_t ack_record_size = 32;
enum class ack_kind : std::uint16_t { floor = 1, range = 2 };
struct ack_record {
  ack_kind kind = ack_kind::floor;
  std::uint64_t first = 0;
  std::uint64_t end = 0;
};
void encode_ack_record(const ack_record& r, std::byte* out /* ack_record_size */) noexcept;
// False when magic, version, kind, checksum or the range (first < end) is wrong, or when
// fewer than ack_record_size bytes are given.
[[nodiscard]] bool decode_ack_record(std::span<const std::byte> in, ack_record& out) noexcept;

}  // namespace lanes::io
