// lanes_support/ours_vs_peer.hpp: the summary of interleaved rounds of ours against a peer
// that the benchmarks write (kafka_bench, cdc_bench): per-round rates, per-round ratios, and
// the median with the min-max of each. Cold path (allocates).
#pragma once

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lanes_support/median.hpp"

namespace lanes_support {

// ours[i] and peer[i] come from round i (same size, not empty). `unit` names the rates'
// keys: "ours_<unit>" and "peer_<unit>" hold the rounds.
inline nlohmann::json ours_vs_peer(const std::vector<double>& ours, const std::vector<double>& peer,
                                   const std::string& unit) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < ours.size(); ++i) ratios.push_back(ours[i] / peer[i]);
  const auto [ours_min, ours_max] = std::minmax_element(ours.begin(), ours.end());
  const auto [peer_min, peer_max] = std::minmax_element(peer.begin(), peer.end());
  const auto [ratio_min, ratio_max] = std::minmax_element(ratios.begin(), ratios.end());
  return {{"ours_" + unit, ours},           {"peer_" + unit, peer},    {"ratios", ratios},
          {"ours_median", median(ours)},    {"ours_min", *ours_min},   {"ours_max", *ours_max},
          {"peer_median", median(peer)},    {"peer_min", *peer_min},   {"peer_max", *peer_max},
          {"ratio_median", median(ratios)}, {"ratio_min", *ratio_min}, {"ratio_max", *ratio_max}};
}

}  // namespace lanes_support
