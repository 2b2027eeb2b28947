// lanes/platform.hpp: the one place for hardware constants and the spin-loop hint.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lanes {

// One constant for the cache-line size. 64 bytes on x86-64 and most AArch64 parts; we use
// 128 on AArch64 because Apple/Neoverse cores prefetch pairs of lines (adjacent-line
// prefetch makes 64-byte separation still share traffic), as atomic_queue and folly do.
#if defined(__aarch64__)
inline constexpr std::size_t cache_line_size = 128;
#else
inline constexpr std::size_t cache_line_size = 64;
#endif

// Spin-loop hint: tells the core we are busy-waiting (x86 PAUSE, ARM YIELD). Lowers power,
// frees the sibling hyper-thread and avoids the memory-order mis-speculation penalty on exit.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  // Nothing portable to do; the loop still re-reads an atomic.
#endif
}

constexpr bool is_power_of_two(std::uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept {
  return (v + a - 1) & ~(a - 1);
}

}  // namespace lanes
