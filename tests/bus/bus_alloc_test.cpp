// tests/bus/bus_alloc_test.cpp: publish and poll allocate nothing per message.
// This executable replaces every global operator new with one that counts, warms up a topic,
// a producer and a consumer (first poll done), then runs many publish + poll cycles and
// checks that the count did not move. Also pins noexcept on the hot-path calls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/bus.hpp"
#include "lanes_support/counting_new.hpp"
#include "support/bus.hpp"
#include "support/checks.hpp"

namespace {

using lanes_support::allocations_during;
using namespace lanes_test;

static_assert(noexcept(lv<lanes::producer>().publish(std::nullopt, std::string_view())));
static_assert(noexcept(lv<lanes::producer>().try_publish(std::nullopt, std::string_view())));
static_assert(noexcept(lv<lanes::producer>().try_claim(std::nullopt, 1)));
static_assert(noexcept(lv<lanes::producer>().commit(lv<lanes::producer::claim>())));
static_assert(noexcept(lv<lanes::producer>().abort(lv<lanes::producer::claim>())));
static_assert(noexcept(lv<lanes::consumer>().poll()));
static_assert(noexcept(lv<lanes::consumer>().poll(lv<std::chrono::nanoseconds>())));

std::atomic<std::vector<int>*> g_escape{nullptr};

TEST(BusAlloc, TheCounterCounts) {
  const std::uint64_t n = allocations_during([] {
    g_escape.store(new std::vector<int>(100));  // escapes, so it cannot be optimised out
    delete g_escape.exchange(nullptr);
  });
  EXPECT_EQ(n, 2u);  // the vector object and its buffer
}

TEST(BusAlloc, GroupPublishAndPollAllocateNothing) {
  lanes_test::bus_with_topic bt("t", log_topic(4, 1 << 16));
  auto& [b, p] = bt;
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  ASSERT_EQ(c.poll().status, errc::ok);  // warm-up: takes the partitions
  ASSERT_EQ(c.assignment().size(), 4u);

  const std::string key = "a-key";
  const std::string value(64, 'v');
  const lanes::header hs[] = {{"trace", "0123456789"}};
  const int cycles = 10000;
  std::uint64_t received = 0;
  std::uint64_t failures = 0;
  const std::uint64_t n = allocations_during([&] {
    for (int i = 0; i < cycles; ++i) {
      lanes::publish_result r;
      switch (i % 4) {
        case 0: r = p.publish(key, value); break;
        case 1: r = p.publish(std::nullopt, value, lanes_test::opts().headers(hs)); break;
        case 2: r = p.try_publish(std::nullopt, value, lanes_test::opts().partition(3)); break;
        default: {
          lanes::producer::claim cl = p.try_claim(key, value.size());
          if (!cl) {
            ++failures;
            break;
          }
          std::memcpy(cl.value.data(), value.data(), value.size());
          r = p.commit(cl);
        }
      }
      if (!r) ++failures;
      const lanes::poll_result got = c.poll();
      if (got.status != errc::ok) ++failures;
      received += got.records.size();
    }
  });
  EXPECT_EQ(n, 0u) << "operator new calls in " << cycles << " publish + poll cycles";
  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(received, static_cast<std::uint64_t>(cycles));
}

TEST(BusAlloc, GrouplessPollWithTimeoutAndCommitAllocateNothing) {
  lanes_test::bus_with_topic bt("t", log_topic(2, 1 << 14));
  auto& [b, p] = bt;
  lanes::consumer c = b.make_consumer(lanes_test::cc().group("g").reset(offset_reset::earliest));
  const std::vector<lanes::topic_partition> both{{"t", 0}, {"t", 1}};
  ASSERT_EQ(c.assign(both), errc::ok);
  ASSERT_EQ(c.poll().status, errc::ok);
  ASSERT_EQ(c.commit(), errc::ok);  // warm-up

  std::uint64_t received = 0;
  const std::uint64_t n = allocations_during([&] {
    for (int i = 0; i < 10000; ++i) {
      (void)p.publish(std::nullopt, "small");
      received += c.poll(1ms).records.size();
    }
    for (int i = 0; i < 20; ++i) received += c.poll(std::chrono::microseconds(50)).records.size();
    (void)c.commit();
  });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(received, 10000u);
}

}  // namespace
