#include "lanes/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace lanes::io {
namespace {

constexpr std::uint32_t poly = 0x82F63B78u;  // Castagnoli, bit-reversed

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ poly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> table = make_table();
static_assert(table[1] == 0xF26B8303u, "CRC32C table");

// Advancing a CRC register over `block` zero bytes, as four byte tables: the register is
// linear in its input, so the register after data D from state s is
// shift(s, |D|) ^ (the register after D from 0). That lets three streams run at once.
// Built once, at static initialisation, with the GF(2) operator for one zero bit squared up
// to `block` bytes (the method of zlib's crc32_combine).
constexpr std::size_t block = 1024;  // bytes per stream and round; a power of two

std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) noexcept {
  std::uint32_t sum = 0;
  for (int i = 0; vec != 0; vec >>= 1, ++i) {
    if ((vec & 1u) != 0) sum ^= mat[i];
  }
  return sum;
}

struct shift_tables {
  std::uint32_t t[4][256];
  shift_tables() noexcept {
    std::uint32_t op[32], sq[32];
    op[0] = poly;  // one zero bit
    for (int i = 1; i < 32; ++i) op[i] = 1u << (i - 1);
    for (std::size_t bits = 1; bits < block * 8; bits *= 2) {  // square: twice as many bits
      for (int i = 0; i < 32; ++i) sq[i] = gf2_times(op, op[i]);
      std::memcpy(op, sq, sizeof op);
    }
    for (int k = 0; k < 4; ++k) {
      for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = gf2_times(op, b << (8 * k));
    }
  }
  std::uint32_t operator()(std::uint32_t c) const noexcept {
    return t[0][c & 0xFFu] ^ t[1][(c >> 8) & 0xFFu] ^ t[2][(c >> 16) & 0xFFu] ^ t[3][c >> 24];
  }
};
const shift_tables shift_block;

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const void* data,
                                                             std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  // Three independent streams over three consecutive blocks (the instruction has a latency
  // of three cycles and a throughput of one), then joined: c = shift(shift(a) ^ b) ^ c.
  while (n >= 3 * block) {
    std::uint64_t c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < block; i += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + block + i, 8);
      std::memcpy(&w2, p + 2 * block + i, 8);
      c = _mm_crc32_u64(c, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c = shift_block(static_cast<std::uint32_t>(c)) ^ static_cast<std::uint32_t>(c1);
    c = shift_block(static_cast<std::uint32_t>(c)) ^ static_cast<std::uint32_t>(c2);
    p += 3 * block;
    n -= 3 * block;
  }
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);  // unaligned-safe load
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}

// Zero (software) until this initializer runs, so an early caller still gets right answers.
const bool have_sse42 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

}  // namespace

std::uint32_t crc32c_extend_software(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return ~c;
}

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (have_sse42) return extend_sse42(crc, data, n);
#endif
  return crc32c_extend_software(crc, data, n);
}

bool crc32c_uses_hardware() noexcept {
#if defined(__x86_64__)
  return have_sse42;
#else
  return false;
#endif
}

}  // namespace lanes::io
