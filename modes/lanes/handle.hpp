// lanes/handle.hpp: what the bus's consumer handles (consumer, queue_consumer) share.
#pragma once

#include <memory>
#include <utility>

namespace lanes::detail {

struct consumer_state;        // consumer::impl, modes/consumer_impl.hpp
struct queue_consumer_state;  // queue_consumer::impl, modes/queue_consumer.cpp

// A move-only handle to state that lives in the library. Destroying the handle, or moving
// another handle into it, first closes the state it held (State::leave: a consumer leaves its
// group; a queue consumer gives back its pin) and then frees it, so the handles default all
// their special members. The closing is compiled in the library, next to State
// (modes/closing_handle.hpp, instantiated there once per State): State stays an incomplete
// type in users' builds.
template <class State>
class closing_handle {
 public:
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 protected:
  struct closer {
    void operator()(State* s) const noexcept;
  };
  using owner = std::unique_ptr<State, closer>;

  // Only the handles themselves make, move and destroy this part of them (no slicing, no
  // deleting through a pointer to the base).
  closing_handle() noexcept = default;
  explicit closing_handle(owner s) noexcept : impl_(std::move(s)) {}
  closing_handle(closing_handle&&) noexcept = default;
  closing_handle& operator=(closing_handle&&) noexcept = default;
  ~closing_handle() = default;

  owner impl_;
};

}  // namespace lanes::detail
