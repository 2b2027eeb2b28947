// tests/core/wait_test.cpp: lanes wait strategies (busy_spin, spin_then_yield, park).
//
// Timing assertions are one-sided: a timed-out wait must have waited at least its timeout;
// upper bounds are tens of seconds, only to turn a lost wake-up into a failure, not a hang.
#include "lanes/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/concurrency.hpp"

namespace {

using namespace std::chrono_literals;
using lanes::wait_clock;

// Bound for "this should happen promptly": far beyond any scheduling noise.
constexpr auto generous = 30s;

template <class W>
class WaitStrategy : public ::testing::Test {};

using strategies = ::testing::Types<lanes::busy_spin, lanes::spin_then_yield, lanes::park>;
TYPED_TEST_SUITE(WaitStrategy, strategies);

TYPED_TEST(WaitStrategy, ReturnsTrueAtOnceWhenAlreadyReady) {
  TypeParam w;
  int calls = 0;
  EXPECT_TRUE(w.wait_until([&] {
    ++calls;
    return true;
  }));
  EXPECT_EQ(calls, 1);
  // Even with a deadline already past, a true condition wins.
  EXPECT_TRUE(w.wait_until([] { return true; }, wait_clock::now() - 1s));
}

TYPED_TEST(WaitStrategy, ReturnsTrueWhenAnotherThreadMakesItTrue) {
  for (bool with_deadline : {true, false}) {
    TypeParam w;
    std::atomic<bool> flag{false};
    std::thread setter([&] {
      std::this_thread::sleep_for(20ms);
      flag.store(true, std::memory_order_release);
      w.notify_all();
    });
    const auto t0 = wait_clock::now();
    auto ready = [&] { return flag.load(std::memory_order_acquire); };
    const bool ok = with_deadline ? w.wait_until(ready, t0 + generous) : w.wait_until(ready);
    const auto elapsed = wait_clock::now() - t0;
    setter.join();
    EXPECT_TRUE(ok);
    EXPECT_LT(elapsed, generous);
  }
}

TYPED_TEST(WaitStrategy, ReturnsFalseAfterTheDeadline) {
  TypeParam w;
  for (auto timeout : {1ms, 50ms}) {
    const auto t0 = wait_clock::now();
    const bool ok = w.wait_until([] { return false; }, t0 + timeout);
    const auto elapsed = wait_clock::now() - t0;
    EXPECT_FALSE(ok);
    EXPECT_GE(elapsed, timeout) << "returned before its deadline";
    EXPECT_LT(elapsed, generous);
  }
  // A deadline in the past: false, promptly.
  EXPECT_FALSE(w.wait_until([] { return false; }, wait_clock::now() - 1s));
}

TYPED_TEST(WaitStrategy, ConditionIsRecheckedUntilTrue) {
  TypeParam w;
  std::atomic<int> counter{0};
  std::thread bumper([&] {
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(5ms);
      counter.fetch_add(1, std::memory_order_release);
      w.notify_all();
    }
  });
  const bool ok = w.wait_until([&] { return counter.load(std::memory_order_acquire) >= 3; },
                               wait_clock::now() + generous);
  const int seen = counter.load();
  bumper.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(seen, 3) << "returned before the condition was true";
}

// Two threads pass a token back and forth through two wait objects, many times. Every hand-off
// must arrive well before its (generous) deadline.
template <class W>
std::uint64_t ping_pong(W& a, W& b, std::uint64_t rounds) {
  std::atomic<std::uint64_t> turn{0};
  std::atomic<std::uint64_t> timeouts{0};
  lanes_test::start_line start(2);
  auto player = [&](W& mine, W& theirs, std::uint64_t parity) {
    start.wait();
    for (std::uint64_t i = 0; i < rounds; ++i) {
      const std::uint64_t want = 2 * i + parity;
      if (!mine.wait_until([&] { return turn.load(std::memory_order_acquire) == want; },
                           wait_clock::now() + generous)) {
        timeouts.fetch_add(1);
        return;
      }
      turn.store(want + 1, std::memory_order_release);
      theirs.notify_all();
    }
  };
  std::thread t1(player, std::ref(a), std::ref(b), 0);
  std::thread t2(player, std::ref(b), std::ref(a), 1);
  t1.join();
  t2.join();
  if (timeouts.load() == 0) {
    EXPECT_EQ(turn.load(), 2 * rounds);
  }
  return timeouts.load();
}

TYPED_TEST(WaitStrategy, PingPongHandOffs) {
  TypeParam a;
  TypeParam b;
  // Two busy spinners on a shared 2-core machine may each burn a time slice per hand-off.
  const std::uint64_t rounds = std::is_same_v<TypeParam, lanes::busy_spin>
                                   ? lanes_test::stress_iters(500)
                                   : lanes_test::stress_iters(2000);
  EXPECT_EQ(ping_pong(a, b, rounds), 0u) << "a hand-off was lost";
}

// ---- park only ----

// Polls `cond` every millisecond for up to `generous`.
template <class Cond>
bool eventually(Cond&& cond) {
  const auto deadline = wait_clock::now() + generous;
  while (!cond()) {
    if (wait_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(Park, WaiterParksAndNotifyAllWakesIt) {
  lanes::park p;
  EXPECT_EQ(p.sleepers_guess(), 0u);
  std::atomic<bool> flag{false};
  std::atomic<bool> returned{false};
  bool result = false;
  std::thread waiter([&] {
    // The deadline is far beyond the notify: returning early proves the wake-up worked.
    result = p.wait_until([&] { return flag.load(std::memory_order_acquire); },
                          wait_clock::now() + 2 * generous);
    returned.store(true, std::memory_order_release);
  });
  ASSERT_TRUE(eventually([&] { return p.sleepers_guess() == 1; })) << "the waiter never parked";
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned.load()) << "a parked waiter returned with its condition false";
  EXPECT_EQ(p.sleepers_guess(), 1u);

  flag.store(true, std::memory_order_release);
  const auto t0 = wait_clock::now();
  p.notify_all();
  waiter.join();
  EXPECT_LT(wait_clock::now() - t0, generous) << "woken by its deadline, not by notify_all";
  EXPECT_TRUE(result);
  EXPECT_EQ(p.sleepers_guess(), 0u);
}

TEST(Park, NotifyAllWakesEveryParkedWaiter) {
  lanes::park p;
  std::atomic<bool> flag{false};
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      if (p.wait_until([&] { return flag.load(std::memory_order_acquire); },
                       wait_clock::now() + 2 * generous)) {
        woken.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return p.sleepers_guess() == 3; }));
  flag.store(true, std::memory_order_release);
  const auto t0 = wait_clock::now();
  p.notify_all();
  for (std::thread& t : waiters) t.join();
  EXPECT_LT(wait_clock::now() - t0, generous);
  EXPECT_EQ(woken.load(), 3);
  EXPECT_EQ(p.sleepers_guess(), 0u);
}

TEST(Park, WaiterParksAgainWhileTheConditionIsFalse) {
  lanes::park p;
  p.spins = 0;
  p.yields = 0;
  std::atomic<int> counter{0};
  bool result = false;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    result = p.wait_until([&] { return counter.load(std::memory_order_acquire) >= 3; },
                          wait_clock::now() + 2 * generous);
    returned.store(true, std::memory_order_release);
  });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually([&] { return p.sleepers_guess() == 1; })) << "round " << i;
    if (i > 0) {
      // Woken with a false condition: it must have gone back to sleep, not returned.
      std::this_thread::sleep_for(10ms);
      EXPECT_FALSE(returned.load(std::memory_order_acquire)) << "round " << i;
      EXPECT_EQ(p.sleepers_guess(), 1u) << "round " << i;
    }
    counter.fetch_add(1, std::memory_order_release);
    p.notify_all();
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(counter.load(), 3);
}

TEST(Park, TimesOutWhileParked) {
  lanes::park p;
  p.spins = 0;
  p.yields = 0;
  const auto t0 = wait_clock::now();
  EXPECT_FALSE(p.wait_until([] { return false; }, t0 + 50ms));
  const auto elapsed = wait_clock::now() - t0;
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, generous);
  EXPECT_EQ(p.sleepers_guess(), 0u) << "a timed-out waiter still counts as parked";
}

TEST(Park, NotifyWithoutSleepersChangesNothing) {
  lanes::park p;
  for (int i = 0; i < 1000; ++i) p.notify_all();
  EXPECT_EQ(p.sleepers_guess(), 0u);
  EXPECT_TRUE(p.wait_until([] { return true; }));
}

TEST(Park, PingPongThatParksOnEveryHandOff) {
  // No spinning, no yielding: every wait goes to the futex, so each hand-off exercises the
  // waiter/notifier handshake that must not lose a wake-up.
  lanes::park a;
  lanes::park b;
  a.spins = b.spins = 0;
  a.yields = b.yields = 0;
  EXPECT_EQ(ping_pong(a, b, lanes_test::stress_iters(2000)), 0u) << "a wake-up was lost";
}

TEST(Park, IsAlignedToACacheLine) {
  static_assert(alignof(lanes::park) == lanes::cache_line_size);
  static_assert(sizeof(lanes::park) % lanes::cache_line_size == 0);
  lanes::park p[2];
  const auto a = reinterpret_cast<std::uintptr_t>(&p[0]);
  const auto b = reinterpret_cast<std::uintptr_t>(&p[1]);
  EXPECT_EQ(a % lanes::cache_line_size, 0u);
  EXPECT_GE(b - a, lanes::cache_line_size);
}

}  // namespace
