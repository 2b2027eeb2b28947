#include "lanes/fault_injection.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace lanes::io {

void fault_injector::add(const plan& p) noexcept {
  for (plan& slot : plans_) {
    if (!slot.active) {
      slot = p;
      armed_ = true;
      return;
    }
  }
}

void fault_injector::fail_nth(fault_op op, std::uint64_t nth, int err) noexcept {
  plan p;
  p.active = true;
  p.op = op;
  p.at = seen_[static_cast<std::size_t>(op)] + nth;
  p.err = err;
  add(p);
}

void fault_injector::short_nth_write(std::uint64_t nth) noexcept {
  plan p;
  p.active = true;
  p.shorten = true;
  p.op = fault_op::write;
  p.at = seen_[0] + nth;
  add(p);
}

void fault_injector::disarm() noexcept {
  plans_ = {};
  armed_ = false;
}

int fault_injector::apply(fault_op op, int res) noexcept {
  const std::uint64_t n = ++seen_[static_cast<std::size_t>(op)];
  bool any = false;
  for (plan& p : plans_) {
    if (!p.active) continue;
    if (p.op == op && p.at == n) {
      p.active = false;
      ++fired_;
      if (p.shorten) {
        if (res >= 2) res /= 2;
      } else {
        res = -p.err;
      }
    }
    any = any || p.active;
  }
  // Stay armed while a plan is left so that counting goes on.
  armed_ = any;
  if (!any) seen_ = {};
  return res;
}

namespace {
char crash_name[32] = {};
std::uint64_t crash_after = 1;
std::atomic<std::uint64_t> crash_hits{0};

bool arm_from_environment() noexcept {
  const char* at = std::getenv("LANES_CRASH_AT");
  if (at == nullptr || at[0] == '\0') return false;
  const char* after = std::getenv("LANES_CRASH_AFTER");
  arm_crash_point(at, after != nullptr ? std::strtoull(after, nullptr, 10) : 1);
  return true;
}
}  // namespace

bool crash_points_armed = arm_from_environment();

void arm_crash_point(const char* name, std::uint64_t after) noexcept {
  std::strncpy(crash_name, name, sizeof crash_name - 1);
  crash_after = after == 0 ? 1 : after;
  crash_hits.store(0, std::memory_order_relaxed);
  crash_points_armed = name[0] != '\0';
}

void crash_point_slow(const char* name) noexcept {
  if (std::strcmp(name, crash_name) != 0) return;
  if (crash_hits.fetch_add(1, std::memory_order_relaxed) + 1 < crash_after) return;
  ::kill(::getpid(), SIGKILL);
}

}  // namespace lanes::io
