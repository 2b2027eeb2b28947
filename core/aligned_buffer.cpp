// core/aligned_buffer.cpp: ring storage from the heap or a mapping of its own (see
// lanes/detail_aligned.hpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>

#include "lanes/detail_aligned.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels answer EINVAL
#endif

namespace lanes::detail {
namespace {

std::size_t page_size() noexcept {
  static const auto p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

}  // namespace

aligned_buffer::aligned_buffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes < map_from) {
    raw_ = static_cast<std::byte*>(
        ::operator new (bytes + 2 * cache_line_size, std::align_val_t{cache_line_size}));
    data_ = raw_ + cache_line_size;
    return;
  }
  const bool huge = huge_page_hint();
  const std::size_t align = huge ? huge_page : page_size();
  const std::size_t len = align_up(bytes, align);
  // Map one alignment unit more than needed, keep an aligned stretch, unmap the rest.
  const std::size_t over = huge ? len + huge_page : len;
  void* m = ::mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  auto* first = static_cast<std::byte*>(m);
  auto* start = reinterpret_cast<std::byte*>(
      align_up(reinterpret_cast<std::uintptr_t>(first), static_cast<std::uint64_t>(align)));
  if (start != first) (void)::munmap(first, static_cast<std::size_t>(start - first));
  std::byte* const end = start + len;
  std::byte* const mapped_end = first + over;
  if (end != mapped_end) (void)::munmap(end, static_cast<std::size_t>(mapped_end - end));
  // A hint: with THP off (or unavailable) the kernel keeps 4 KiB pages.
  if (huge) (void)::madvise(start, len, MADV_HUGEPAGE);
  raw_ = start;
  data_ = start;
  mapped_ = len;
}

aligned_buffer::~aligned_buffer() {
  if (mapped_ != 0) {
    (void)::munmap(raw_, mapped_);
  } else if (raw_ != nullptr) {
    ::operator delete (raw_, std::align_val_t{cache_line_size});
  }
}

void aligned_buffer::populate() noexcept {
  if (mapped_ != 0 && ::madvise(raw_, mapped_, MADV_POPULATE_WRITE) == 0) return;
  if (data_ != nullptr) std::memset(data_, 0, bytes_);
}

}  // namespace lanes::detail
