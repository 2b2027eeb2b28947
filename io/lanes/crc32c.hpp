// lanes/crc32c.hpp: CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// every batch in a segment file (io/FORMAT.md).
//
// crc32c_extend(crc, data, n) continues a finished checksum, so
//   crc32c(ab) == crc32c_extend(crc32c(a), b)
// and a batch can be summed over its header and its payload iovecs without copying.
// On x86-64 with SSE4.2 the crc32 instruction is used; elsewhere a byte table. Both give the
// same values (tests pin CRC32C("123456789") == 0xE3069283). Any thread; no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace lanes::io {

// Continues `crc` (0 for an empty prefix) over n bytes.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;

inline std::uint32_t crc32c(std::span<const std::byte> bytes) noexcept {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

// The table implementation, always available (tests compare it with the hardware one).
std::uint32_t crc32c_extend_software(std::uint32_t crc, const void* data, std::size_t n) noexcept;

// True when crc32c_extend uses the SSE4.2 instruction on this machine.
bool crc32c_uses_hardware() noexcept;

}  // namespace lanes::io
