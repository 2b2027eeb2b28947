// bench/histogram.hpp: log-linear histogram of non-negative integer samples (HdrHistogram
// style), for latencies recorded in clock ticks on the hot path.
//
// Values below 2 * sub_buckets are counted exactly. Above that, each power of two [2^k,
// 2^(k+1)) is split into sub_buckets equal-width buckets, so a bucket's width is at most
// 1/sub_buckets of its values: with 256 sub-buckets a reported percentile is within 0.4% of
// the true sample. record() is a few shifts and one increment: no allocation, no branches on
// the common path beyond the small-value check.
//
// A timer that advances in coarse steps (the TSC of some AMD parts and VMs moves in ~10 ns
// steps) rounds every sample to a step; smoothed_quantile() undoes that rounding on average.
//
// Thread contract: one thread records; read the results after that thread is joined.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace lanes_bench {

class log_linear_histogram {
 public:
  static constexpr unsigned sub_bits = 8;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bits;

  // Allocates and touches every bucket now, so record() never page-faults.
  log_linear_histogram() : counts_(bucket_count, 0) {}

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++total_;
    if (v > max_) max_ = v;
  }

  void reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    max_ = 0;
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  // Value at quantile q in [0, 1]: the midpoint of the bucket holding the ceil(q * count)-th
  // smallest sample (exact below 2 * sub_buckets). 0 when empty.
  double quantile(double q) const noexcept {
    if (total_ == 0) return 0.0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return midpoint_of(i);
    }
    return static_cast<double>(max_);
  }

  // Quantile q of the samples with each one spread evenly over [v - step/2, v + step/2].
  // When the timer advances in steps of `step` and the start of each timed interval falls
  // at a random phase of that step, a true duration d reads as one of the two multiples of
  // the step around d, with odds that make the mean exact. A raw quantile sticks to a
  // multiple of the step (off by up to a whole step, and blind to changes within one);
  // spread over one step, the median of a constant duration is within a tenth of a step of
  // it and moves continuously with it. With step <= 1 this is quantile(q).
  double smoothed_quantile(double q, double step) const {
    if (step <= 1.0 || total_ == 0) return quantile(q);
    std::vector<std::pair<double, std::uint64_t>> points;  // (bucket value, count)
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] != 0) points.emplace_back(midpoint_of(i), counts_[i]);
    }
    const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(total_);
    auto below = [&](double x) {  // smoothed count of samples below x
      double n = 0;
      for (const auto& [v, c] : points) {
        n += static_cast<double>(c) * std::clamp((x - (v - step / 2)) / step, 0.0, 1.0);
      }
      return n;
    };
    double lo = points.front().first - step;
    double hi = points.back().first + step;
    for (int i = 0; i < 64; ++i) {
      const double mid = (lo + hi) / 2;
      (below(mid) < target ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
  }

 private:
  // Buckets for every 64-bit value: the exact range, then sub_buckets per power of two.
  static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_buckets;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * sub_buckets) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - sub_bits;  // >= 1 here
    return static_cast<std::size_t>((shift + 1) * sub_buckets + ((v >> shift) - sub_buckets));
  }

  static double midpoint_of(std::size_t i) noexcept {
    if (i < 2 * sub_buckets) return static_cast<double>(i);
    const std::uint64_t shift = i / sub_buckets - 1;
    const std::uint64_t low = (i % sub_buckets + sub_buckets) << shift;
    const std::uint64_t width = std::uint64_t{1} << shift;
    return static_cast<double>(low) + static_cast<double>(width - 1) / 2.0;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace lanes_bench
