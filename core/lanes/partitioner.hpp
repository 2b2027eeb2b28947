// lanes/partitioner.hpp: which partition a message goes to.
//
// The mapping is part of the on-disk contract (it decides which partition, and so which
// directory, holds a key) and never changes between runs, machines or versions:
//
//   partition = XXH3_64bits(key bytes, seed 0) % partition_count
//
// XXH3-64 output is fixed by the xxHash specification since v0.8.0 and is the same on
// every platform and byte order; tests pin known values. Messages without a key go
// round-robin (per producer, so no shared counter is touched), or to an explicit partition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "lanes/error.hpp"
#include "lanes/platform.hpp"

namespace lanes {

// XXH3-64 with seed 0 of the key bytes. Thread-safe, no allocation.
std::uint64_t key_hash(const void* data, std::size_t size) noexcept;
inline std::uint64_t key_hash(std::string_view key) noexcept {
  return key_hash(key.data(), key.size());
}
inline std::uint64_t key_hash(std::span<const std::byte> key) noexcept {
  return key_hash(key.data(), key.size());
}

// Per-producer router. Not thread-safe: give each producer thread its own (12 bytes).
class partitioner {
 public:
  // Throws std::system_error(errc::no_partitions) when count == 0.
  explicit partitioner(std::uint32_t count)
      : count_(checked(count)), mask_(is_power_of_two(count) ? count - 1 : 0) {}

  std::uint32_t partition_count() const noexcept { return count_; }

  // The partition of a key: key_hash(key) % partition_count.
  [[gnu::always_inline]] std::uint32_t for_key(std::string_view key) const noexcept {
    return count_ == 1 ? 0 : for_hash(key_hash(key));
  }
  // hash % partition_count; a mask when the count is a power of two (the same result, and
  // it spares a 64-bit division on every publish).
  std::uint32_t for_hash(std::uint64_t hash) const noexcept {
    return static_cast<std::uint32_t>(mask_ != 0 || count_ == 1 ? hash & mask_ : hash % count_);
  }

  // The partition next_round_robin() will return, without moving on.
  std::uint32_t peek_round_robin() const noexcept { return next_; }
  // Keyless messages: 0, 1, ..., count-1, 0, ... for this producer.
  std::uint32_t next_round_robin() noexcept {
    const std::uint32_t p = next_;
    next_ = (p + 1 == count_) ? 0 : p + 1;
    return p;
  }

  // An explicit partition chosen by the caller: errc::ok or errc::invalid_partition.
  [[nodiscard]] errc check(std::uint32_t partition) const noexcept {
    return partition < count_ ? errc::ok : errc::invalid_partition;
  }

 private:
  static std::uint32_t checked(std::uint32_t count) {
    if (count == 0) throw std::system_error(make_error_code(errc::no_partitions), "partitioner");
    return count;
  }

  std::uint32_t count_;
  std::uint32_t mask_;  // count - 1 when count is a power of two, else 0
  std::uint32_t next_ = 0;
};

}  // namespace lanes
