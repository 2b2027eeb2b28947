#include "lanes/uring.hpp"

#include <cerrno>

namespace lanes::io {

errc uring::init(unsigned entries, int* sys_errno) noexcept {
  reset();
  io_uring_params p{};
  // The CQ is twice the SQ by default; ask for it explicitly so the sizing is documented.
  p.flags = IORING_SETUP_CQSIZE;
  p.cq_entries = entries * 2;
  const int rc = io_uring_queue_init_params(entries, &ring_, &p);
  if (sys_errno != nullptr) *sys_errno = rc < 0 ? -rc : 0;
  if (rc < 0) return errc::io_uring_unavailable;
  valid_ = true;
  return errc::ok;
}

void uring::reset() noexcept {
  if (valid_) {
    io_uring_queue_exit(&ring_);
    valid_ = false;
    ring_ = io_uring{};
  }
}

io_uring_cqe* uring::wait(std::chrono::nanoseconds timeout) noexcept {
  io_uring_cqe* cqe = nullptr;
  if (timeout.count() <= 0) return peek();
  __kernel_timespec ts{};
  ts.tv_sec = timeout.count() / 1'000'000'000;
  ts.tv_nsec = timeout.count() % 1'000'000'000;
  const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
  return rc == 0 ? cqe : nullptr;
}

errc probe_io_uring(int* sys_errno) noexcept {
  uring r;
  return r.init(4, sys_errno);
}

}  // namespace lanes::io
