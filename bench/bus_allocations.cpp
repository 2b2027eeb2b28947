// bench/bus_allocations.cpp: bus_bench's count of heap allocations: every operator new in
// this binary counts itself, so a run can report allocations per message.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "bus_bench.hpp"

// Relaxed increments: the count is read only before and after a run, across a thread join
// or the run's own synchronisation.
namespace lanes_bench {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace lanes_bench

namespace {
void* counted_alloc(std::size_t n) {
  lanes_bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* counted_alloc(std::size_t n, std::align_val_t a) {
  lanes_bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto al = static_cast<std::size_t>(a);
  const std::size_t rounded = (std::max<std::size_t>(n, 1) + al - 1) / al * al;
  if (void* p = std::aligned_alloc(al, rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace lanes_bench {

std::uint64_t allocations() noexcept { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace lanes_bench
