#include "lanes/fault_injection.hpp"

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

}  // namespace lanes::io
