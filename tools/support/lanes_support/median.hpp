// lanes_support/median.hpp: the median the benchmarks and lanes-stress report over rounds.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace lanes_support {

// The median of `v`: the middle value, or the mean of the middle two for an even count; 0 for
// no values.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace lanes_support
