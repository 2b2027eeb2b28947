// lanes/detail_aligned.hpp: cache-line aligned raw storage with guard padding (internal).
#pragma once

#include <cstddef>
#include <new>

#include "lanes/platform.hpp"

namespace lanes::detail {

// Owns `bytes` of storage aligned to a cache line, with one spare cache line before and
// after so that the hot slots never share a line with a neighbouring heap allocation.
class aligned_buffer {
 public:
  aligned_buffer() noexcept = default;
  explicit aligned_buffer(std::size_t bytes)
      : raw_(static_cast<std::byte*>(::operator new(bytes + 2 * cache_line_size,
                                                    std::align_val_t{cache_line_size}))),
        bytes_(bytes) {}
  ~aligned_buffer() {
    if (raw_ != nullptr) ::operator delete(raw_, std::align_val_t{cache_line_size});
  }
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;

  std::byte* data() const noexcept { return raw_ + cache_line_size; }
  std::size_t size() const noexcept { return bytes_; }

 private:
  std::byte* raw_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace lanes::detail
