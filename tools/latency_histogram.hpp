// tools/latency_histogram.hpp: log-linear histogram of latencies in nanoseconds
// (HdrHistogram style, 3 significant digits), for `lanes perf` and later tools.
//
// Values below 2 * sub_buckets (2048 ns) are counted exactly. Each power of two above that,
// [2^k, 2^(k+1)), is split into sub_buckets (1024) equal buckets, so a bucket is narrower
// than 1/1000 of its values: a reported percentile is within 0.1% of the true sample.
// Values of 2^max_bits ns (about 18 minutes) and more are counted in the top bucket; max()
// still reports them exactly.
//
// Why not bench/histogram.hpp: that one is tuned for ring round trips in clock ticks
// (0.4% buckets, no merge); here every consumer thread keeps its own histogram and the
// report merges them per group and overall.
//
// Thread contract: one thread records into a histogram; merge and read it after that thread
// is joined. record() never allocates (the constructor touches all buckets).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lanes_tools {

class latency_histogram {
 public:
  static constexpr unsigned sub_bits = 10;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bits;
  static constexpr unsigned max_bits = 40;
  static constexpr std::uint64_t highest_trackable = (std::uint64_t{1} << max_bits) - 1;

  latency_histogram() : counts_(bucket_count, 0) {}

  void record(std::uint64_t ns) noexcept {
    ++counts_[index_of(std::min(ns, highest_trackable))];
    ++total_;
    sum_ += static_cast<double>(ns);
    if (ns > max_) max_ = ns;
    if (ns < min_) min_ = ns;
  }

  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
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
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
  }

 private:
  static constexpr std::size_t bucket_count = (max_bits - sub_bits + 1) * sub_buckets;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * sub_buckets) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - sub_bits;  // >= 1 here
    return static_cast<std::size_t>((shift + 1) * sub_buckets + (v >> shift) - sub_buckets);
  }

  // Largest value that falls in bucket i.
  static std::uint64_t highest_in(std::size_t i) noexcept {
    if (i < 2 * sub_buckets) return i;
    const std::uint64_t shift = i / sub_buckets - 1;
    const std::uint64_t low = (i % sub_buckets + sub_buckets) << shift;
    return low + (std::uint64_t{1} << shift) - 1;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  double sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

}  // namespace lanes_tools
