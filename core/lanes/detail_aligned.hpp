// lanes/detail_aligned.hpp: cache-line aligned raw storage for rings (internal).
#pragma once

#include <cstddef>

#include "lanes/platform.hpp"

namespace lanes::detail {

// Owns `bytes` of storage aligned to a cache line, which no other allocation shares a line
// with. Small buffers come from the heap with one spare cache line before and after. Large
// ones (64 KiB and more) are a mapping of their own, page aligned; from 2 MiB on aligned to
// 2 MiB and marked for transparent huge pages (MADV_HUGEPAGE: the kernel's THP setting
// decides), so a ring's first lap takes one page fault per 2 MiB instead of one per 4 KiB,
// and the producer and consumers miss the TLB less. Storage is touched lazily unless
// populate() is called.
class aligned_buffer {
 public:
  aligned_buffer() noexcept = default;
  explicit aligned_buffer(std::size_t bytes);  // throws std::bad_alloc
  ~aligned_buffer();
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return bytes_; }
  static constexpr std::size_t map_from = std::size_t{64} << 10;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  // Whether the storage is a mapping of its own (map_from and more), and whether the kernel
  // was asked for huge pages for it (huge_page and more).
  bool mapped() const noexcept { return mapped_ != 0; }
  bool huge_page_hint() const noexcept { return bytes_ >= huge_page; }

  // Cold path: makes every page resident now (MADV_POPULATE_WRITE on a mapping: the kernel
  // faults the pages in, in one call; otherwise, or on kernels before 5.14, a write of
  // zeros to every byte). A fresh buffer reads as zeros either way.
  void populate() noexcept;

 private:
  std::byte* raw_ = nullptr;   // what was allocated or mapped
  std::byte* data_ = nullptr;  // the storage handed out
  std::size_t bytes_ = 0;
  std::size_t mapped_ = 0;  // length of the mapping at raw_; 0: heap
};

}  // namespace lanes::detail
