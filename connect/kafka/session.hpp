// connect/kafka/session.hpp: one run of a bridge direction, from connecting to stopping or
// failing, and what it shares with the kafka_bridge that runs it.
//
// A session finds where to resume from the data (open), mirrors until asked to stop (run),
// and lets what is in flight finish (drain). A failure throws session_error; the bridge
// then starts a new session after a back-off (or ends, when the error is permanent), so a
// session never has to recover in place: everything it knows is rebuilt from the data.
// Thread contract: a session runs on the bridge's thread only; bridge_shared is the one
// place other threads read (under its lock).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lanes/kafka_bridge.hpp"

namespace lanes::kafka::detail {

struct bridge_shared {
  std::atomic<bool> stop{false};
  mutable std::mutex mutex;
  bridge_stats stats;  // guarded by mutex

  void add_done(std::uint64_t records, std::uint64_t bytes, std::uint64_t skipped = 0) {
    const std::lock_guard lock(mutex);
    stats.records += records;
    stats.bytes += bytes;
    stats.skipped += skipped;
  }
  void set_progress(std::int64_t lag, std::uint64_t in_flight) {
    const std::lock_guard lock(mutex);
    stats.lag = lag;
    stats.in_flight = in_flight;
    stats.caught_up = lag == 0 && in_flight == 0;
  }
  void note_error(const std::string& e) {
    const std::lock_guard lock(mutex);
    stats.last_error = e;
  }
};

class session {
 public:
  session(bus& b, const bridge_config& c, bridge_shared& s) : bus_(b), c_(c), shared_(s) {}
  virtual ~session() = default;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  // Connects and finds where to resume from the data. Throws session_error.
  virtual void open() = 0;
  // Mirrors until shared.stop; throws session_error on a failure.
  virtual void run() = 0;
  // After run returned: lets what is in flight finish, at most `limit`.
  virtual void drain(std::chrono::milliseconds limit) = 0;

 protected:
  bus& bus_;
  const bridge_config& c_;
  bridge_shared& shared_;
};

std::unique_ptr<session> make_to_kafka_session(bus& b, const bridge_config& c, bridge_shared& s);
std::unique_ptr<session> make_from_kafka_session(bus& b, const bridge_config& c, bridge_shared& s);

// The group name a bridge uses when bridge_config::group is empty.
inline std::string group_of(const bridge_config& c) {
  return c.group.empty() ? std::string("lanes-mirror") : c.group;
}

// At most `per_second` records per second (0: no limit), measured from the first call.
class rate_limit {
 public:
  explicit rate_limit(std::uint64_t per_second) noexcept : per_second_(per_second) {}
  // How many records may go now (sleeps up to 10 ms when none may).
  std::uint64_t allowance(std::uint64_t done_so_far) {
    if (per_second_ == 0) return ~std::uint64_t{0};
    const auto now = std::chrono::steady_clock::now();
    if (start_ == std::chrono::steady_clock::time_point{}) start_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const auto allowed = static_cast<std::uint64_t>(elapsed * static_cast<double>(per_second_)) + 1;
    if (allowed > done_so_far) return allowed - done_so_far;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return 0;
  }

 private:
  std::uint64_t per_second_;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace lanes::kafka::detail
