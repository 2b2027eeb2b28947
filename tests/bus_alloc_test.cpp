// tests/bus_alloc_test.cpp: publish and poll allocate nothing per message.
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

#include "bus_test_util.hpp"
#include "lanes/bus.hpp"

// ---- counting global allocator ----

namespace {
std::atomic<std::uint64_t> g_news{0};

void* take(std::size_t n) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n != 0 ? n : 1);
}

void* take_aligned(std::size_t n, std::align_val_t a) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  std::size_t al = static_cast<std::size_t>(a);
  if (al < alignof(void*)) al = alignof(void*);
  const std::size_t size = (n + al - 1) / al * al;  // aligned_alloc wants a multiple
  return std::aligned_alloc(al, size != 0 ? size : al);
}

// Not inlined into our operator delete, so that GCC (tsan build) does not see free() on a
// pointer from operator new at the call site (-Wmismatched-new-delete).
[[gnu::noinline]] void give_back(void* p) noexcept { std::free(p); }

void* checked(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return checked(take(n)); }
void* operator new[](std::size_t n) { return checked(take(n)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return take(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return take(n); }
void* operator new(std::size_t n, std::align_val_t a) { return checked(take_aligned(n, a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return checked(take_aligned(n, a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return take_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return take_aligned(n, a);
}
void operator delete(void* p) noexcept { give_back(p); }
void operator delete[](void* p) noexcept { give_back(p); }
void operator delete(void* p, std::size_t) noexcept { give_back(p); }
void operator delete[](void* p, std::size_t) noexcept { give_back(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete(void* p, std::align_val_t) noexcept { give_back(p); }
void operator delete[](void* p, std::align_val_t) noexcept { give_back(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { give_back(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { give_back(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { give_back(p); }

namespace {

using namespace std::chrono_literals;
using bus_test::log_topic;
using bus_test::quiet_bus;
using lanes::errc;
using lanes::offset_reset;

template <class T>
T& lv() noexcept;

static_assert(noexcept(lv<lanes::producer>().publish(std::nullopt, std::string_view())));
static_assert(noexcept(lv<lanes::producer>().try_publish(std::nullopt, std::string_view())));
static_assert(noexcept(lv<lanes::producer>().try_claim(std::nullopt, 1)));
static_assert(noexcept(lv<lanes::producer>().commit(lv<lanes::producer::claim>())));
static_assert(noexcept(lv<lanes::producer>().abort(lv<lanes::producer::claim>())));
static_assert(noexcept(lv<lanes::consumer>().poll()));
static_assert(noexcept(lv<lanes::consumer>().poll(lv<std::chrono::nanoseconds>())));

// Counts the operator new calls made while fn runs (on any thread).
template <class Fn>
std::uint64_t news_during(Fn&& fn) {
  const std::uint64_t before = g_news.load();
  fn();
  return g_news.load() - before;
}

std::atomic<std::vector<int>*> g_escape{nullptr};

TEST(BusAlloc, TheCounterCounts) {
  const std::uint64_t n = news_during([] {
    g_escape.store(new std::vector<int>(100));  // escapes, so it cannot be optimised out
    delete g_escape.exchange(nullptr);
  });
  EXPECT_EQ(n, 2u);  // the vector object and its buffer
}

TEST(BusAlloc, GroupPublishAndPollAllocateNothing) {
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(4, 1 << 16)), errc::ok);
  lanes::producer p = b.make_producer("t");
  lanes::consumer c = b.make_consumer(bus_test::cc().group("g").reset(offset_reset::earliest));
  ASSERT_EQ(c.subscribe({"t"}), errc::ok);
  ASSERT_EQ(c.poll().status, errc::ok);  // warm-up: takes the partitions
  ASSERT_EQ(c.assignment().size(), 4u);

  const std::string key = "a-key";
  const std::string value(64, 'v');
  const lanes::header hs[] = {{"trace", "0123456789"}};
  const int cycles = 10000;
  std::uint64_t received = 0;
  std::uint64_t failures = 0;
  const std::uint64_t n = news_during([&] {
    for (int i = 0; i < cycles; ++i) {
      lanes::publish_result r;
      switch (i % 4) {
        case 0: r = p.publish(key, value); break;
        case 1: r = p.publish(std::nullopt, value, bus_test::opts().headers(hs)); break;
        case 2: r = p.try_publish(std::nullopt, value, bus_test::opts().partition(3)); break;
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
  lanes::bus b(quiet_bus());
  ASSERT_EQ(b.create_topic("t", log_topic(2, 1 << 14)), errc::ok);
  lanes::producer p = b.make_producer("t");
  lanes::consumer c = b.make_consumer(bus_test::cc().group("g").reset(offset_reset::earliest));
  const std::vector<lanes::topic_partition> both{{"t", 0}, {"t", 1}};
  ASSERT_EQ(c.assign(both), errc::ok);
  ASSERT_EQ(c.poll().status, errc::ok);
  ASSERT_EQ(c.commit(), errc::ok);  // warm-up

  std::uint64_t received = 0;
  const std::uint64_t n = news_during([&] {
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
