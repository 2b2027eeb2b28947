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
#include <string_view>

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

// A record handed out by poll: views into the partition's ring, valid until the consumer's
// next poll (or close). Copy the bytes out to keep them longer.
struct record_view {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::int64_t timestamp_ns = 0;
  bool has_key = false;
  std::string_view key;
  std::string_view value;
  headers_view headers;
  std::string_view topic;
};

}  // namespace lanes
