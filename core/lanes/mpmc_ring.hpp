// lanes/mpmc_ring.hpp: bounded multi-producer/multi-consumer ring of T.
//
// Design: per-slot sequence numbers (D. Vyukov's bounded MPMC queue). Slot i starts with
// seq = i. A producer holding ticket t may write slot t & mask once seq == t, then publishes
// with seq = t + 1. A consumer holding ticket t may read once seq == t + 1, then frees the
// slot for the next lap with seq = t + capacity. Tickets come from two counters, tail_ and
// head_, each on its own cache line:
//   - try_push/try_pop take a ticket with a CAS only after seeing the slot ready, so they
//     never block and never take a ticket they cannot use;
//   - push/pop take a ticket with one fetch_add and then wait on their slot, which avoids
//     CAS retries under contention (the atomic_queue approach).
// Both kinds may be mixed freely on the same ring.
//
// Memory model: (P1) producer's release store of seq pairs with (C0) consumer's acquire load
// of seq; (C1) consumer's release store of seq pairs with (P0) producer's acquire load.
//
// Thread contract: any number of threads may call any method. try_* never block; push/pop
// spin (with a pause hint, yielding after a while) until their slot is ready. Nothing
// allocates or throws after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "lanes/detail_aligned.hpp"
#include "lanes/detail_ring.hpp"
#include "lanes/error.hpp"
#include "lanes/platform.hpp"

namespace lanes {

template <class T>
class mpmc_ring {
  static_assert(detail::ring_element<T>,
                "T must be nothrow move-constructible and destructible, aligned to a cache line "
                "at most");

  struct slot {
    std::atomic<std::uint64_t> seq;
    alignas(T) unsigned char storage[sizeof(T)];
    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

 public:
  using value_type = T;

  // Cold path. Throws std::system_error with errc::capacity_not_power_of_two or
  // errc::capacity_too_small (capacity < 2).
  explicit mpmc_ring(std::size_t capacity)
      : mask_(checked_capacity(capacity) - 1), storage_(capacity * sizeof(slot)) {
    slots_ = reinterpret_cast<slot*>(storage_.data());
    for (std::size_t i = 0; i < capacity; ++i) {
      ::new (static_cast<void*>(&slots_[i])) slot;
      slots_[i].seq.store(i, std::memory_order_relaxed);
    }
  }

  ~mpmc_ring() {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t h = head_.load(std::memory_order_relaxed); h != t; ++h) {
      slots_[h & mask_].item()->~T();
    }
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i].~slot();
  }

  mpmc_ring(const mpmc_ring&) = delete;
  mpmc_ring& operator=(const mpmc_ring&) = delete;

  // Constructs an item in place; returns false when the ring is full.
  template <class... Args>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(
      std::is_nothrow_constructible_v<T, Args&&...>) {
    std::uint64_t t = tail_.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[t & mask_];
      const std::uint64_t seq = s.seq.load(std::memory_order_acquire);  // (P0) pairs with (C1)
      const auto diff = static_cast<std::int64_t>(seq - t);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(t, t + 1, std::memory_order_relaxed)) {
          ::new (static_cast<void*>(s.storage)) T(std::forward<Args>(args)...);
          s.seq.store(t + 1, std::memory_order_release);  // (P1) pairs with (C0)
          return true;
        }
      } else if (diff < 0) {
        return false;  // slot still holds last lap's item: full
      } else {
        t = tail_.load(std::memory_order_relaxed);
      }
    }
  }
  [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return try_emplace(v);
  }
  [[nodiscard]] bool try_push(T&& v) noexcept { return try_emplace(std::move(v)); }

  // Moves the oldest available item into `out`; returns false when the ring is empty.
  [[nodiscard]] bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[h & mask_];
      const std::uint64_t seq = s.seq.load(std::memory_order_acquire);  // (C0) pairs with (P1)
      const auto diff = static_cast<std::int64_t>(seq - (h + 1));
      if (diff == 0) {
        if (head_.compare_exchange_weak(h, h + 1, std::memory_order_relaxed)) {
          T* item = s.item();
          out = std::move(*item);
          item->~T();
          s.seq.store(h + capacity(), std::memory_order_release);  // (C1) pairs with (P0)
          return true;
        }
      } else if (diff < 0) {
        return false;  // slot not yet written for this lap: empty
      } else {
        h = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Takes a ticket and waits (spin, then yield) until its slot is free. Never fails.
  template <class... Args>
  void emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args&&...>) {
    const std::uint64_t t = tail_.fetch_add(1, std::memory_order_relaxed);
    slot& s = slots_[t & mask_];
    wait_for(s.seq, t);  // (P0)
    ::new (static_cast<void*>(s.storage)) T(std::forward<Args>(args)...);
    s.seq.store(t + 1, std::memory_order_release);  // (P1)
  }
  void push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) { emplace(v); }
  void push(T&& v) noexcept { emplace(std::move(v)); }

  // Takes a ticket and waits (spin, then yield) until its item is there. Never fails; use
  // try_pop when producers may stop.
  void pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    const std::uint64_t h = head_.fetch_add(1, std::memory_order_relaxed);
    slot& s = slots_[h & mask_];
    wait_for(s.seq, h + 1);  // (C0)
    T* item = s.item();
    out = std::move(*item);
    item->~T();
    s.seq.store(h + capacity(), std::memory_order_release);  // (C1)
  }

  // ---- observers (any thread; may be stale) ----
  std::size_t capacity() const noexcept { return mask_ + 1; }
  std::size_t size_guess() const noexcept {
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }
  bool was_empty() const noexcept { return size_guess() == 0; }

 private:
  static std::size_t checked_capacity(std::size_t c) {
    return detail::checked_ring_capacity(c, 2, std::numeric_limits<std::size_t>::max(),
                                         "mpmc_ring");
  }

  static void wait_for(const std::atomic<std::uint64_t>& seq, std::uint64_t want) noexcept {
    for (unsigned spins = 0; seq.load(std::memory_order_acquire) != want; ++spins) {
      if (spins < 1024) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // the holder of the previous lap may be descheduled
      }
    }
  }

  alignas(cache_line_size) std::atomic<std::uint64_t> tail_{0};
  alignas(cache_line_size) std::atomic<std::uint64_t> head_{0};
  alignas(cache_line_size) const std::uint64_t mask_;
  slot* slots_ = nullptr;
  detail::aligned_buffer storage_;
};

}  // namespace lanes
