// tests/support/concurrency.hpp: threads in tests, shared by every test folder.
//
//   stress_iters(n)    iteration count for concurrency tests: n by default (sized so that
//                      a whole tsan run stays short), scaled by the environment:
//                      LANES_STRESS_ITERS=<count> replaces it, LANES_STRESS=<k> multiplies it.
//   start_line         a start barrier so that all threads of a test begin together.
//   tracked            a lifetime-counting value type that catches double construction,
//                      double destruction and use of destroyed objects.
//   item_tag           (producer id, sequence) packed into one 64-bit item.
//   stall_guard        makes a stress loop give up (and the test fail) instead of hanging.
//   wait_until(ok, d)  whether ok() became true within d: for what another thread (the bus's
//                      housekeeping, a bridge, a broker) finishes after a test can see it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace lanes_test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif
#else
inline constexpr bool under_tsan = false;
#endif

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return (end != nullptr && *end == '\0' && n != 0) ? n : fallback;
}

// Iterations for a stress loop whose default is `n`; never fewer than 16 (some tests keep a
// few items back for the destructor).
inline std::uint64_t stress_iters(std::uint64_t n) {
  const std::uint64_t fixed = env_u64("LANES_STRESS_ITERS", 0);
  const std::uint64_t k = fixed != 0 ? fixed : n * env_u64("LANES_STRESS", 1);
  return k < 16 ? 16 : k;
}

// All threads call wait(); none proceeds until `count` have arrived.
class start_line {
 public:
  explicit start_line(std::ptrdiff_t count) : latch_(count) {}
  void wait() { latch_.arrive_and_wait(); }

 private:
  std::latch latch_;
};

// Producer id in the top 16 bits, sequence number (from 0) in the low 48.
inline std::uint64_t make_tag(std::uint64_t producer, std::uint64_t seq) {
  return (producer << 48) | seq;
}
inline std::uint64_t tag_producer(std::uint64_t tag) { return tag >> 48; }
inline std::uint64_t tag_seq(std::uint64_t tag) { return tag & ((std::uint64_t{1} << 48) - 1); }

// A value type that keeps a registry of its live objects. Every constructor checks that its
// storage does not already hold a live object (double construction), the destructor checks
// that it does (double destruction), and assignments check both sides are alive.
// The registry is a mutex-protected set: fine for tests, too slow for stress loops.
class tracked {
 public:
  explicit tracked(int v = 0) : value_(v) { enter(); }
  tracked(const tracked& o) : value_(o.value_) {
    check_alive(&o);
    enter();
  }
  tracked(tracked&& o) noexcept : value_(o.value_) {
    check_alive(&o);
    o.value_ = -1;
    enter();
  }
  tracked& operator=(const tracked& o) {
    check_alive(this);
    check_alive(&o);
    value_ = o.value_;
    return *this;
  }
  tracked& operator=(tracked&& o) noexcept {
    check_alive(this);
    check_alive(&o);
    value_ = o.value_;
    o.value_ = -1;
    return *this;
  }
  ~tracked() { leave(); }

  int value() const { return value_; }

  // Objects alive now, and how many lifetime errors were seen since the last reset().
  static std::size_t live() {
    std::lock_guard lock(state().mutex);
    return state().objects.size();
  }
  static std::size_t errors() { return state().errors.load(); }
  static std::size_t constructions() { return state().constructions.load(); }
  static std::size_t destructions() { return state().destructions.load(); }
  static void reset_counters() {
    state().errors = 0;
    state().constructions = 0;
    state().destructions = 0;
  }

 private:
  struct registry {
    std::mutex mutex;
    std::set<const void*> objects;
    std::atomic<std::size_t> errors{0};
    std::atomic<std::size_t> constructions{0};
    std::atomic<std::size_t> destructions{0};
  };
  static registry& state() {
    static registry r;
    return r;
  }
  void enter() noexcept {
    registry& r = state();
    r.constructions.fetch_add(1);
    std::lock_guard lock(r.mutex);
    if (!r.objects.insert(this).second) r.errors.fetch_add(1);  // constructed twice
  }
  void leave() noexcept {
    registry& r = state();
    r.destructions.fetch_add(1);
    std::lock_guard lock(r.mutex);
    if (r.objects.erase(this) != 1) r.errors.fetch_add(1);  // destroyed twice or never built
  }
  static void check_alive(const tracked* p) noexcept {
    registry& r = state();
    std::lock_guard lock(r.mutex);
    if (r.objects.count(p) != 1) r.errors.fetch_add(1);  // used after destruction
  }

  int value_;
};

// Calls yield; for loops that spin on try_* on a machine with fewer cores than threads.
inline void backoff() { std::this_thread::yield(); }

// Turns "waits forever for an item that was lost" into a prompt test failure. Each thread of
// a stress test owns one, sharing `gave_up`: call progress() after every attempt that made
// progress and give_up() after every one that did not; give_up() turns true once this
// thread made no progress for `limit`, or another thread gave up (so nobody waits for it).
class stall_guard {
 public:
  explicit stall_guard(std::atomic<bool>& gave_up,
                       std::chrono::seconds limit = std::chrono::seconds(60))
      : gave_up_(gave_up), limit_(limit) {}
  void progress() noexcept { idle_ = 0; }
  bool give_up() {
    if (gave_up_.load(std::memory_order_relaxed)) return true;
    if (idle_++ == 0) {
      since_ = std::chrono::steady_clock::now();
      return false;
    }
    if ((idle_ & 255) != 0 || std::chrono::steady_clock::now() - since_ < limit_) return false;
    gave_up_.store(true, std::memory_order_relaxed);
    return true;
  }

 private:
  std::atomic<bool>& gave_up_;
  std::chrono::seconds limit_;
  std::uint64_t idle_ = 0;
  std::chrono::steady_clock::time_point since_{};
};

template <class Predicate>
bool wait_until(Predicate ok, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ok()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace lanes_test
