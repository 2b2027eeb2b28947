// tests/core/hot_path_test.cpp: the hot-path rules of DESIGN.md made checkable.
//   - noexcept on every hot-path call (static_assert, so a regression does not compile);
//   - no allocation after construction: this executable replaces the global operator
//     new/delete (every overload) with counting versions and runs many operations of each
//     primitive between two reads of the counter;
//   - layout: indices on their own cache lines.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string_view>
#include <utility>

#include "lanes/error.hpp"
#include "lanes/frame_ring.hpp"
#include "lanes/mpmc_ring.hpp"
#include "lanes/partitioner.hpp"
#include "lanes/spsc_ring.hpp"
#include "lanes/wait.hpp"
#include "lanes_support/counting_new.hpp"
#include "support/checks.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::frame_claim;
using lanes::frame_ring;
using lanes::frame_view;
using lanes_support::allocations_during;

// ---- noexcept on hot paths ----

using lanes_test::lv;

using u64 = std::uint64_t;
using spsc = lanes::spsc_ring<u64>;
using spsc_uptr = lanes::spsc_ring<std::unique_ptr<int>>;
using mpmc = lanes::mpmc_ring<u64>;
using mpmc_uptr = lanes::mpmc_ring<std::unique_ptr<int>>;

static_assert(noexcept(lv<spsc>().try_push(lv<const u64>())));
static_assert(noexcept(lv<spsc>().try_push(u64{1})));
static_assert(noexcept(lv<spsc>().try_emplace(u64{1})));
static_assert(noexcept(lv<spsc>().try_pop(lv<u64>())));
static_assert(noexcept(lv<spsc>().try_push_n(static_cast<const u64*>(nullptr), 1)));
static_assert(noexcept(lv<spsc>().try_pop_n(static_cast<u64*>(nullptr), 1)));
static_assert(noexcept(lv<spsc>().try_claim(1)));
static_assert(noexcept(lv<spsc>().commit(1)));
static_assert(noexcept(lv<spsc>().front()));
static_assert(noexcept(lv<spsc>().pop()));
static_assert(noexcept(lv<spsc>().size_guess()));
static_assert(noexcept(lv<spsc_uptr>().try_push(std::unique_ptr<int>())));
static_assert(noexcept(lv<spsc_uptr>().try_pop(lv<std::unique_ptr<int>>())));

static_assert(noexcept(lv<mpmc>().try_push(lv<const u64>())));
static_assert(noexcept(lv<mpmc>().try_push(u64{1})));
static_assert(noexcept(lv<mpmc>().try_emplace(u64{1})));
static_assert(noexcept(lv<mpmc>().try_pop(lv<u64>())));
static_assert(noexcept(lv<mpmc>().push(lv<const u64>())));
static_assert(noexcept(lv<mpmc>().push(u64{1})));
static_assert(noexcept(lv<mpmc>().emplace(u64{1})));
static_assert(noexcept(lv<mpmc>().pop(lv<u64>())));
static_assert(noexcept(lv<mpmc_uptr>().push(std::unique_ptr<int>())));
static_assert(noexcept(lv<mpmc_uptr>().pop(lv<std::unique_ptr<int>>())));

inline constexpr auto noexcept_fn = [](const frame_view&) noexcept {};
inline constexpr auto throwing_fn = [](const frame_view&) {};
static_assert(noexcept(lv<frame_ring>().try_claim(std::size_t{1})));
static_assert(noexcept(lv<frame_ring>().commit(lv<const frame_claim>())));
static_assert(noexcept(lv<frame_ring>().commit(lv<const frame_claim>(), [] {})));
static_assert(noexcept(lv<frame_ring>().abort(lv<const frame_claim>())));
static_assert(noexcept(lv<frame_ring>().try_write(std::span<const std::byte>())));
static_assert(noexcept(lv<frame_ring>().set_user(lv<const frame_claim>(), 1)));
static_assert(noexcept(lv<frame_ring>().shrink(lv<frame_claim>(), 1)));
static_assert(noexcept(lv<frame_ring>().published_position()));
static_assert(noexcept(lv<frame_ring::reader>().try_peek(lv<frame_view>())));
static_assert(noexcept(lv<frame_ring::reader>().advance(lv<const frame_view>())));
static_assert(noexcept(lv<frame_ring::reader>().release()));
static_assert(noexcept(lv<frame_ring::reader>().poll(noexcept_fn)));
static_assert(noexcept(lv<frame_ring::reader>().poll(noexcept_fn, 4)));
// poll is exactly as noexcept as the callback it runs.
static_assert(!noexcept(lv<frame_ring::reader>().poll(throwing_fn)));

static_assert(noexcept(lv<lanes::park>().notify_all()));
static_assert(noexcept(lv<lanes::park>().wait_until([]() noexcept { return true; })));
static_assert(noexcept(lv<lanes::busy_spin>().wait_until([]() noexcept { return true; })));
static_assert(noexcept(lv<lanes::spin_then_yield>().wait_until([]() noexcept { return true; })));

static_assert(noexcept(lv<const lanes::partitioner>().for_key(std::string_view())));
static_assert(noexcept(lv<const lanes::partitioner>().for_hash(u64{1})));
static_assert(noexcept(lv<lanes::partitioner>().next_round_robin()));
static_assert(noexcept(lv<const lanes::partitioner>().check(1)));
static_assert(noexcept(lanes::key_hash(std::string_view())));
static_assert(noexcept(lanes::key_hash(nullptr, 0)));
static_assert(noexcept(lanes::make_error_code(lanes::errc::full)));
static_assert(noexcept(lanes::to_string(lanes::errc::full)));

// ---- layout ----

static_assert(alignof(spsc) == lanes::cache_line_size);
static_assert(sizeof(spsc) >= 3 * lanes::cache_line_size,
              "read-only fields, producer index and consumer index need a line each");
static_assert(alignof(mpmc) == lanes::cache_line_size);
static_assert(sizeof(mpmc) >= 3 * lanes::cache_line_size,
              "tail, head and the read-only fields need a line each");
static_assert(alignof(frame_ring) == lanes::cache_line_size);
static_assert(alignof(lanes::park) == lanes::cache_line_size);

// ---- the counter itself ----

void* volatile g_sink = nullptr;

TEST(HotPath, AllocationCounterSeesEveryKindOfAllocation) {
  EXPECT_GE(allocations_during([] {
              int* p = new int(1);
              g_sink = p;
              delete static_cast<int*>(g_sink);
            }),
            1u);
  EXPECT_GE(allocations_during([] {
              auto* p = new std::array<int, 8>[3];
              g_sink = p;
              delete[] static_cast<std::array<int, 8>*>(g_sink);
            }),
            1u);
  struct alignas(128) over_aligned {
    char c[128];
  };
  EXPECT_GE(allocations_during([] {
              auto* p = new over_aligned();
              g_sink = p;
              EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 128, 0u);
              delete static_cast<over_aligned*>(g_sink);
            }),
            1u);
  // The rings allocate their (cache-line aligned) storage when constructed: the counter
  // sees those calls, so a zero below is meaningful.
  EXPECT_GE(allocations_during([] { spsc r(64); }), 1u);
  EXPECT_GE(allocations_during([] { mpmc r(64); }), 1u);
  EXPECT_GE(allocations_during([] { frame_ring r(1024); }), 1u);
}

// ---- no allocation after construction ----

TEST(HotPath, SpscRingDoesNotAllocate) {
  spsc r(64);
  const std::uint64_t n = lanes_test::stress_iters(100'000);
  u64 sum = 0;
  u64 popped = 0;
  const std::uint64_t allocs = allocations_during([&] {
    std::array<u64, 8> batch{};
    for (u64 i = 0; i < n; ++i) {
      u64 v = 0;
      if (r.try_push(i) && r.try_pop(v)) {
        sum += v;
        ++popped;
      }
      batch.fill(i);
      const std::size_t k = r.try_push_n(batch.data(), batch.size());
      popped += r.try_pop_n(batch.data(), k);
      std::span<u64> s = r.try_claim(3);
      for (u64& x : s) x = i;
      r.commit(s.size());
      while (const u64* f = r.front()) {
        sum += *f;
        r.pop();
        ++popped;
      }
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_GE(popped, 2 * n) << "the loop did not exercise the ring";
  EXPECT_GT(sum, 0u);
}

TEST(HotPath, MpmcRingDoesNotAllocate) {
  mpmc r(64);
  const std::uint64_t n = lanes_test::stress_iters(100'000);
  u64 popped = 0;
  const std::uint64_t allocs = allocations_during([&] {
    for (u64 i = 0; i < n; ++i) {
      u64 v = 0;
      if (r.try_push(i) && r.try_pop(v) && v == i) ++popped;
      r.push(i);
      r.pop(v);
      if (v == i) ++popped;
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(popped, 2 * n);
}

void frame_ring_ops(frame_ring& r, std::uint64_t n, std::uint64_t& frames_seen) {
  frame_ring::reader a = r.add_reader();  // cold path: before the counted window
  frame_ring::reader b = r.add_reader();
  const std::array<std::byte, 40> payload{};
  const std::uint64_t allocs = allocations_during([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      frame_claim c = r.try_claim(i % 48);
      if (c) {
        if (c.size != 0) c.data[0] = std::byte{1};
        r.set_user(c, 3);
        if (i % 4 == 0) r.shrink(c, c.size / 2);
        if (i % 7 == 0) {
          r.abort(c);
        } else {
          r.commit(c);
        }
      }
      if (r.try_write(std::span<const std::byte>(payload).first(i % payload.size())) ==
          lanes::errc::ok) {
        // nothing: counted below through the readers
      }
      frame_view f;
      while (a.try_peek(f)) {
        ++frames_seen;
        a.advance(f);
      }
      a.release();
      frames_seen += b.poll([](const frame_view&) noexcept {});
    }
  });
  EXPECT_EQ(allocs, 0u) << (r.mode() == lanes::producer_mode::multi ? "multi" : "single");
}

TEST(HotPath, FrameRingDoesNotAllocate) {
  const std::uint64_t n = lanes_test::stress_iters(50'000);
  for (auto mode : {lanes::producer_mode::single, lanes::producer_mode::multi}) {
    frame_ring r(1024, mode);
    std::uint64_t frames_seen = 0;
    frame_ring_ops(r, n, frames_seen);
    EXPECT_GE(frames_seen, n) << "the loop did not exercise the ring";
  }
}

TEST(HotPath, PartitionerAndWaitFastPathsDoNotAllocate) {
  lanes::partitioner p(16);
  lanes::park pk;
  lanes::busy_spin spin;
  lanes::spin_then_yield syield;
  pk.notify_all();  // first use registers membarrier (a syscall, no allocation); keep it out
  const std::uint64_t n = lanes_test::stress_iters(100'000);
  u64 acc = 0;
  const std::uint64_t allocs = allocations_during([&] {
    char key[16] = "key-0000000000";
    for (u64 i = 0; i < n; ++i) {
      key[4 + i % 10] = static_cast<char>('0' + i % 10);
      acc += p.for_key(std::string_view(key, 14));
      acc += p.next_round_robin();
      acc += lanes::key_hash(key, 14) & 1;
      acc += p.check(static_cast<std::uint32_t>(i % 20)) == lanes::errc::ok ? 1 : 0;
      pk.notify_all();
      acc += pk.wait_until([]() noexcept { return true; }) ? 1 : 0;
      acc += spin.wait_until([]() noexcept { return true; }) ? 1 : 0;
      acc += syield.wait_until([]() noexcept { return true; }) ? 1 : 0;
      acc += lanes::make_error_code(lanes::errc::full) ? 1 : 0;
      acc += lanes::to_string(lanes::errc::empty)[0] == 'e' ? 1 : 0;
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_GT(acc, 6 * n);
}

}  // namespace
