// connect/kafka/kafka_bridge.cpp: runs sessions of one direction on a thread of its own and
// starts a new one after a back-off when one fails with a transient error.
#include "lanes/kafka_bridge.hpp"

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kafka_client.hpp"
#include "session.hpp"

namespace lanes::kafka {

struct kafka_bridge::impl {
  impl(bus& b, bridge_config c) : bus_(b), config(std::move(c)) {}

  std::unique_ptr<detail::session> open_session() {
    auto s = config.dir == direction::to_kafka
                 ? detail::make_to_kafka_session(bus_, config, shared)
                 : detail::make_from_kafka_session(bus_, config, shared);
    {
      const std::lock_guard lock(shared.mutex);
      ++shared.stats.sessions;
    }
    s->open();
    return s;
  }

  // The bridge's thread: runs `s`, then new sessions after transient failures.
  void loop(std::unique_ptr<detail::session> s) {
    auto backoff = config.retry_backoff_min;
    while (true) {
      try {
        if (!s) s = open_session();
        s->run();
        s->drain(drain_limit);
        break;  // stopped
      } catch (const detail::session_error& e) {
        {
          const std::lock_guard lock(shared.mutex);
          shared.stats.last_error = e.what();
          ++shared.stats.errors;
        }
        s.reset();  // a failed session keeps nothing: the next one starts from the data
        if (e.permanent()) {
          failed_.store(true, std::memory_order_release);  // (R1) pairs with (A1) in failed()
          break;
        }
      }
      std::unique_lock lock(wake_mutex);
      if (wake.wait_for(lock, backoff, [&] { return shared.stop.load(); })) break;
      backoff = std::min(backoff * 2, config.retry_backoff_max);
    }
    const std::lock_guard lock(shared.mutex);
    shared.stats.running = false;
  }

  bus& bus_;
  bridge_config config;
  detail::bridge_shared shared;
  std::mutex wake_mutex;
  std::condition_variable wake;
  std::chrono::milliseconds drain_limit{10000};
  std::atomic<bool> failed_{false};
  std::thread thread;
  bool started = false;
};

kafka_bridge::kafka_bridge(bus& b, bridge_config config)
    : impl_(std::make_unique<impl>(b, std::move(config))) {}

kafka_bridge::~kafka_bridge() { stop(); }

void kafka_bridge::start() {
  if (impl_->started) throw std::logic_error("kafka_bridge::start called twice");
  impl_->started = true;
  std::unique_ptr<detail::session> first = impl_->open_session();  // throws bridge_error
  {
    const std::lock_guard lock(impl_->shared.mutex);
    impl_->shared.stats.running = true;
  }
  impl_->thread =
      std::thread([this, s = std::move(first)]() mutable { impl_->loop(std::move(s)); });
}

void kafka_bridge::stop(std::chrono::milliseconds drain) {
  if (!impl_->thread.joinable()) return;
  {
    const std::lock_guard lock(impl_->wake_mutex);
    impl_->drain_limit = drain;
    impl_->shared.stop.store(true);
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

bridge_stats kafka_bridge::stats() const {
  const std::lock_guard lock(impl_->shared.mutex);
  return impl_->shared.stats;
}

bool kafka_bridge::failed() const noexcept {
  return impl_->failed_.load(std::memory_order_acquire);  // (A1) pairs with (R1)
}

}  // namespace lanes::kafka
