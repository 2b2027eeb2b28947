// tests/core/stress_loop.hpp: the step of a stress loop in the ring tests (spsc_ring_test.cpp,
// mpmc_ring_test.cpp, frame_ring_stress_test.cpp), around lanes_test::stall_guard:
//
//   keep_going(guard, progressed)  after one attempt: progress() if it moved, else back off;
//                                  false once the thread should stop (it gave up)
//   retry(guard, attempt)          attempt() until it returns true (then progress(), true) or
//                                  the guard gives up (false)
#pragma once

#include "support/concurrency.hpp"

namespace lanes_test {

inline bool keep_going(stall_guard& guard, bool progressed) {
  if (progressed) {
    guard.progress();
    return true;
  }
  if (guard.give_up()) return false;
  backoff();
  return true;
}

template <class Attempt>
bool retry(stall_guard& guard, Attempt&& attempt) {
  while (!attempt()) {
    if (guard.give_up()) return false;
    backoff();
  }
  guard.progress();
  return true;
}

}  // namespace lanes_test
