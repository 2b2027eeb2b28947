// lanes/clock.hpp: wall-clock timestamps cheap enough for every publish.
//
// realtime_ns() is CLOCK_REALTIME in nanoseconds since the Unix epoch. Where the CPU has an
// invariant TSC (x86-64, checked with CPUID), it reads the TSC and converts: each thread
// keeps an anchor (a TSC reading and the CLOCK_REALTIME reading taken with it) and re-reads
// CLOCK_REALTIME once the anchor is a millisecond old, so the result tracks the system clock
// (NTP slews and steps included) to within the TSC rate error over one millisecond. The rate
// is measured from the process's first anchor; until it has 10 ms of history, and on CPUs
// without an invariant TSC, every call reads CLOCK_REALTIME. Readings of two anchors may
// step back by a few nanoseconds: use them as record timestamps, not to measure intervals.
//
// steady_ns() is the monotonic clock (std::chrono::steady_clock, the clock of every lanes
// wait and deadline) in nanoseconds: for intervals and deadlines, never for timestamps.
//
// Thread-safe, never blocks, never allocates.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace lanes {

namespace detail {
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang; no pedantic warning
std::int64_t realtime_ns_slow() noexcept;         // CLOCK_REALTIME now
struct clock_anchor {
  std::uint64_t tsc = 0;
  std::int64_t ns = 0;
};
// constinit: no dynamic initialisation, so every access is a plain %fs-relative load instead
// of a check for (and call to) a TLS init wrapper.
extern thread_local constinit clock_anchor tls_anchor;
// ns per TSC tick in 32.32 fixed point; 0 while unknown or unusable.
extern std::atomic<std::uint64_t> tsc_ns_per_tick_q32;
extern std::atomic<std::uint64_t> tsc_reanchor_ticks;
std::int64_t reanchor(clock_anchor& a, std::uint64_t tsc) noexcept;
}  // namespace detail

[[gnu::always_inline]] inline std::int64_t realtime_ns() noexcept {
#if defined(__x86_64__)
  const std::uint64_t rate = detail::tsc_ns_per_tick_q32.load(std::memory_order_relaxed);
  if (rate != 0) {
    const std::uint64_t t = __rdtsc();
    detail::clock_anchor& a = detail::tls_anchor;
    const std::uint64_t d = t - a.tsc;
    if (d < detail::tsc_reanchor_ticks.load(std::memory_order_relaxed)) [[likely]] {
      return a.ns + static_cast<std::int64_t>((static_cast<detail::uint128>(d) * rate) >> 32);
    }
    return detail::reanchor(a, t);
  }
  return detail::reanchor(detail::tls_anchor, __rdtsc());
#else
  return detail::realtime_ns_slow();
#endif
}

inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace lanes
