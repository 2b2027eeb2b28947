// lanes/record.hpp: how a message sits in a partition, and the view a consumer gets of it.
//
// A record is the payload of one frame (lanes/frame_ring.hpp):
//
//     record_header (32 bytes) | key bytes | encoded headers | value bytes
//
// Encoded headers are a sequence of entries: u16 name size, u32 value size (little-endian
// host order, the bus is in-process), name bytes, value bytes. Offsets are per partition,
// dense, starting at 0; the producer stamps them in commit order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lanes {

struct record_header {
  std::uint64_t offset;
  std::int64_t timestamp_ns;  // nanoseconds since the Unix epoch
  std::uint32_t key_size;     // no_key when the message has no key
  std::uint32_t value_size;
  std::uint32_t headers_size;  // bytes of encoded headers
  std::uint32_t header_count;
  static constexpr std::uint32_t no_key = 0xFFFF'FFFFu;
};
static_assert(sizeof(record_header) == 32);

// One header of a message: a name and opaque bytes (as Kafka record headers).
struct header {
  std::string_view name;
  std::string_view value;
};

constexpr std::size_t encoded_header_size(const header& h) noexcept {
  return 6 + h.name.size() + h.value.size();
}

// Iterates encoded headers without allocating.
class headers_view {
 public:
  headers_view() noexcept = default;
  headers_view(const std::byte* data, std::uint32_t size, std::uint32_t count) noexcept
      : data_(data), size_(size), count_(count) {}

  std::uint32_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::uint32_t encoded_bytes() const noexcept { return size_; }  // as stored in the record

  class iterator {
   public:
    using value_type = header;
    using difference_type = std::ptrdiff_t;
    iterator() noexcept = default;
    iterator(const std::byte* p, std::uint32_t left) noexcept : p_(p), left_(left) {}
    header operator*() const noexcept {
      std::uint16_t n = 0;
      std::uint32_t v = 0;
      std::memcpy(&n, p_, 2);
      std::memcpy(&v, p_ + 2, 4);
      const char* c = reinterpret_cast<const char*>(p_ + 6);
      return {std::string_view(c, n), std::string_view(c + n, v)};
    }
    iterator& operator++() noexcept {
      const header h = **this;
      p_ += encoded_header_size(h);
      --left_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const iterator& o) const noexcept { return left_ == o.left_; }

   private:
    const std::byte* p_ = nullptr;
    std::uint32_t left_ = 0;
  };

  iterator begin() const noexcept { return {data_, count_}; }
  iterator end() const noexcept { return {data_ + size_, 0}; }

  // First header with this name, or an empty optional-like header with data() == nullptr.
  bool find(std::string_view name, std::string_view& value) const noexcept {
    for (header h : *this) {
      if (h.name == name) {
        value = h.value;
        return true;
      }
    }
    return false;
  }

 private:
  const std::byte* data_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t count_ = 0;
};

// Whether the record at `rec`, `length` bytes long (a frame's payload), is whole: its key,
// encoded headers and value fit in it, and its header_count entries fill headers_size
// exactly. Records a producer wrote always are; a record read from a file is checked before
// a view of it is handed out (a batch's CRC says the bytes are as written, not that a
// hostile writer wrote sane sizes). Any thread; no allocation.
inline bool record_fits(const std::byte* rec, std::size_t length) noexcept {
  if (length < sizeof(record_header)) return false;
  record_header h;
  std::memcpy(&h, rec, sizeof h);
  const std::uint64_t key = h.key_size == record_header::no_key ? 0 : h.key_size;
  const std::uint64_t body = length - sizeof(record_header);
  if (key + h.headers_size + h.value_size > body) return false;
  const std::byte* p = rec + sizeof(record_header) + key;
  std::uint64_t left = h.headers_size;
  for (std::uint32_t i = 0; i < h.header_count; ++i) {
    if (left < 6) return false;
    std::uint16_t n = 0;
    std::uint32_t v = 0;
    std::memcpy(&n, p, 2);
    std::memcpy(&v, p + 2, 4);
    const std::uint64_t entry = std::uint64_t{6} + n + v;
    if (entry > left) return false;
    p += entry;
    left -= entry;
  }
  return left == 0;
}

// A record as a consumer sees it; Bytes and Headers say who owns its bytes (the two kinds
// below).
template <class Bytes, class Headers>
struct basic_record {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::int64_t timestamp_ns = 0;
  bool has_key = false;
  Bytes key;
  Bytes value;
  Headers headers;
  Bytes topic;
};

// A record handed out by poll: views into the partition's ring, valid until the consumer's
// next poll (or close). own() copies it out to keep it longer.
using record_view = basic_record<std::string_view, headers_view>;

// A record that owns its bytes: headers as (name, value) pairs in their order.
using owned_record = basic_record<std::string, std::vector<std::pair<std::string, std::string>>>;

// Copies a record out of the ring. Allocates.
inline owned_record own(const record_view& r) {
  owned_record o;
  o.partition = r.partition;
  o.offset = r.offset;
  o.timestamp_ns = r.timestamp_ns;
  o.has_key = r.has_key;
  o.key = std::string(r.key);
  o.value = std::string(r.value);
  o.headers.reserve(r.headers.size());
  for (header h : r.headers) o.headers.emplace_back(h.name, h.value);
  o.topic = std::string(r.topic);
  return o;
}

}  // namespace lanes
