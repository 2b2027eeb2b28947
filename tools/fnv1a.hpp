// tools/fnv1a.hpp: FNV-1a, 64 bits: the checksum of `lanes-stress`'s values and the
// fingerprint of a file's first bytes in `lanes tail`. It tells changed bytes from the ones
// written or read; it is no defence against forgery.
// Thread contract: none (a pure function). Hot path: no allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace lanes_tools {

inline std::uint64_t fnv1a(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // the offset basis
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;  // the FNV prime
  }
  return h;
}

}  // namespace lanes_tools
