// tools/support/lanes_support/counting_new.hpp: a global operator new and delete that count
// allocations, for the tests that check a hot path allocates nothing and for the benchmarks
// that report allocations per message.
//
// Include it in exactly ONE translation unit of an executable: it replaces every global
// operator new and delete (all twelve of each) for the whole program. Any thread's allocation
// counts. Sizes of 0 allocate 1 byte; an aligned request uses aligned_alloc (its size rounded
// up to a multiple of the alignment, which it requires); a failure throws std::bad_alloc, or
// returns nullptr from the nothrow forms.
//
//   lanes_support::allocations()          operator new calls in this process so far.
//   lanes_support::allocations_during(f)  operator new calls (any thread) while f() ran.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace lanes_support {

namespace counting_new_detail {

inline std::atomic<std::uint64_t> count{0};

inline void* counted_malloc(std::size_t n) noexcept {
  count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n != 0 ? n : 1);
}

inline void* counted_aligned(std::size_t n, std::align_val_t al) noexcept {
  count.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  const std::size_t rounded = ((n != 0 ? n : 1) + a - 1) / a * a;  // aligned_alloc's rule
  return std::aligned_alloc(a, rounded);
}

// Out of line so that the compiler, inlining our operator delete into a caller, does not see
// free() applied to a pointer from operator new (-Wmismatched-new-delete).
[[gnu::noinline]] inline void counted_free(void* p) noexcept { std::free(p); }

inline void* or_throw(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace counting_new_detail

// operator new calls made so far, by any thread.
inline std::uint64_t allocations() noexcept { return counting_new_detail::count.load(); }

// operator new calls made (by any thread) while fn ran.
template <class Fn>
std::uint64_t allocations_during(Fn&& fn) {
  const std::uint64_t before = allocations();
  fn();
  return allocations() - before;
}

}  // namespace lanes_support

// The replacements themselves (not inline: [replacement.functions] forbids it).
void* operator new(std::size_t n) {
  return lanes_support::counting_new_detail::or_throw(
      lanes_support::counting_new_detail::counted_malloc(n));
}
void* operator new[](std::size_t n) {
  return lanes_support::counting_new_detail::or_throw(
      lanes_support::counting_new_detail::counted_malloc(n));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return lanes_support::counting_new_detail::counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return lanes_support::counting_new_detail::counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return lanes_support::counting_new_detail::or_throw(
      lanes_support::counting_new_detail::counted_aligned(n, al));
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return lanes_support::counting_new_detail::or_throw(
      lanes_support::counting_new_detail::counted_aligned(n, al));
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return lanes_support::counting_new_detail::counted_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return lanes_support::counting_new_detail::counted_aligned(n, al);
}

void operator delete(void* p) noexcept { lanes_support::counting_new_detail::counted_free(p); }
void operator delete[](void* p) noexcept { lanes_support::counting_new_detail::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  lanes_support::counting_new_detail::counted_free(p);
}
