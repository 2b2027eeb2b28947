// tools/splitmix64.hpp: splitmix64, the small fast generator with which `lanes perf` picks keys
// and `lanes-stress` fills values and picks kill moments and damage (never anything secret).
// Each tool draws its numbers from next() in its own way (perf_internal.hpp,
// stress_internal.hpp), so a seed replays the same choices.
// Thread contract: one thread per generator. Hot path: no allocation.
#pragma once

#include <cstdint>

namespace lanes_tools {

struct splitmix64 {
  std::uint64_t s;  // the state; the seed to start with

  std::uint64_t next() noexcept {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace lanes_tools
