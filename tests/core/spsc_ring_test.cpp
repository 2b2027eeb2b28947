// tests/core/spsc_ring_test.cpp: lanes::spsc_ring edges, misuse, lifetimes and an SPSC stress run.
#include "lanes/spsc_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <set>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "ring_capacity_checks.hpp"
#include "stress_loop.hpp"
#include "support/checks.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::errc;
using lanes::spsc_ring;
using namespace lanes_test;

TEST(SpscRing, RejectsCapacityNotPowerOfTwo) {
  expect_capacities_rejected<spsc_ring<int>>({3, 5, 6, 12, 100, 1000},
                                             errc::capacity_not_power_of_two);
}

TEST(SpscRing, RejectsCapacityTooSmall) {
  expect_capacities_rejected<spsc_ring<int>>({0, 1}, errc::capacity_too_small);
  expect_capacity_accepted<spsc_ring<int>>(2);
}

TEST(SpscRing, EmptyAndFullAtSmallestCapacity) {
  spsc_ring<int> r(2);
  EXPECT_EQ(r.capacity(), 2u);
  int out = -1;
  // Many laps so the two slots are reused in both orders.
  for (int lap = 0; lap < 50; ++lap) {
    EXPECT_TRUE(r.was_empty());
    EXPECT_FALSE(r.try_pop(out));
    EXPECT_EQ(r.front(), nullptr);
    ASSERT_TRUE(r.try_push(2 * lap));
    ASSERT_TRUE(r.try_push(2 * lap + 1));
    EXPECT_EQ(r.size_guess(), 2u);
    EXPECT_FALSE(r.try_push(999)) << "a full ring accepted an item";
    EXPECT_TRUE(r.try_claim(1).empty());
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out, 2 * lap);
    // One slot free again: exactly one more push fits.
    ASSERT_TRUE(r.try_push(-5));
    EXPECT_FALSE(r.try_push(-6));
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out, 2 * lap + 1);
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out, -5);
    EXPECT_FALSE(r.try_pop(out));
  }
}

TEST(SpscRing, FifoAcrossManyWraps) {
  spsc_ring<std::uint64_t> r(8);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  // Fill levels 1..8 in turn so the indices cross the end at every offset.
  for (int round = 0; round < 100; ++round) {
    const int fill = 1 + round % 8;
    for (int i = 0; i < fill; ++i) ASSERT_TRUE(r.try_push(next_in++));
    EXPECT_EQ(r.size_guess(), static_cast<std::size_t>(fill));
    std::uint64_t v = 0;
    while (r.try_pop(v)) ASSERT_EQ(v, next_out++);
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(SpscRing, PushNAndPopNReturnPartialCounts) {
  spsc_ring<int> r(8);
  const std::array<int, 5> a{1, 2, 3, 4, 5};
  const std::array<int, 5> b{6, 7, 8, 9, 10};
  EXPECT_EQ(r.try_push_n(a.data(), a.size()), 5u);
  EXPECT_EQ(r.try_push_n(b.data(), b.size()), 3u) << "only 3 slots were free";
  EXPECT_EQ(r.try_push_n(b.data(), b.size()), 0u) << "full ring";
  EXPECT_EQ(r.try_push_n(b.data(), 0), 0u);

  std::array<int, 16> out{};
  EXPECT_EQ(r.try_pop_n(out.data(), 2), 2u);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 2);
  EXPECT_EQ(r.try_pop_n(out.data(), out.size()), 6u) << "only 6 items were left";
  const std::array<int, 6> rest{3, 4, 5, 6, 7, 8};
  for (std::size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(out[i], rest[i]);
  EXPECT_EQ(r.try_pop_n(out.data(), out.size()), 0u) << "empty ring";
  EXPECT_TRUE(r.was_empty());
}

TEST(SpscRing, PushNAndPopNAcrossTheEnd) {
  spsc_ring<int> r(8);
  int v = 0;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(r.try_push(i));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(r.try_pop(v));
  // Indices at 6: a batch of 7 occupies slots 6, 7, 0, 1, 2, 3, 4.
  std::array<int, 7> in{};
  std::iota(in.begin(), in.end(), 100);
  EXPECT_EQ(r.try_push_n(in.data(), in.size()), 7u);
  std::array<int, 7> out{};
  EXPECT_EQ(r.try_pop_n(out.data(), out.size()), 7u);
  EXPECT_EQ(out, in);
}

TEST(SpscRing, ClaimNearTheEndReturnsFewerSlots) {
  spsc_ring<std::uint32_t> r(8);
  std::uint32_t v = 0;
  for (std::uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(r.try_push(i));
  for (std::uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(r.try_pop(v));

  // Tail at slot 6: only slots 6 and 7 are contiguous.
  std::span<std::uint32_t> s = r.try_claim(4);
  ASSERT_EQ(s.size(), 2u);
  s[0] = 10;
  s[1] = 11;
  EXPECT_TRUE(r.was_empty()) << "claimed slots became visible before commit";
  r.commit(2);
  EXPECT_EQ(r.size_guess(), 2u);
  ASSERT_NE(r.front(), nullptr);
  EXPECT_EQ(r.front(), s.data()) << "commit published other slots than the claimed ones";

  // Tail at slot 0 with 6 free: a claim of 4 gets all 4.
  s = r.try_claim(4);
  ASSERT_EQ(s.size(), 4u);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint32_t>(12 + i);
  r.commit(4);

  // Tail at slot 4 with 2 free: limited by room, not by the end.
  s = r.try_claim(4);
  ASSERT_EQ(s.size(), 2u);
  s[0] = 16;
  r.commit(1);  // a prefix of the claim
  EXPECT_EQ(r.size_guess(), 7u);

  s = r.try_claim(8);
  ASSERT_EQ(s.size(), 1u);
  s[0] = 17;
  r.commit(1);
  EXPECT_TRUE(r.try_claim(1).empty()) << "claim on a full ring";

  for (std::uint32_t want = 10; want < 18; ++want) {
    ASSERT_TRUE(r.try_pop(v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(r.try_pop(v));
}

TEST(SpscRing, ClaimWithoutCommitPublishesNothing) {
  spsc_ring<int> r(4);
  std::span<int> s = r.try_claim(3);
  ASSERT_EQ(s.size(), 3u);
  s[0] = 1;
  r.commit(0);
  EXPECT_TRUE(r.was_empty());
  EXPECT_EQ(r.front(), nullptr);
  // The same slots are offered again.
  std::span<int> again = r.try_claim(3);
  EXPECT_EQ(again.data(), s.data());
  EXPECT_EQ(again.size(), 3u);
}

TEST(SpscRing, FrontAndPop) {
  spsc_ring<int> r(4);
  EXPECT_EQ(r.front(), nullptr);
  ASSERT_TRUE(r.try_push(7));
  ASSERT_TRUE(r.try_push(8));
  int* f = r.front();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f, 7);
  EXPECT_EQ(r.front(), f) << "front() must not consume";
  EXPECT_EQ(r.size_guess(), 2u);
  r.pop();
  ASSERT_NE(r.front(), nullptr);
  EXPECT_EQ(*r.front(), 8);
  r.pop();
  EXPECT_EQ(r.front(), nullptr);
  EXPECT_TRUE(r.was_empty());
}

TEST(SpscRing, LifetimesThroughPushPopFrontAndFailedPush) {
  tracked::reset_counters();
  const std::size_t base = tracked::live();
  {
    spsc_ring<tracked> r(4);
    EXPECT_EQ(tracked::live(), base) << "construction must not build items";
    const tracked a(1);
    ASSERT_TRUE(r.try_push(a));           // copy
    ASSERT_TRUE(r.try_push(tracked(2)));  // move
    ASSERT_TRUE(r.try_emplace(3));        // in place
    ASSERT_TRUE(r.try_push(tracked(4)));
    EXPECT_EQ(tracked::live(), base + 1 + 4);
    const std::size_t before = tracked::constructions();
    EXPECT_FALSE(r.try_emplace(5));
    EXPECT_FALSE(r.try_push(a));
    EXPECT_EQ(tracked::constructions(), before) << "a failed push constructed an item";

    tracked out(0);
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out.value(), 1);
    EXPECT_EQ(tracked::live(), base + 2 + 3) << "try_pop must destroy the slot's item";
    ASSERT_NE(r.front(), nullptr);
    EXPECT_EQ(r.front()->value(), 2);
    r.pop();
    EXPECT_EQ(tracked::live(), base + 2 + 2) << "pop must destroy the front item";
    std::array<tracked, 3> outs{tracked(0), tracked(0), tracked(0)};
    EXPECT_EQ(r.try_pop_n(outs.data(), outs.size()), 2u);
    EXPECT_EQ(outs[0].value(), 3);
    EXPECT_EQ(outs[1].value(), 4);
    EXPECT_EQ(tracked::live(), base + 2 + 3);

    // Batch push of copies across the end of the ring.
    const std::array<tracked, 3> ins{tracked(10), tracked(11), tracked(12)};
    EXPECT_EQ(r.try_push_n(ins.data(), ins.size()), 3u);
    EXPECT_EQ(r.try_push_n(ins.data(), ins.size()), 1u);
    EXPECT_EQ(tracked::live(), base + 2 + 3 + 3 + 4);
  }
  EXPECT_EQ(tracked::live(), base) << "the ring leaked or double-freed items";
  EXPECT_EQ(tracked::errors(), 0u) << "double construction or destruction";
  EXPECT_EQ(tracked::constructions(), tracked::destructions());
}

TEST(SpscRing, DestructorDestroysRemainingItemsAcrossTheEnd) {
  for (int head_at = 0; head_at < 8; ++head_at) {
    tracked::reset_counters();
    const std::size_t base = tracked::live();
    {
      spsc_ring<tracked> r(8);
      tracked out(0);
      for (int i = 0; i < head_at; ++i) {
        ASSERT_TRUE(r.try_emplace(i));
        ASSERT_TRUE(r.try_pop(out));
      }
      for (int i = 0; i < 6; ++i) ASSERT_TRUE(r.try_emplace(i));
      EXPECT_EQ(tracked::live(), base + 1 + 6);
    }
    EXPECT_EQ(tracked::live(), base) << "head at " << head_at;
    EXPECT_EQ(tracked::errors(), 0u) << "head at " << head_at;
    EXPECT_EQ(tracked::constructions(), tracked::destructions());
  }
}

TEST(SpscRing, MoveOnlyItems) {
  spsc_ring<std::unique_ptr<int>> r(2);
  ASSERT_TRUE(r.try_push(std::make_unique<int>(1)));
  ASSERT_TRUE(r.try_emplace(new int(2)));
  std::unique_ptr<int> p = std::make_unique<int>(3);
  EXPECT_FALSE(r.try_push(std::move(p)));
  std::unique_ptr<int> out;
  ASSERT_TRUE(r.try_pop(out));
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(*out, 1);
  // Remaining item freed by the destructor (asan checks the leak).
}

TEST(SpscRing, IndexLinesAreSeparateCacheLines) {
  static_assert(alignof(spsc_ring<int>) == lanes::cache_line_size);
  static_assert(sizeof(spsc_ring<int>) >= 3 * lanes::cache_line_size);
  static_assert(sizeof(spsc_ring<char>) % lanes::cache_line_size == 0);

  // Observe the layout without private access: build a ring in zeroed storage, push one
  // item (only the producer's tail changes) then pop it (only the consumer's words change),
  // and check the two sets of changed 8-byte words lie on different cache lines.
  using ring = spsc_ring<std::uint64_t>;
  alignas(ring) unsigned char storage[sizeof(ring)] = {};
  auto* r = ::new (static_cast<void*>(storage)) ring(4);
  auto snapshot = [&] {
    std::array<std::uint64_t, sizeof(ring) / 8> w{};
    std::memcpy(w.data(), storage, sizeof(w));
    return w;
  };
  const auto s0 = snapshot();
  ASSERT_TRUE(r->try_push(42));
  const auto s1 = snapshot();
  std::uint64_t out = 0;
  ASSERT_TRUE(r->try_pop(out));
  const auto s2 = snapshot();
  r->~ring();

  std::set<std::size_t> producer_lines;
  std::set<std::size_t> consumer_lines;
  for (std::size_t i = 0; i < s0.size(); ++i) {
    if (s1[i] != s0[i]) producer_lines.insert(i * 8 / lanes::cache_line_size);
    if (s2[i] != s1[i]) consumer_lines.insert(i * 8 / lanes::cache_line_size);
  }
  EXPECT_EQ(producer_lines.size(), 1u) << "push changed words on several lines";
  EXPECT_EQ(consumer_lines.size(), 1u) << "pop changed words on several lines";
  for (std::size_t line : producer_lines) {
    EXPECT_EQ(consumer_lines.count(line), 0u) << "producer and consumer share line " << line;
    EXPECT_NE(line, 0u) << "an index shares the first line with the read-only fields";
  }
  for (std::size_t line : consumer_lines) EXPECT_NE(line, 0u);
}

// One producer, one consumer, every way to push and pop mixed; the consumer checks that it
// sees 0, 1, 2, ... in order with nothing lost or repeated.
TEST(SpscRing, ConcurrentOrderIsPreserved) {
  const std::uint64_t n = lanes_test::stress_iters(200'000);
  spsc_ring<std::uint64_t> r(64);
  lanes_test::start_line start(2);
  std::uint64_t first_bad = UINT64_MAX;
  std::uint64_t received = 0;
  std::atomic<bool> gave_up{false};

  std::thread producer([&] {
    lanes_test::stall_guard guard(gave_up);
    start.wait();
    std::uint64_t seq = 0;
    std::array<std::uint64_t, 5> batch{};
    while (seq < n) {
      bool progressed = false;
      switch (seq % 3) {
        case 0:
          progressed = r.try_push(lanes_test::make_tag(0, seq));
          if (progressed) ++seq;
          break;
        case 1: {
          const std::size_t want = std::min<std::uint64_t>(batch.size(), n - seq);
          for (std::size_t i = 0; i < want; ++i) batch[i] = lanes_test::make_tag(0, seq + i);
          const std::size_t k = r.try_push_n(batch.data(), want);
          seq += k;
          progressed = k != 0;
          break;
        }
        default: {
          std::span<std::uint64_t> s = r.try_claim(std::min<std::uint64_t>(7, n - seq));
          for (std::size_t i = 0; i < s.size(); ++i) s[i] = lanes_test::make_tag(0, seq + i);
          if (!s.empty()) r.commit(s.size());
          seq += s.size();
          progressed = !s.empty();
        }
      }
      if (!keep_going(guard, progressed)) return;
    }
  });

  std::thread consumer([&] {
    lanes_test::stall_guard guard(gave_up);
    start.wait();
    std::array<std::uint64_t, 6> buf{};
    auto check = [&](std::uint64_t v) {
      if (first_bad == UINT64_MAX && v != lanes_test::make_tag(0, received)) first_bad = received;
      ++received;
    };
    while (received < n) {
      std::size_t got = 0;
      switch (received % 3) {
        case 0: {
          std::uint64_t v = 0;
          if (r.try_pop(v)) {
            check(v);
            got = 1;
          }
          break;
        }
        case 1:
          got = r.try_pop_n(buf.data(), buf.size());
          for (std::size_t i = 0; i < got; ++i) check(buf[i]);
          break;
        default:
          if (const std::uint64_t* f = r.front()) {
            check(*f);
            r.pop();
            got = 1;
          }
      }
      if (!keep_going(guard, got != 0)) return;
    }
  });
  producer.join();
  consumer.join();
  EXPECT_FALSE(gave_up.load()) << "no progress for 60 s: items lost or a side stuck";
  EXPECT_EQ(received, n);
  EXPECT_EQ(first_bad, UINT64_MAX) << "first out-of-order item at index " << first_bad;
  EXPECT_TRUE(r.was_empty());
}

// Concurrent run with a non-trivial item type: every object built is destroyed exactly once.
TEST(SpscRing, ConcurrentLifetimesBalance) {
  const int n = static_cast<int>(lanes_test::stress_iters(20'000));
  tracked::reset_counters();
  const std::size_t base = tracked::live();
  long long sum = 0;
  std::atomic<bool> gave_up{false};
  {
    spsc_ring<tracked> r(16);
    lanes_test::start_line start(2);
    std::thread producer([&] {
      lanes_test::stall_guard guard(gave_up);
      start.wait();
      for (int i = 0; i < n; ++i) {
        if (!retry(guard, [&] { return r.try_emplace(i); })) return;
      }
    });
    std::thread consumer([&] {
      lanes_test::stall_guard guard(gave_up);
      start.wait();
      tracked out(0);
      // Leave the last 5 items in the ring for the destructor.
      for (int i = 0; i < n - 5; ++i) {
        if (!retry(guard, [&] { return r.try_pop(out); })) return;
        sum += out.value();
      }
    });
    producer.join();
    consumer.join();
    EXPECT_FALSE(gave_up.load()) << "no progress for 60 s: items lost or a side stuck";
    EXPECT_EQ(r.size_guess(), 5u);
  }
  const long long m = n - 5;
  EXPECT_EQ(sum, m * (m - 1) / 2);
  EXPECT_EQ(tracked::live(), base);
  EXPECT_EQ(tracked::errors(), 0u);
  EXPECT_EQ(tracked::constructions(), tracked::destructions());
}

}  // namespace
