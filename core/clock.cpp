#include "lanes/clock.hpp"

#include <ctime>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace lanes::detail {

std::int64_t realtime_ns_slow() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

thread_local constinit clock_anchor tls_anchor;
std::atomic<std::uint64_t> tsc_ns_per_tick_q32{0};
std::atomic<std::uint64_t> tsc_reanchor_ticks{0};

namespace {

bool invariant_tsc() noexcept {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u) return false;
  if (__get_cpuid(0x80000007u, &a, &b, &c, &d) == 0) return false;
  return (d & (1u << 8)) != 0;  // "TscInvariant": constant rate, runs in every C/P-state
#else
  return false;
#endif
}

const bool tsc_usable = invariant_tsc();

struct first_anchor {
  std::uint64_t tsc;
  std::int64_t ns;
};
// The process's first anchor, the base of the rate measurement (thread-safe static).
const first_anchor& first() noexcept {
  static const first_anchor f{__rdtsc(), realtime_ns_slow()};
  return f;
}

}  // namespace

std::int64_t reanchor(clock_anchor& a, std::uint64_t tsc) noexcept {
  const std::int64_t ns = realtime_ns_slow();
  a.tsc = tsc;
  a.ns = ns;
  if (!tsc_usable) return ns;
  const first_anchor& f = first();
  const std::int64_t elapsed_ns = ns - f.ns;
  if (elapsed_ns >= 10'000'000 && tsc > f.tsc) {
    // ns per tick over everything seen so far; refines itself at every re-anchor.
    const auto rate =
        static_cast<std::uint64_t>((static_cast<uint128>(elapsed_ns) << 32) / (tsc - f.tsc));
    if (rate != 0) {
      // One millisecond of ticks; readers that see the rate before this fall back to here.
      tsc_reanchor_ticks.store((std::uint64_t{1'000'000} << 32) / rate, std::memory_order_relaxed);
      tsc_ns_per_tick_q32.store(rate, std::memory_order_relaxed);
    }
  }
  return ns;
}

}  // namespace lanes::detail
