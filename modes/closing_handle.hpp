// modes/closing_handle.hpp (internal): the one definition of how a consumer handle lets go of
// its state (lanes/handle.hpp). A .cpp that completes a State includes this and instantiates
// detail::closing_handle<State> once.
#pragma once

#include "lanes/handle.hpp"

namespace lanes::detail {

template <class State>
void closing_handle<State>::closer::operator()(State* s) const noexcept {
  s->leave();
  delete s;
}

}  // namespace lanes::detail
