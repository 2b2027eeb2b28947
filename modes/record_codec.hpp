// modes/record_codec.hpp (internal): the one codec of a record (lanes/record.hpp) and of the
// frames that hold records, in the ring and in a disk batch's payload (io/FORMAT.md).
//
//   encode_record_header  the 32 header bytes, written straight into a claimed frame
//   encode_headers        a record's headers (with encoded_headers_size, headers_ok)
//   decode_record_header  the header of the record at a frame's payload
//   fill_record_view      the view poll and receive hand out of a record
//   frame_walker          the frames of a batch payload, one record frame at a time
//
// Everything here is inline, allocation-free, exception-free and takes no lock: it is on the
// hot paths of publish, poll and receive. Used by modes/ (bus, consumer and its cursors,
// queue mode, the persister, queue acks recovery), `lanes dump` / `lanes verify` and the
// benchmarks, which reach it through lanes::lanes' build include path (not installed).
#pragma once

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

#include "lanes/frame_ring.hpp"
#include "lanes/record.hpp"

namespace lanes::detail {

// Writes a record header at `out` (a claimed frame's payload). Any thread; no allocation.
[[gnu::always_inline]] inline void encode_record_header(
    std::byte* out, std::uint64_t offset, std::int64_t timestamp_ns, std::uint32_t key_size,
    std::uint32_t value_size, std::uint32_t headers_size, std::uint32_t header_count) noexcept {
  // Field by field, 8 bytes at a time, straight into the ring: a header assembled on the
  // stack and copied with wider loads would wait for a failed store-to-load forward.
  static_assert(
      offsetof(record_header, offset) == 0 && offsetof(record_header, timestamp_ns) == 8 &&
      offsetof(record_header, key_size) == 16 && offsetof(record_header, value_size) == 20 &&
      offsetof(record_header, headers_size) == 24 && offsetof(record_header, header_count) == 28);
  const std::uint64_t sizes = key_size | (static_cast<std::uint64_t>(value_size) << 32);
  const std::uint64_t hdrs = headers_size | (static_cast<std::uint64_t>(header_count) << 32);
#if defined(__SSE2__)
  // Two 16-byte stores built in registers: half the store-buffer entries of four.
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                   _mm_set_epi64x(timestamp_ns, static_cast<long long>(offset)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16),
                   _mm_set_epi64x(static_cast<long long>(hdrs), static_cast<long long>(sizes)));
#else
  std::memcpy(out, &offset, 8);
  std::memcpy(out + 8, &timestamp_ns, 8);
  std::memcpy(out + 16, &sizes, 8);
  std::memcpy(out + 24, &hdrs, 8);
#endif
}

// The bytes encode_headers writes for `hs`.
[[nodiscard]] inline std::size_t encoded_headers_size(std::span<const header> hs) noexcept {
  std::size_t n = 0;
  for (const header& h : hs) n += encoded_header_size(h);
  return n;
}

// Whether every header's name and value fit their length fields (16 and 32 bits).
[[nodiscard]] inline bool headers_ok(std::span<const header> hs) noexcept {
  for (const header& h : hs) {
    if (h.name.size() > 0xFFFF || h.value.size() > 0xFFFF'FFFFu) return false;
  }
  return true;
}

// Writes `hs` at `out` (encoded_headers_size(hs) bytes): per header, the name's length (2
// bytes), the value's (4), the name, the value. Any thread; no allocation.
inline void encode_headers(std::byte* out, std::span<const header> hs) noexcept {
  for (const header& h : hs) {
    const auto n = static_cast<std::uint16_t>(h.name.size());
    const auto v = static_cast<std::uint32_t>(h.value.size());
    std::memcpy(out, &n, 2);
    std::memcpy(out + 2, &v, 4);
    std::memcpy(out + 6, h.name.data(), n);
    std::memcpy(out + 6 + n, h.value.data(), v);
    out += 6 + n + v;
  }
}

// The header of the record at `rec` (a frame's payload, at least sizeof(record_header)
// bytes). Any thread; no allocation.
[[nodiscard]] inline record_header decode_record_header(const std::byte* rec) noexcept {
  record_header h;
  std::memcpy(&h, rec, sizeof h);
  return h;
}

// Fills `r` with views of the record at `rec` (whole: written by a producer, or checked with
// record_fits). The views live as long as the bytes at `rec`. Any thread; no allocation.
inline void fill_record_view(record_view& r, const std::byte* rec, std::string_view topic,
                             std::uint32_t partition) noexcept {
  const record_header h = decode_record_header(rec);
  const std::byte* q = rec + sizeof(record_header);
  r.topic = topic;
  r.partition = partition;
  r.offset = h.offset;
  r.timestamp_ns = h.timestamp_ns;
  r.has_key = h.key_size != record_header::no_key;
  const std::uint32_t ks = r.has_key ? h.key_size : 0;
  r.key = {reinterpret_cast<const char*>(q), ks};
  q += ks;
  r.headers = headers_view(q, h.headers_size, h.header_count);
  q += h.headers_size;
  r.value = {reinterpret_cast<const char*>(q), h.value_size};
}

// One record frame of a batch payload.
struct record_frame {
  std::size_t at = 0;         // byte position of its frame header in the payload
  frame_header frame{};       // as stored
  const std::byte* rec = {};  // the record: frame.length bytes
};

// What frame_walker::next found.
enum class frame_step : std::uint8_t {
  record,        // `out` is a record frame (at least a record header long)
  end,           // the payload is used up, exactly
  cut,           // fewer bytes left than a frame header
  overrun,       // the frame's footprint runs past the payload (out.at, out.frame set)
  too_long,      // a frame (padding too) at least max_length bytes long (out.at, out.frame set)
  short_record,  // a frame shorter than a record header (out set); next() goes on after it
};

// Walks the frames of a batch payload (the ring's committed frames, byte for byte), skipping
// padding. Trusts no length: every frame is bounded by the payload before it is read.
// One thread; no allocation.
class frame_walker {
 public:
  explicit frame_walker(std::span<const std::byte> payload,
                        std::uint64_t max_length = UINT64_MAX) noexcept
      : payload_(payload), max_length_(max_length) {}

  // The next record frame at or after position(); position() moves past it (and past any
  // padding before it). On cut, overrun and too_long position() stays at that frame.
  [[nodiscard]] frame_step next(record_frame& out) noexcept {
    for (;;) {
      const std::size_t left = payload_.size() - at_;
      if (left == 0) return frame_step::end;
      if (left < sizeof(frame_header)) return frame_step::cut;
      out.at = at_;
      std::memcpy(&out.frame, payload_.data() + at_, sizeof(frame_header));
      if (frame_footprint(out.frame.length) > left) return frame_step::overrun;
      if (out.frame.length >= max_length_) return frame_step::too_long;
      at_ += frame_footprint(out.frame.length);
      if ((out.frame.flags & frame_flags::padding) != 0) continue;
      out.rec = payload_.data() + out.at + sizeof(frame_header);
      if (out.frame.length < sizeof(record_header)) return frame_step::short_record;
      return frame_step::record;
    }
  }
  // Bytes of the payload walked so far.
  std::size_t position() const noexcept { return at_; }

 private:
  std::span<const std::byte> payload_;
  std::uint64_t max_length_;
  std::size_t at_ = 0;
};

// Calls fn(const record_frame&) for each record frame of a well-formed payload, in order;
// returns the first step that is not `record` (end when the payload is whole). fn returns
// false to stop early (then the result is `record`).
template <class Fn>
frame_step for_each_record_frame(std::span<const std::byte> payload, Fn&& fn) noexcept(
    noexcept(fn(std::declval<const record_frame&>()))) {
  frame_walker w(payload);
  record_frame f;
  frame_step s;
  while ((s = w.next(f)) == frame_step::record) {
    if (!fn(f)) return frame_step::record;
  }
  return s;
}

}  // namespace lanes::detail
