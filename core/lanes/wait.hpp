// lanes/wait.hpp: how a thread waits for a condition another thread will make true.
//
// Three strategies with one shape:
//   bool wait_until(pred, deadline)  waits until pred() is true (returns true) or the
//                                    deadline passes (returns false); pred is re-checked
//                                    after every wake-up.
//   void notify_all()                called by the thread that made the condition true.
//
//   busy_spin        lowest latency; burns a core; never sleeps. notify_all does nothing.
//   spin_then_yield  spins a while, then yields the core; notify_all does nothing.
//   park             spins, yields, then sleeps in the kernel (futex). The notifier pays
//                    only when a waiter has said it is parked: its fast path is a compiler
//                    barrier and one relaxed load (see park::notify_all). Use it whenever
//                    threads may outnumber cores.
//
// Thread contract: any number of waiters and notifiers; strategies hold no per-waiter
// state. Nothing here allocates or throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "lanes/platform.hpp"

namespace lanes {

using wait_clock = std::chrono::steady_clock;
inline constexpr wait_clock::time_point no_deadline = wait_clock::time_point::max();

struct busy_spin {
  template <class Pred>
  bool wait_until(Pred&& ready, wait_clock::time_point deadline = no_deadline) noexcept {
    for (unsigned i = 0;; ++i) {
      if (ready()) return true;
      // Reading the clock costs ~20 ns; check it every 256 spins only.
      if ((i & 255u) == 255u && deadline != no_deadline && wait_clock::now() >= deadline) {
        return ready();
      }
      cpu_relax();
    }
  }
  void notify_all() noexcept {}
};

struct spin_then_yield {
  unsigned spins = 4096;  // pause-spins before the first yield

  template <class Pred>
  bool wait_until(Pred&& ready, wait_clock::time_point deadline = no_deadline) noexcept {
    for (unsigned i = 0;; ++i) {
      if (ready()) return true;
      if (i < spins) {
        cpu_relax();
        if ((i & 255u) != 255u) continue;
      } else {
        std::this_thread::yield();
      }
      if (deadline != no_deadline && wait_clock::now() >= deadline) return ready();
    }
  }
  void notify_all() noexcept {}
};

namespace detail {
// Linux futex and membarrier wrappers (core/wait.cpp).
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                wait_clock::time_point deadline) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept;
// True when MEMBARRIER_CMD_PRIVATE_EXPEDITED is registered for this process; then a
// waiter's heavy barrier orders the notifier's plain stores and loads (asymmetric fence).
// Set once during static initialisation (core/wait.cpp), before any thread can park; read
// without synchronisation afterwards. While false, both sides use full fences.
extern bool asymmetric_fence;
inline bool asymmetric_fence_available() noexcept { return asymmetric_fence; }
void heavy_barrier() noexcept;
[[gnu::always_inline]] inline void light_barrier() noexcept {
  if (asymmetric_fence) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}
}  // namespace detail

// One parking spot: the condition's waiters sleep on it, the condition's writer notifies it.
// Lives next to the condition it guards (one per ring side or partition), on its own line.
class alignas(cache_line_size) park {
 public:
  unsigned spins = 256;  // pause-spins before yielding
  unsigned yields = 16;  // yields before sleeping

  template <class Pred>
  bool wait_until(Pred&& ready, wait_clock::time_point deadline = no_deadline) noexcept {
    for (unsigned i = 0; i < spins + yields; ++i) {
      if (ready()) return true;
      if (i < spins) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    for (;;) {
      // Dekker handshake with notify_all: we publish "parked" then look at the condition;
      // the notifier publishes the condition then looks at "parked". The heavy barrier here
      // and the light barrier there make at least one of them see the other's store.
      const std::uint32_t seen = epoch_.load(std::memory_order_acquire);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      detail::heavy_barrier();
      if (ready()) {
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return true;
      }
      if (wait_clock::now() >= deadline) {
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return ready();
      }
      detail::futex_wait(&epoch_, seen, deadline);  // returns at once if epoch_ moved on
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Call after making the condition true (after the release store that publishes it).
  [[gnu::always_inline]] void notify_all() noexcept {
    detail::light_barrier();
    if (sleepers_.load(std::memory_order_relaxed) == 0) [[likely]]
      return;  // fast path: nobody parked
    wake_sleepers();
  }

  [[gnu::noinline]] void wake_sleepers() noexcept {
    epoch_.fetch_add(1, std::memory_order_release);
    detail::futex_wake_all(&epoch_);
  }

  // May be stale; for stats and tests.
  std::uint32_t sleepers_guess() const noexcept {
    return sleepers_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace lanes
