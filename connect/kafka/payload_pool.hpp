// connect/kafka/payload_pool.hpp: the memory of the values the lanes -> Kafka session hands
// to librdkafka, reused across records instead of one malloc per record.
//
// Why: with RD_KAFKA_MSG_F_COPY librdkafka mallocs each message with its value inline. For
// 1 KiB values that chunk is past glibc's per-thread cache, and on the bridge's own thread
// (a non-main arena) glibc grows its heap a few pages at a time with an mprotect each and
// gives the pages back as deliveries free them: 12 000 mprotect calls and 12 000 page faults
// per 100 000 records, measured with `perf record -e syscalls:sys_enter_mprotect` on
// kafka_bench (the same records from the main thread cost 500 brk calls). And nothing bounded
// how much the session queued: it read all a lanes topic held into librdkafka's queue (up to
// its 1 GiB default), every page of it touched for the first time (page faults were a third of
// the samples of a 100 000 x 1 KiB run).
//
// Here a value is copied into one of at most 8 blocks of 4 MiB that stay mapped, and
// librdkafka is given the pointer without F_COPY; a block is reused once every record in it
// has its delivery report. When all are in use the session serves delivery reports before it
// reads on: 32 MiB in flight, as the Java producer's buffer.memory default, several times
// what one broker connection carries (5 requests in flight of a 1 MB batch.size).
//
// The blocks are one mapping, reserved at the first copy and advised for transparent huge
// pages (MADV_HUGEPAGE: this machine's THP setting is `madvise`). With 4 KiB pages the first
// lap through the blocks took a page fault per 4 KiB: a quarter of the session thread's
// samples in a 100 000 x 1 KiB kafka_bench run (796 of 3 782 samples were faults under the
// value copy), on a VM where a fault costs several microseconds. With 2 MiB pages it is 16
// faults. The kernel falls back to 4 KiB pages by itself when it has no huge page to give.
//
// Thread contract: one thread (the session's: it produces and serves the delivery reports
// through rd_kafka_poll / rd_kafka_flush). No atomics.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

namespace lanes::kafka::detail {

class payload_pool {
 public:
  static constexpr std::size_t block_size = std::size_t{1} << 22;  // aligned to its size
  static constexpr std::size_t largest = block_size / 16;          // larger: librdkafka copies
  static constexpr std::size_t max_blocks = 8;

  payload_pool() = default;
  payload_pool(const payload_pool&) = delete;
  payload_pool& operator=(const payload_pool&) = delete;
  ~payload_pool() {
    // Blocks still holding records are only unmapped here, after the producer is gone (the
    // session declares the pool before its producer).
    if (region_ != nullptr) ::munmap(region_, region_bytes);
  }

  // Whether copy() takes bytes of this size: it is empty or larger than `largest` (the caller
  // then lets librdkafka copy it).
  static bool takes(std::size_t size) { return size != 0 && size <= largest; }

  // Whether copy() of `size` bytes finds room now; when not, releases make it.
  bool has_room(std::size_t size) const {
    return (current_ != nullptr && block_size - used_ >= rounded(size)) || !free_.empty() ||
           all_.size() < max_blocks;
  }

  // A copy of `bytes` (takes() and has_room() true) that lives until release().
  const char* copy(std::string_view bytes) {
    const std::size_t need = rounded(bytes.size());
    if (current_ == nullptr || block_size - used_ < need) next_block();
    char* p = reinterpret_cast<char*>(current_) + used_;
    used_ += need;
    ++current_->live;
    std::memcpy(p, bytes.data(), bytes.size());
    return p;
  }

  // The record whose copy starts at `p` was delivered or dropped.
  void release(const void* p) {
    auto* b = reinterpret_cast<block*>(reinterpret_cast<std::uintptr_t>(p) & ~(block_size - 1));
    if (--b->live == 0 && b != current_) free_.push_back(b);
  }

  std::size_t blocks() const { return all_.size(); }

 private:
  struct block {
    std::size_t live;  // records copied into it and not released yet
  };
  static constexpr std::size_t first_byte = 64;  // past the header, cache-line aligned
  static std::size_t rounded(std::size_t size) { return (size + 7) & ~std::size_t{7}; }

  void next_block() {
    block* old = current_;
    if (!free_.empty()) {
      current_ = free_.back();
      free_.pop_back();
    } else {
      if (region_ == nullptr) reserve();
      current_ = reinterpret_cast<block*>(region_ + all_.size() * block_size);
      all_.push_back(current_);
    }
    current_->live = 0;
    used_ = first_byte;
    if (old != nullptr && old->live == 0) free_.push_back(old);
  }

  static constexpr std::size_t region_bytes = max_blocks * block_size;

  // Maps the blocks' region aligned to block_size (release() finds a block by masking) and
  // advises huge pages for it; pages are touched only as blocks come into use.
  void reserve() {
    const std::size_t span = region_bytes + block_size;
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + block_size - 1) & ~(block_size - 1);
    if (aligned > start) ::munmap(raw, aligned - start);
    const std::size_t tail = start + span - (aligned + region_bytes);
    if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + region_bytes), tail);
    region_ = reinterpret_cast<char*>(aligned);
    (void)::madvise(region_, region_bytes, MADV_HUGEPAGE);  // advice: refused is still correct
  }

  char* region_ = nullptr;
  block* current_ = nullptr;
  std::size_t used_ = 0;
  std::vector<block*> free_;  // blocks with no live record, not current
  std::vector<block*> all_;   // every block in use so far (at most max_blocks)
};

}  // namespace lanes::kafka::detail
