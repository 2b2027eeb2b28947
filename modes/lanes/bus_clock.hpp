// lanes/bus_clock.hpp: the time a bus decides by, and a clock for tests that moves it.
//
// What a bus decides by time: when an unacked queue message becomes visible again (its
// visibility timeout), when a delayed or nacked-with-delay message is delivered, which records
// retention by age drops (memory and disk). Those read bus_config::clock; without one (the
// default) they read the system's clocks directly, at no extra cost.
//
// What stays on the system's clocks: how long a thread waits (poll and receive timeouts,
// max_block, wait_durable), the persister's sync interval and record timestamps. A test that
// needs a deadline to pass does not wait for it: it injects a shifted_clock and moves it past.
//
// Threads: a clock_source is read from any thread (publish, receive, the housekeeping and
// persister threads); it must be safe for that and stay alive as long as the bus.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "lanes/clock.hpp"

namespace lanes {

class clock_source {
 public:
  virtual ~clock_source() = default;
  // Monotonic nanoseconds (the steady clock's epoch): visibility timeouts and delays.
  virtual std::int64_t steady_ns() const noexcept = 0;
  // Nanoseconds since the Unix epoch: retention by age, compared with record timestamps.
  virtual std::int64_t realtime_ns() const noexcept = 0;
};

// The system's clocks, shifted forward by what advance() added: time passes as usual and
// jumps when a test says so. Record timestamps (the system's realtime) stay comparable with
// it, so a record published now is exactly `d` old after advance(d) plus the time the test
// itself took. Deadlines shown to users (receipt::deadline) are in this clock's time.
class shifted_clock final : public clock_source {
 public:
  std::int64_t steady_ns() const noexcept override {
    return lanes::steady_ns() + shift_.load(std::memory_order_acquire);
  }
  std::int64_t realtime_ns() const noexcept override {
    return lanes::realtime_ns() + shift_.load(std::memory_order_acquire);
  }
  // Moves both clocks forward by d (d >= 0: a monotonic clock never goes back).
  void advance(std::chrono::nanoseconds d) noexcept {
    if (d.count() > 0) shift_.fetch_add(d.count(), std::memory_order_acq_rel);
  }
  std::chrono::nanoseconds shift() const noexcept {
    return std::chrono::nanoseconds(shift_.load(std::memory_order_acquire));
  }

 private:
  std::atomic<std::int64_t> shift_{0};
};

}  // namespace lanes
