// lanes/uring.hpp: a small RAII owner of one io_uring instance (liburing).
//
// It owns the rings and nothing else: which requests go in and what their completions mean
// is the caller's business (lanes/partition_log.hpp). Single-threaded: one thread submits
// and reaps. Nothing allocates after init(); nothing throws.
//
// Completion-queue overflow: the CQ has twice the SQ's entries and callers keep fewer
// requests in flight than the SQ holds, so the CQ cannot overflow in normal use. Kernels
// with IORING_FEAT_NODROP (5.5+) keep overflowed completions and make submit() return
// -EBUSY until the CQ is drained; kernels without it drop them and count them in dropped().
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstdint>

#include "lanes/error.hpp"

namespace lanes::io {

class uring {
 public:
  uring() noexcept = default;
  ~uring() { reset(); }
  uring(const uring&) = delete;
  uring& operator=(const uring&) = delete;

  // Cold path. Sets up a ring with at least `entries` submission entries. Returns ok, or
  // io_uring_unavailable (the kernel or a sysctl/seccomp refused; *sys_errno says why).
  [[nodiscard]] errc init(unsigned entries, int* sys_errno = nullptr) noexcept;
  void reset() noexcept;
  bool valid() const noexcept { return valid_; }

  // A free submission entry, or nullptr when the SQ is full (submit, then retry).
  io_uring_sqe* get_sqe() noexcept { return io_uring_get_sqe(&ring_); }
  unsigned sq_space_left() const noexcept { return io_uring_sq_space_left(&ring_); }
  unsigned sq_entries() const noexcept { return ring_.sq.ring_entries; }

  // Hands queued entries to the kernel: the count submitted, or -errno. -EBUSY and -EAGAIN
  // mean "reap completions first, then submit again"; nothing queued is lost.
  int submit() noexcept { return io_uring_submit(&ring_); }

  // The next completion, or nullptr when none is ready. Never blocks.
  io_uring_cqe* peek() noexcept {
    io_uring_cqe* cqe = nullptr;
    return io_uring_peek_cqe(&ring_, &cqe) == 0 ? cqe : nullptr;
  }
  // The next completion, waiting at most `timeout`; nullptr on timeout or interruption.
  io_uring_cqe* wait(std::chrono::nanoseconds timeout) noexcept;
  // Marks a completion from peek()/wait() consumed.
  void seen(io_uring_cqe* cqe) noexcept { io_uring_cqe_seen(&ring_, cqe); }

  // Cold. Every completion posted to this ring also signals `fd` (an eventfd), so that one
  // thread can wait for the completions of many rings and for other events in one poll().
  [[nodiscard]] errc register_eventfd(int fd) noexcept {
    return io_uring_register_eventfd(&ring_, fd) == 0 ? errc::ok : errc::io_uring_unavailable;
  }

  // True when the kernel keeps overflowed completions instead of dropping them.
  bool no_drop() const noexcept { return (ring_.features & IORING_FEAT_NODROP) != 0; }
  // Completions the kernel dropped (CQ overflow without no_drop()); never resets.
  unsigned dropped() const noexcept { return valid_ ? *ring_.cq.koverflow : 0; }
  // Completions are waiting in the kernel's overflow list (no_drop kernels).
  bool overflow_pending() const noexcept { return io_uring_cq_has_overflow(&ring_); }

 private:
  io_uring ring_{};
  bool valid_ = false;
};

// Cold path: whether an io_uring can be set up here at all (tests skip with the reason).
[[nodiscard]] errc probe_io_uring(int* sys_errno = nullptr) noexcept;

}  // namespace lanes::io
