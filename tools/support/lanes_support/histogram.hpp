// lanes_support/histogram.hpp: the one latency histogram of the tools and benchmarks: log-
// linear (HdrHistogram style) over non-negative integer samples (nanoseconds or clock ticks).
//
// Values below 2 * sub_buckets are counted exactly. Above that, each power of two [2^k,
// 2^(k+1)) is split into sub_buckets equal-width buckets, so a bucket is narrower than
// 1/sub_buckets of its values: SubBits 10 (lanes perf) keeps a percentile within 0.1% of
// the true sample, SubBits 8 (the ring benchmarks, per round trip in ticks) within 0.4% with
// a quarter of the memory. Values of 2^MaxBits and more are counted in the top bucket; max()
// still reports them exactly. record() is a few shifts and increments: no allocation (the
// constructor touches every bucket, so it never page-faults either).
//
// Thread contract: one thread records into a histogram; merge and read it after that thread
// is joined.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace lanes_support {

template <unsigned SubBits, unsigned MaxBits>
class log_linear_histogram {
  static_assert(SubBits >= 1 && SubBits < MaxBits && MaxBits <= 64);

 public:
  static constexpr unsigned sub_bits = SubBits;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << SubBits;
  static constexpr std::uint64_t highest_trackable =
      MaxBits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << (MaxBits % 64)) - 1;

  log_linear_histogram() : counts_(bucket_count, 0) {}

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(std::min(v, highest_trackable))];
    ++total_;
    sum_ += static_cast<double>(v);
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }

  void merge(const log_linear_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
  }

  void reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    sum_ = 0;
    max_ = 0;
    min_ = ~std::uint64_t{0};
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }
  std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  double mean() const noexcept { return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_); }

  // The value at percentile p (0..100), as HdrHistogram reports it: the highest value
  // equivalent (same bucket) to the smallest sample v with at least ceil(p% of count) samples
  // <= v; never above max(). 0 when empty.
  std::uint64_t value_at_percentile(double p) const noexcept {
    if (total_ == 0) return 0;
    const double wanted =
        std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(total_));
    const auto rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(wanted), 1, total_);
    return std::min(highest_in(bucket_at_rank(rank)), max_);
  }

  // Value at quantile q in [0, 1]: the midpoint of the bucket holding the round(q * count)-th
  // smallest sample (exact below 2 * sub_buckets). 0 when empty.
  double quantile(double q) const noexcept {
    if (total_ == 0) return 0.0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    return midpoint_of(bucket_at_rank(rank));
  }

  // Quantile q of the samples with each one spread evenly over [v - step/2, v + step/2].
  // When the timer advances in steps of `step` (the TSC of some AMD parts and VMs moves in
  // ~10 ns steps) and each timed interval starts at a random phase of that step, a true
  // duration d reads as one of the two multiples of the step around d, with odds that make
  // the mean exact. A raw quantile sticks to a multiple of the step; spread over one step,
  // the median of a constant duration is within a tenth of a step of it and moves
  // continuously with it. With step <= 1 this is quantile(q).
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
  static constexpr std::size_t bucket_count = (MaxBits - SubBits + 1) * sub_buckets;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * sub_buckets) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - SubBits;  // >= 1 here
    return static_cast<std::size_t>((shift + 1) * sub_buckets + ((v >> shift) - sub_buckets));
  }
  std::size_t bucket_at_rank(std::uint64_t rank) const noexcept {
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return i;
    }
    return bucket_count - 1;
  }
  static std::uint64_t lowest_in(std::size_t i) noexcept {
    if (i < 2 * sub_buckets) return i;
    const std::uint64_t shift = i / sub_buckets - 1;
    return (i % sub_buckets + sub_buckets) << shift;
  }
  static std::uint64_t width_of(std::size_t i) noexcept {
    return i < 2 * sub_buckets ? 1 : std::uint64_t{1} << (i / sub_buckets - 1);
  }
  static std::uint64_t highest_in(std::size_t i) noexcept { return lowest_in(i) + width_of(i) - 1; }
  static double midpoint_of(std::size_t i) noexcept {
    return static_cast<double>(lowest_in(i)) + static_cast<double>(width_of(i) - 1) / 2.0;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  double sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
};

}  // namespace lanes_support

// The names the tools and benchmarks use.
namespace lanes_tools {
// Nanoseconds, 0.1% buckets, up to 2^40 ns (about 18 minutes); merged per group (lanes perf).
using latency_histogram = lanes_support::log_linear_histogram<10, 40>;
}  // namespace lanes_tools
namespace lanes_bench {
// Clock ticks of ring round trips, 0.4% buckets, the whole 64-bit range.
using log_linear_histogram = lanes_support::log_linear_histogram<8, 64>;
}  // namespace lanes_bench
