// lanes/error.hpp: stable error codes, usable with std::error_code.
//
// Hot paths return `lanes::errc` directly (a one-byte status); cold paths (construction,
// configuration) throw std::system_error carrying the same code. errc::ok is zero, so an
// errc converts to a std::error_code that is false on success.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>

namespace lanes {

// Values are stable: they may be logged, stored and compared across versions. Append only.
enum class errc : std::uint8_t {
  ok = 0,
  // Back-pressure and flow: not failures, the caller retries or waits.
  full = 1,     // no room right now (ring full, slowest reader not far enough)
  empty = 2,    // nothing to read right now
  timeout = 3,  // a bounded wait ran out
  closed = 4,   // the object was closed; nothing more will be accepted
  // Misuse: the call can never succeed as made.
  capacity_not_power_of_two = 10,
  capacity_too_small = 11,
  capacity_too_large = 12,
  frame_too_large = 13,
  too_many_readers = 14,
  invalid_argument = 15,
  invalid_partition = 16,
  no_partitions = 17,
  // Bus and topics (modes/).
  invalid_topic_name = 32,
  topic_exists = 33,
  unknown_topic = 34,
  message_too_large = 35,
  offset_out_of_range = 36,
  invalid_config = 37,
  producer_busy = 38,
  not_assigned = 39,
  wrong_mode = 40,
  invalid_group = 41,
  // Queue mode (modes/lanes/queue.hpp).
  stale_receipt = 42,
  foreign_receipt = 43,
  already_acked = 44,
  // Durability (io/): segment files, io_uring, recovery. Values from 64 on.
  io_uring_unavailable = 64,
  io_error = 65,
  no_space = 66,
  sync_failed = 67,
  corrupt_log = 68,
  log_quarantined = 69,
  completion_lost = 70,
  corrupt_batch = 71,
  file_error = 72,
  log_failed = 73,
  data_dir_locked = 74,
  read_only = 75,  // the bus or log was opened read-only (bus_config::read_only, a full disk)
};

// The category named "lanes"; messages say what happened and what to do about it.
const std::error_category& lanes_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), lanes_category()};
}

// Short stable identifier ("full", "frame_too_large"...) for logs and JSON.
const char* to_string(errc e) noexcept;

}  // namespace lanes

template <>
struct std::is_error_code_enum<lanes::errc> : std::true_type {};
