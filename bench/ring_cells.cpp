// bench/ring_cells.cpp: one benchmark cell (a queue, a metric, an item size): the value a run
// contributes, the summary over rounds, how many items a run takes, and the line printed per
// run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "lanes_support/median.hpp"
#include "ring_bench.hpp"

namespace lanes_bench {
namespace {

// 2 significant digits: counts that read well in the JSON.
std::uint64_t round_count(double c) {
  if (c < 1) return 1;
  const double scale = std::pow(10.0, std::floor(std::log10(c)) - 1);
  return static_cast<std::uint64_t>(std::llround(c / scale) * scale);
}

}  // namespace

summary summarize(const std::vector<double>& v) {
  summary s;
  if (v.empty()) return s;
  s.median = lanes_support::median(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// The value a run contributes to the comparison: items/s, or the median round trip.
double headline(metric m, const run_result& r) {
  return m == throughput ? r.items_per_s : r.p50_ns;
}

std::uint64_t initial_count(metric m, bool quick) {
  if (m == throughput) return quick ? 500'000 : 4'000'000;
  return quick ? 10'000 : 50'000;
}

// After the warm-up round: the count that makes one run last about `seconds`.
std::uint64_t calibrated_count(metric m, const run_result& r, double seconds) {
  if (m == throughput) {
    const double c = r.items_per_s * seconds;
    return round_count(std::clamp(c, 2.0 * kCapacity, 500e6));
  }
  const double c = seconds * 1e9 / r.mean_ns;
  return round_count(std::clamp(c, 5'000.0, 20e6));
}

void print_run(const cell& c, int round, const run_result& r) {
  if (c.m == throughput) {
    std::printf(
        "  round %d  %-24s %2dB throughput %9.2f M items/s  (%llu items, %.3f s, waits/item "
        "empty %.2f full %.2f)",
        round, c.queue->id, item_sizes[static_cast<std::size_t>(c.size_index)], r.items_per_s / 1e6,
        static_cast<unsigned long long>(r.count), r.seconds, r.empty_waits, r.full_waits);
  } else {
    std::printf("  round %d  %-24s %2dB round trip p50 %8.1f ns  p99 %8.1f ns  (%llu trips)", round,
                c.queue->id, item_sizes[static_cast<std::size_t>(c.size_index)], r.p50_ns, r.p99_ns,
                static_cast<unsigned long long>(r.count));
  }
  std::printf(
      "  floor %.0f/%.0f ns%s%s\n", r.floor_before_ns, r.floor_after_ns,
      within(r.floor_before_ns, r.floor_after_ns, kSamePlacement) ? "" : "  placement moved",
      static_cast<double>(r.preemptions) <= max_preemptions(r) ? "" : "  preempted");
  std::fflush(stdout);
}

}  // namespace lanes_bench
