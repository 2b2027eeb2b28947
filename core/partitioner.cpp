#include "lanes/partitioner.hpp"

// Inline the whole of XXH3 into this translation unit: no dependency on the shared
// library's symbol versions and the fastest code path for short keys.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace lanes {

std::uint64_t key_hash(const void* data, std::size_t size) noexcept {
  return XXH3_64bits(data, size);
}

}  // namespace lanes
