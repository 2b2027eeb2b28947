// tests/support/checks.hpp: small pieces for checking what a call does, shared by every test
// folder.
//
//   code_thrown_by(fn)   the std::error_code of the std::system_error fn() threw, {} if none
//   lv<T>()              an lvalue of T in unevaluated operands, for noexcept(...) checks
//                        (std::declval gives rvalues)
#pragma once

#include <system_error>

namespace lanes_test {

template <class Fn>
std::error_code code_thrown_by(Fn&& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

template <class T>
T& lv() noexcept;

}  // namespace lanes_test
