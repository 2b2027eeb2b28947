// tests/core/ring_capacity_checks.hpp: the capacity checks every ring's constructor makes, for
// the ring tests (spsc_ring_test.cpp, mpmc_ring_test.cpp, frame_ring_test.cpp).
//
//   expect_capacities_rejected<Ring>({c...}, code)  Ring(c) throws a lanes error `code` for each
//   expect_capacity_accepted<Ring>(c)               Ring(c) throws nothing
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <system_error>

#include "lanes/error.hpp"
#include "support/checks.hpp"

namespace lanes_test {

template <class Ring>
void expect_capacities_rejected(std::initializer_list<std::size_t> capacities, lanes::errc want) {
  for (std::size_t c : capacities) {
    const std::error_code ec = code_thrown_by([c] { Ring r(c); });
    EXPECT_EQ(ec, want) << "capacity " << c;
    EXPECT_EQ(&ec.category(), &lanes::lanes_category()) << "capacity " << c;
  }
}

template <class Ring>
void expect_capacity_accepted(std::size_t capacity) {
  EXPECT_EQ(code_thrown_by([capacity] { Ring r(capacity); }), std::error_code{})
      << "capacity " << capacity;
}

}  // namespace lanes_test
