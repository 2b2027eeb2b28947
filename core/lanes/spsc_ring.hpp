// lanes/spsc_ring.hpp: bounded single-producer/single-consumer ring of T.
//
// Thread contract: exactly one producer thread calls the producer methods and exactly one
// consumer thread calls the consumer methods; observers may be called from anywhere and may
// be stale. Nothing here blocks, allocates or throws after construction.
//
// Memory model: head_ and tail_ count items ever popped/pushed (64-bit, never wrap in
// practice). The producer writes a slot, then release-stores tail_ (P1); the consumer
// acquire-loads tail_ (C1) before reading the slot. The consumer moves out of a slot, then
// release-stores head_ (C2); the producer acquire-loads head_ (P2) before reusing the slot.
// Each side caches the other's index and reloads it only when the cache says full/empty,
// so in steady state a push or pop touches no cache line the other side is writing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include "lanes/detail_aligned.hpp"
#include "lanes/detail_ring.hpp"
#include "lanes/error.hpp"
#include "lanes/platform.hpp"

namespace lanes {

template <class T>
class spsc_ring {
  static_assert(detail::ring_element<T>,
                "T must be nothrow move-constructible and destructible, aligned to a cache line "
                "at most");

 public:
  using value_type = T;

  // Cold path. Throws std::system_error with errc::capacity_not_power_of_two or
  // errc::capacity_too_small (capacity < 2).
  explicit spsc_ring(std::size_t capacity)
      : mask_(checked_capacity(capacity) - 1), storage_(capacity * sizeof(T)) {
    slots_ = reinterpret_cast<T*>(storage_.data());
  }

  ~spsc_ring() {
    // Destroy whatever is still queued. Called when no other thread uses the ring.
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    for (std::uint64_t h = cons_.head.load(std::memory_order_relaxed); h != t; ++h) {
      slots_[h & mask_].~T();
    }
  }

  spsc_ring(const spsc_ring&) = delete;
  spsc_ring& operator=(const spsc_ring&) = delete;

  // ---- producer thread only ----

  // Constructs an item in place. Returns false (and constructs nothing) when full.
  template <class... Args>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(
      std::is_nothrow_constructible_v<T, Args&&...>) {
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    if (!has_room(t, 1)) return false;
    ::new (static_cast<void*>(&slots_[t & mask_])) T(std::forward<Args>(args)...);
    prod_.tail.store(t + 1, std::memory_order_release);  // (P1) pairs with (C1)
    return true;
  }

  [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return try_emplace(v);
  }
  [[nodiscard]] bool try_push(T&& v) noexcept { return try_emplace(std::move(v)); }

  // Copies up to n items from `items`; publishes them with one release store.
  // Returns how many were pushed (0 when full).
  [[nodiscard]] std::size_t try_push_n(const T* items, std::size_t n) noexcept(
      std::is_nothrow_copy_constructible_v<T>) {
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    const std::size_t k = room(t, n);
    for (std::size_t i = 0; i < k; ++i) {
      ::new (static_cast<void*>(&slots_[(t + i) & mask_])) T(items[i]);
    }
    if (k != 0) prod_.tail.store(t + k, std::memory_order_release);  // (P1)
    return k;
  }

  // In-place write of up to n items (trivially copyable T only): returns raw slots that are
  // contiguous in memory (so possibly fewer than n near the end of the ring; empty when
  // full). Fill a prefix of them, then call commit(count). Until commit nothing is visible.
  [[nodiscard]] std::span<T> try_claim(std::size_t n = 1) noexcept
    requires std::is_trivially_copyable_v<T>
  {
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    const std::size_t to_end = capacity() - (t & mask_);
    const std::size_t k = room(t, n < to_end ? n : to_end);
    return {&slots_[t & mask_], k};
  }

  // Publishes `count` items written into the span of the last try_claim.
  void commit(std::size_t count = 1) noexcept
    requires std::is_trivially_copyable_v<T>
  {
    const std::uint64_t t = prod_.tail.load(std::memory_order_relaxed);
    prod_.tail.store(t + count, std::memory_order_release);  // (P1)
  }

  // ---- consumer thread only ----

  // Moves the oldest item into `out`. Returns false when empty.
  [[nodiscard]] bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    const std::uint64_t h = cons_.head.load(std::memory_order_relaxed);
    if (!has_items(h, 1)) return false;
    T& slot = slots_[h & mask_];
    out = std::move(slot);
    slot.~T();
    cons_.head.store(h + 1, std::memory_order_release);  // (C2) pairs with (P2)
    return true;
  }

  // Moves up to n items into `out`; releases their slots with one store. Returns the count.
  [[nodiscard]] std::size_t try_pop_n(T* out, std::size_t n) noexcept(
      std::is_nothrow_move_assignable_v<T>) {
    const std::uint64_t h = cons_.head.load(std::memory_order_relaxed);
    const std::size_t k = available(h, n);
    for (std::size_t i = 0; i < k; ++i) {
      T& slot = slots_[(h + i) & mask_];
      out[i] = std::move(slot);
      slot.~T();
    }
    if (k != 0) cons_.head.store(h + k, std::memory_order_release);  // (C2)
    return k;
  }

  // The oldest item, or nullptr when empty. Valid until pop().
  [[nodiscard]] T* front() noexcept {
    const std::uint64_t h = cons_.head.load(std::memory_order_relaxed);
    return has_items(h, 1) ? &slots_[h & mask_] : nullptr;
  }

  // Destroys the item returned by front(). Precondition: front() != nullptr.
  void pop() noexcept {
    const std::uint64_t h = cons_.head.load(std::memory_order_relaxed);
    slots_[h & mask_].~T();
    cons_.head.store(h + 1, std::memory_order_release);  // (C2)
  }

  // ---- observers (any thread; the answer may be stale by the time it returns) ----
  std::size_t capacity() const noexcept { return mask_ + 1; }
  std::size_t size_guess() const noexcept {
    const std::uint64_t h = cons_.head.load(std::memory_order_acquire);
    const std::uint64_t t = prod_.tail.load(std::memory_order_acquire);
    return t >= h ? static_cast<std::size_t>(t - h) : 0;
  }
  bool was_empty() const noexcept { return size_guess() == 0; }

 private:
  static std::size_t checked_capacity(std::size_t c) {
    return detail::checked_ring_capacity(c, 2, std::numeric_limits<std::size_t>::max(),
                                         "spsc_ring");
  }

  // Producer side: free slots for up to `want` items at tail t, reloading head only if the
  // cached copy says there is not enough room.
  std::size_t room(std::uint64_t t, std::size_t want) noexcept {
    std::size_t free = capacity() - static_cast<std::size_t>(t - prod_.head_cache);
    if (free < want) {
      prod_.head_cache = cons_.head.load(std::memory_order_acquire);  // (P2) pairs with (C2)
      free = capacity() - static_cast<std::size_t>(t - prod_.head_cache);
    }
    return free < want ? free : want;
  }
  bool has_room(std::uint64_t t, std::size_t want) noexcept { return room(t, want) == want; }

  // Consumer side: items available at head h, reloading tail only when the cache runs dry.
  std::size_t available(std::uint64_t h, std::size_t want) noexcept {
    std::size_t n = static_cast<std::size_t>(cons_.tail_cache - h);
    if (n < want) {
      cons_.tail_cache = prod_.tail.load(std::memory_order_acquire);  // (C1) pairs with (P1)
      n = static_cast<std::size_t>(cons_.tail_cache - h);
    }
    return n < want ? n : want;
  }
  bool has_items(std::uint64_t h, std::size_t want) noexcept { return available(h, want) == want; }

  // Each side's index shares a line only with that side's private cache of the other index.
  struct alignas(cache_line_size) producer_line {
    std::atomic<std::uint64_t> tail{0};  // written by producer, read by consumer
    std::uint64_t head_cache = 0;        // producer's last view of head
  };
  struct alignas(cache_line_size) consumer_line {
    std::atomic<std::uint64_t> head{0};  // written by consumer, read by producer
    std::uint64_t tail_cache = 0;        // consumer's last view of tail
  };

  // Read-only after construction: shared by both sides without traffic.
  alignas(cache_line_size) const std::uint64_t mask_;
  T* slots_ = nullptr;
  detail::aligned_buffer storage_;
  producer_line prod_;
  consumer_line cons_;

  // Layout proof: each written index owns exactly one cache line.
  static_assert(sizeof(producer_line) == cache_line_size &&
                alignof(producer_line) == cache_line_size);
  static_assert(sizeof(consumer_line) == cache_line_size &&
                alignof(consumer_line) == cache_line_size);
};

}  // namespace lanes
