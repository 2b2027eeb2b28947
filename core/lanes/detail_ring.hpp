// lanes/detail_ring.hpp: what spsc_ring, mpmc_ring and frame_ring check alike (internal): the
// capacity they are given, and what a slot may hold.
#pragma once

#include <cstddef>
#include <system_error>
#include <type_traits>

#include "lanes/error.hpp"
#include "lanes/platform.hpp"

namespace lanes::detail {

// What a slot of spsc_ring and mpmc_ring may hold: moving in and out and destroying never
// throw (a slot would be left half-written), and a cache line is enough to align it.
template <class T>
inline constexpr bool ring_element =
    std::is_nothrow_move_constructible_v<T>&& std::is_nothrow_destructible_v<T> &&
    alignof(T) <= cache_line_size;

// `capacity` when it is a power of two in [min, max]; otherwise throws std::system_error with
// capacity_too_small, capacity_too_large or capacity_not_power_of_two, naming `ring`.
inline std::size_t checked_ring_capacity(std::size_t capacity, std::size_t min, std::size_t max,
                                         const char* ring) {
  errc e = errc::ok;
  if (capacity < min) {
    e = errc::capacity_too_small;
  } else if (capacity > max) {
    e = errc::capacity_too_large;
  } else if (!is_power_of_two(capacity)) {
    e = errc::capacity_not_power_of_two;
  }
  if (e != errc::ok) throw std::system_error(make_error_code(e), ring);
  return capacity;
}

}  // namespace lanes::detail
