// tests/core/mpmc_ring_test.cpp: lanes::mpmc_ring edges, misuse, lifetimes and MPMC stress runs.
#include "lanes/mpmc_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "ring_capacity_checks.hpp"
#include "stress_loop.hpp"
#include "support/checks.hpp"
#include "support/concurrency.hpp"

namespace {

using lanes::errc;
using lanes::mpmc_ring;
using namespace lanes_test;

TEST(MpmcRing, RejectsBadCapacity) {
  expect_capacities_rejected<mpmc_ring<int>>({3, 6, 7, 24, 1023}, errc::capacity_not_power_of_two);
  expect_capacities_rejected<mpmc_ring<int>>({0, 1}, errc::capacity_too_small);
  expect_capacity_accepted<mpmc_ring<int>>(2);
}

TEST(MpmcRing, EmptyAndFullAtSmallestCapacity) {
  mpmc_ring<int> r(2);
  EXPECT_EQ(r.capacity(), 2u);
  int out = -1;
  for (int lap = 0; lap < 50; ++lap) {
    EXPECT_TRUE(r.was_empty());
    EXPECT_FALSE(r.try_pop(out));
    ASSERT_TRUE(r.try_push(2 * lap));
    if (lap % 2 == 0) {
      ASSERT_TRUE(r.try_push(2 * lap + 1));
    } else {
      r.push(2 * lap + 1);  // a free slot: must not block
    }
    EXPECT_EQ(r.size_guess(), 2u);
    EXPECT_FALSE(r.try_push(999)) << "a full ring accepted an item";
    if (lap % 2 == 0) {
      ASSERT_TRUE(r.try_pop(out));
    } else {
      r.pop(out);  // an item is there: must not block
    }
    EXPECT_EQ(out, 2 * lap);
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out, 2 * lap + 1);
    EXPECT_FALSE(r.try_pop(out));
  }
}

TEST(MpmcRing, FifoAcrossManyWrapsMixingTryAndBlocking) {
  mpmc_ring<std::uint64_t> r(8);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  for (int round = 0; round < 100; ++round) {
    const int fill = 1 + round % 8;
    for (int i = 0; i < fill; ++i) {
      if ((next_in & 1) != 0) {
        r.push(next_in++);
      } else {
        ASSERT_TRUE(r.try_push(next_in++));
      }
    }
    EXPECT_EQ(r.size_guess(), static_cast<std::size_t>(fill));
    if (fill == 8) {
      EXPECT_FALSE(r.try_push(0));
    }
    for (int i = 0; i < fill; ++i) {
      std::uint64_t v = 0;
      if (i % 3 == 0) {
        r.pop(v);
      } else {
        ASSERT_TRUE(r.try_pop(v));
      }
      ASSERT_EQ(v, next_out++);
    }
    std::uint64_t v = 0;
    EXPECT_FALSE(r.try_pop(v));
  }
}

TEST(MpmcRing, BlockingPopWaitsForAPush) {
  mpmc_ring<int> r(4);
  std::atomic<bool> got{false};
  int value = 0;
  std::thread consumer([&] {
    r.pop(value);
    got.store(true, std::memory_order_release);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got.load(std::memory_order_acquire)) << "pop returned from an empty ring";
  r.push(5);
  consumer.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(value, 5);
  EXPECT_TRUE(r.was_empty());
}

TEST(MpmcRing, BlockingPushWaitsForAPop) {
  mpmc_ring<int> r(2);
  r.push(1);
  r.push(2);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    r.push(3);
    pushed.store(true, std::memory_order_release);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(pushed.load(std::memory_order_acquire)) << "push returned on a full ring";
  int v = 0;
  ASSERT_TRUE(r.try_pop(v));
  EXPECT_EQ(v, 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  r.pop(v);
  EXPECT_EQ(v, 2);
  r.pop(v);
  EXPECT_EQ(v, 3);
}

TEST(MpmcRing, LifetimesAndDestructorAcrossTheEnd) {
  for (int head_at = 0; head_at < 4; ++head_at) {
    tracked::reset_counters();
    const std::size_t base = tracked::live();
    {
      mpmc_ring<tracked> r(4);
      EXPECT_EQ(tracked::live(), base);
      tracked out(0);
      for (int i = 0; i < head_at; ++i) {
        r.emplace(i);
        r.pop(out);
        EXPECT_EQ(out.value(), i);
      }
      const tracked a(7);
      ASSERT_TRUE(r.try_push(a));
      r.push(tracked(8));
      ASSERT_TRUE(r.try_emplace(9));
      EXPECT_EQ(tracked::live(), base + 2 + 3);
      const std::size_t built = tracked::constructions();
      EXPECT_TRUE(r.try_push(a));
      EXPECT_FALSE(r.try_push(a));
      EXPECT_FALSE(r.try_emplace(1));
      EXPECT_EQ(tracked::constructions(), built + 1) << "a failed push constructed an item";
      ASSERT_TRUE(r.try_pop(out));
      EXPECT_EQ(out.value(), 7);
      EXPECT_EQ(tracked::live(), base + 2 + 3) << "try_pop must destroy the slot's item";
    }
    EXPECT_EQ(tracked::live(), base) << "head at " << head_at;
    EXPECT_EQ(tracked::errors(), 0u) << "head at " << head_at;
    EXPECT_EQ(tracked::constructions(), tracked::destructions());
  }
}

TEST(MpmcRing, MoveOnlyItems) {
  mpmc_ring<std::unique_ptr<std::string>> r(2);
  r.push(std::make_unique<std::string>("a"));
  ASSERT_TRUE(r.try_push(std::make_unique<std::string>("b")));
  std::unique_ptr<std::string> out;
  r.pop(out);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(*out, "a");
  // "b" stays for the destructor (asan checks the leak).
}

// ---- concurrency ----

enum class style { try_ops, blocking, mixed };

struct run_result {
  std::uint64_t consumed = 0;
  std::uint64_t sum = 0;
  std::uint64_t order_errors = 0;  // a consumer saw a producer's items out of order
  std::uint64_t bad_tags = 0;
  bool gave_up = false;             // a try_* loop saw no progress for 60 s
  std::vector<std::uint32_t> seen;  // per item, how many times it was received
};

// P producers push n tagged items each; C consumers take them. With `mixed`, even producers
// and consumers use the blocking calls and odd ones the try_* calls.
run_result run_mpmc(int producers, int consumers, std::uint64_t n, std::size_t capacity,
                    style how) {
  mpmc_ring<std::uint64_t> r(capacity);
  const std::uint64_t total = n * static_cast<std::uint64_t>(producers);
  lanes_test::start_line start(producers + consumers);
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<bool> gave_up{false};

  // Blocking pops take a ticket first and wait for its item, so the tickets handed out must
  // not exceed the items: each blocking consumer pops a fixed share, and the try_* consumers
  // together pop exactly the rest (a shared budget), never more.
  std::vector<bool> blocking_consumer(static_cast<std::size_t>(consumers));
  int n_blocking = 0;
  for (int c = 0; c < consumers; ++c) {
    const bool b = how == style::blocking || (how == style::mixed && c % 2 == 0);
    blocking_consumer[static_cast<std::size_t>(c)] = b;
    n_blocking += b ? 1 : 0;
  }
  const bool all_blocking = n_blocking == consumers;
  const std::uint64_t share =
      n_blocking == 0 ? 0
                      : (all_blocking ? total / static_cast<std::uint64_t>(consumers)
                                      : total / (2 * static_cast<std::uint64_t>(consumers)));
  std::atomic<std::int64_t> try_budget{
      static_cast<std::int64_t>(total - share * static_cast<std::uint64_t>(n_blocking))};

  struct consumer_state {
    std::vector<std::uint64_t> got;
    std::vector<std::uint64_t> next_seq;
    std::uint64_t order_errors = 0;
  };
  std::vector<consumer_state> states(static_cast<std::size_t>(consumers));

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    const bool blocking = how == style::blocking || (how == style::mixed && p % 2 == 0);
    threads.emplace_back([&, p, blocking] {
      lanes_test::stall_guard guard(gave_up);
      start.wait();
      for (std::uint64_t s = 0; s < n; ++s) {
        const std::uint64_t tag = lanes_test::make_tag(static_cast<std::uint64_t>(p), s);
        if (blocking) {
          r.push(tag);
        } else {
          if (!retry(guard, [&] { return r.try_push(tag); })) return;
        }
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    const bool blocking = blocking_consumer[static_cast<std::size_t>(c)];
    // With all consumers blocking, the last one also takes the remainder of the division.
    const std::uint64_t mine =
        all_blocking && c == consumers - 1 ? total - share * static_cast<std::uint64_t>(c) : share;
    threads.emplace_back([&, c, blocking, mine] {
      consumer_state& st = states[static_cast<std::size_t>(c)];
      st.next_seq.assign(static_cast<std::size_t>(producers), 0);
      st.got.reserve(static_cast<std::size_t>(blocking ? mine : total / 2));
      auto take = [&](std::uint64_t tag) {
        st.got.push_back(tag);
        const std::uint64_t p = lanes_test::tag_producer(tag);
        if (p < st.next_seq.size()) {
          // Items of one producer reach one consumer in push order (later items have later
          // tickets), though other consumers take some of them in between.
          if (lanes_test::tag_seq(tag) < st.next_seq[p]) ++st.order_errors;
          st.next_seq[p] = lanes_test::tag_seq(tag) + 1;
        }
        consumed.fetch_add(1, std::memory_order_relaxed);
      };
      lanes_test::stall_guard guard(gave_up);
      start.wait();
      if (blocking) {
        for (std::uint64_t i = 0; i < mine; ++i) {
          std::uint64_t v = 0;
          r.pop(v);
          take(v);
        }
      } else {
        // With the blocking consumers' tickets counted in, every reserved pop has an item.
        while (try_budget.fetch_sub(1, std::memory_order_relaxed) > 0) {
          std::uint64_t v = 0;
          if (!retry(guard, [&] { return r.try_pop(v); })) return;
          take(v);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();

  run_result res;
  res.gave_up = gave_up.load();
  res.consumed = consumed.load();
  res.seen.assign(static_cast<std::size_t>(total), 0);
  for (const consumer_state& st : states) {
    res.order_errors += st.order_errors;
    for (std::uint64_t tag : st.got) {
      const std::uint64_t p = lanes_test::tag_producer(tag);
      const std::uint64_t s = lanes_test::tag_seq(tag);
      if (p >= static_cast<std::uint64_t>(producers) || s >= n) {
        ++res.bad_tags;
        continue;
      }
      ++res.seen[static_cast<std::size_t>(p * n + s)];
      res.sum += s;
    }
  }
  EXPECT_TRUE(r.was_empty());
  return res;
}

void expect_exactly_once(const run_result& res, int producers, std::uint64_t n) {
  const std::uint64_t total = n * static_cast<std::uint64_t>(producers);
  EXPECT_FALSE(res.gave_up) << "no progress for 60 s: items lost or a side stuck";
  EXPECT_EQ(res.consumed, total);
  EXPECT_EQ(res.bad_tags, 0u);
  EXPECT_EQ(res.order_errors, 0u);
  EXPECT_EQ(res.sum, static_cast<std::uint64_t>(producers) * (n * (n - 1) / 2));
  std::uint64_t missing = 0;
  std::uint64_t repeated = 0;
  for (std::uint32_t k : res.seen) {
    missing += k == 0 ? 1 : 0;
    repeated += k > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0u) << "items never received";
  EXPECT_EQ(repeated, 0u) << "items received more than once";
}

// run_mpmc with stress_iters(iters) items per producer, then expect_exactly_once.
void run_and_expect_exactly_once(int producers, int consumers, std::uint64_t iters,
                                 std::size_t capacity, style how) {
  const std::uint64_t n = lanes_test::stress_iters(iters);
  expect_exactly_once(run_mpmc(producers, consumers, n, capacity, how), producers, n);
}

TEST(MpmcRing, TwoProducersTwoConsumersTryOps) {
  run_and_expect_exactly_once(2, 2, 100'000, 64, style::try_ops);
}

TEST(MpmcRing, TwoProducersTwoConsumersBlocking) {
  run_and_expect_exactly_once(2, 2, 100'000, 64, style::blocking);
}

TEST(MpmcRing, MixedTryAndBlockingOnTheSmallestRing) {
  run_and_expect_exactly_once(2, 2, 20'000, 2, style::mixed);
}

TEST(MpmcRing, ThreeProducersOneBlockingConsumer) {
  run_and_expect_exactly_once(3, 1, 40'000, 16, style::mixed);
}

// Contention without back-pressure: producers race only with each other on the tail (and
// consumers only on the head), in tight loops, which is where a broken ticket hand-out shows.
TEST(MpmcRing, ProducersRaceOnTheTail) {
  const std::uint64_t n = lanes_test::stress_iters(50'000);
  std::size_t cap = 2;
  while (cap < 2 * n) cap *= 2;
  mpmc_ring<std::uint64_t> r(cap);
  lanes_test::start_line start(2);
  std::thread a([&] {
    start.wait();
    for (std::uint64_t s = 0; s < n; ++s) {
      if (!r.try_push(lanes_test::make_tag(0, s))) return;  // never full: a failure shows below
    }
  });
  std::thread b([&] {
    start.wait();
    for (std::uint64_t s = 0; s < n; ++s) {
      if (!r.try_push(lanes_test::make_tag(1, s))) return;
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(r.size_guess(), 2 * n);
  std::vector<std::uint64_t> next(2, 0);
  std::uint64_t bad = 0;
  std::uint64_t got = 0;
  std::uint64_t v = 0;
  while (r.try_pop(v)) {
    ++got;
    const std::uint64_t p = lanes_test::tag_producer(v);
    if (p > 1 || lanes_test::tag_seq(v) != next[p]) {
      ++bad;
      continue;
    }
    ++next[p];
  }
  EXPECT_EQ(got, 2 * n);
  EXPECT_EQ(bad, 0u) << "items lost, repeated or out of order";
  EXPECT_EQ(next[0], n);
  EXPECT_EQ(next[1], n);
}

TEST(MpmcRing, ConsumersRaceOnTheHead) {
  const std::uint64_t n = lanes_test::stress_iters(50'000);
  std::size_t cap = 2;
  while (cap < 3 * n) cap *= 2;
  mpmc_ring<std::uint64_t> r(cap);
  for (std::uint64_t s = 0; s < 3 * n; ++s) ASSERT_TRUE(r.try_push(s));
  // Two try_pop consumers race each other's CAS for 2n items; a third takes n tickets with
  // fetch_add. The budget keeps the tickets handed out equal to the items.
  lanes_test::start_line start(3);
  std::atomic<std::int64_t> try_budget{static_cast<std::int64_t>(2 * n)};
  std::atomic<std::uint64_t> failed_try_pops{0};
  std::vector<std::vector<std::uint64_t>> got(3);
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      got[c].reserve(2 * n);
      start.wait();
      std::uint64_t v = 0;
      while (try_budget.fetch_sub(1, std::memory_order_relaxed) > 0) {
        if (r.try_pop(v)) {
          got[c].push_back(v);
        } else {
          failed_try_pops.fetch_add(1);  // every item is there: try_pop must not fail
        }
      }
    });
  }
  threads.emplace_back([&] {
    got[2].reserve(n);
    start.wait();
    std::uint64_t v = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      r.pop(v);
      got[2].push_back(v);
    }
  });
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failed_try_pops.load(), 0u);
  EXPECT_TRUE(r.was_empty());
  std::vector<std::uint32_t> seen(3 * n, 0);
  std::uint64_t order_errors = 0;
  std::uint64_t total = 0;
  for (const std::vector<std::uint64_t>& g : got) {
    total += g.size();
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (g[i] < seen.size()) ++seen[g[i]];
      if (i > 0 && g[i] <= g[i - 1]) ++order_errors;
    }
  }
  EXPECT_EQ(total, 3 * n);
  EXPECT_EQ(order_errors, 0u) << "a consumer saw items out of push order";
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), static_cast<std::ptrdiff_t>(3 * n))
      << "items lost or received twice";
}

}  // namespace
