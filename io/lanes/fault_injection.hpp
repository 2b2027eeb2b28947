// lanes/fault_injection.hpp: the fault seam of the io/ layer.
//
// Every io_uring completion of a partition log passes through on_completion() before the
// log looks at it. Unarmed (always, outside tests) that is one predictable branch on a bool;
// armed, it can turn the Nth completion of a kind of request into an error (-EIO, -ENOSPC,
// anything) or, for writes, into a short write (half the bytes reported). The bytes on disk
// are whatever the kernel really did: a "short" write was really written in full, and the
// log's resubmission of the rest rewrites the same bytes, which is harmless and exercises
// exactly the code path a real short write takes.
//
// Single-threaded: armed and consulted on the thread that owns the log (its persister).
#pragma once

#include <array>
#include <cstdint>

namespace lanes::io {

enum class fault_op : std::uint8_t { write = 0, sync = 1 };

class fault_injector {
 public:
  // Makes the nth (1-based, counted from now) completion of `op` fail with -err
  // (err > 0, e.g. EIO). Cold path; up to max_plans plans at once.
  void fail_nth(fault_op op, std::uint64_t nth, int err) noexcept;
  // Makes the nth write completion (counted from now) report half its bytes.
  void short_nth_write(std::uint64_t nth) noexcept;
  // Forgets every plan.
  void disarm() noexcept;

  // How many planned faults have fired so far.
  std::uint64_t fired() const noexcept { return fired_; }

  // The seam: returns the result the log should act on. `res` is the kernel's.
  int on_completion(fault_op op, int res) noexcept {
    if (__builtin_expect(!armed_, 1)) return res;
    return apply(op, res);
  }

  static constexpr std::size_t max_plans = 4;

 private:
  struct plan {
    bool active = false;
    bool shorten = false;
    fault_op op = fault_op::write;
    std::uint64_t at = 0;  // value of seen_[op] at which it fires
    int err = 0;
  };
  int apply(fault_op op, int res) noexcept;
  void add(const plan& p) noexcept;

  bool armed_ = false;
  std::array<std::uint64_t, 2> seen_{};
  std::array<plan, max_plans> plans_{};
  std::uint64_t fired_ = 0;
};

// Crash points, for the persistence stress tool (tools/stress.cpp): the process kills itself
// with SIGKILL at a named point of the log's life, chosen by the environment:
//   LANES_CRASH_AT=<point>   one of the names below
//   LANES_CRASH_AFTER=<n>    at the nth time the point is reached (default 1)
// Points: after_write (writes completed, their fdatasync not submitted yet), segment_roll (a
// new segment file created, the directory not fsynced yet), retention_delete (a segment's
// .log unlinked, its index files not yet), index_rebuild (recovery rebuilt an index in
// memory, before writing it). Unset (always, outside the tool): one predictable branch on
// a flag read once.
// arm_crash_point does the same as the environment, for a process that forks children
// (the environment is read once, at start).
void arm_crash_point(const char* name, std::uint64_t after) noexcept;
void crash_point_slow(const char* name) noexcept;
extern bool crash_points_armed;
inline void crash_point(const char* name) noexcept {
  if (__builtin_expect(crash_points_armed, 0)) crash_point_slow(name);
}

}  // namespace lanes::io
