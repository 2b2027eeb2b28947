// tests/core/clock_test.cpp: lanes::realtime_ns: TSC-derived wall clock that must track
// CLOCK_REALTIME.
#include <gtest/gtest.h>

#include <ctime>
#include <thread>
#include <vector>

#include <lanes/clock.hpp>

namespace {

std::int64_t system_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Distance between lanes::realtime_ns() and CLOCK_REALTIME read right around it. Preemption
// can only widen the bracket, so the best of a few tries is the clock's own error.
std::int64_t best_error() {
  std::int64_t best = INT64_MAX;
  for (int i = 0; i < 20; ++i) {
    const std::int64_t before = system_ns();
    const std::int64_t ours = lanes::realtime_ns();
    const std::int64_t after = system_ns();
    std::int64_t e = 0;
    if (ours < before) e = before - ours;
    if (ours > after) e = ours - after;
    best = std::min(best, e);
  }
  return best;
}

TEST(Clock, TracksTheSystemClockAcrossReanchoring) {
  // Covers the first 10 ms (system clock only), then the TSC path with re-anchoring.
  for (int round = 0; round < 40; ++round) {
    // Generous bound (1 ms): a wrong rate or anchor is off by far more than that.
    EXPECT_LT(best_error(), 1'000'000) << "round " << round;
    std::this_thread::sleep_for(std::chrono::microseconds(round % 2 ? 1500 : 300));
  }
}

TEST(Clock, EveryThreadGetsSaneReadings) {
  std::vector<std::thread> ts;
  std::vector<std::int64_t> errors(4, 0);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        errors[t] = std::max(errors[t], best_error());
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_LT(errors[t], 1'000'000) << "thread " << t;
}

TEST(Clock, NeverStepsBackMoreThanAFewMicroseconds) {
  std::int64_t prev = lanes::realtime_ns();
  std::int64_t worst = 0;
  for (int i = 0; i < 200'000; ++i) {
    const std::int64_t now = lanes::realtime_ns();
    worst = std::max(worst, prev - now);
    prev = now;
  }
  EXPECT_LT(worst, 100'000);  // re-anchoring may step back by the rate error over 1 ms
}

}  // namespace
