// modes/queue_ops.hpp: what the files of queue mode share: the steady clock in ns, the record
// at a ring position, and the slot operations that queue_delivery.cpp defines for the
// consumer (queue_consumer.cpp) and the housekeeper. Internal to modes/. The state machine
// and who owns what are described in modes/queue_state.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "lanes/clock.hpp"
#include "queue_state.hpp"

namespace lanes::detail {

inline constexpr std::int64_t never = INT64_MAX;
// Headers of the original message a dead letter keeps (the rest are dropped).
inline constexpr std::size_t max_kept_headers = 59;

inline wait_clock::time_point steady_point(std::int64_t ns) noexcept {
  return wait_clock::time_point(
      std::chrono::duration_cast<wait_clock::duration>(std::chrono::nanoseconds(ns)));
}

inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  return b > 0 && a > never - b ? never : a + b;
}

// The record at ring position `position` of p (past its frame header).
inline const std::byte* payload_at(const partition_state& p, std::uint64_t position) noexcept {
  return reinterpret_cast<const std::byte*>(&p.ring.frame_at(position)) + sizeof(frame_header);
}

// ---- queue_partition.cpp ----

// Opens a queue group on every partition of t, starting at the log start (earliest) or the
// end (latest). Cold path.
errc make_group(topic_state& t, std::string name, std::shared_ptr<topic_state> dlq,
                offset_reset start, std::shared_ptr<queue_group>& out);

// ---- queue_delivery.cpp (the comments at the definitions say more) ----

// Moves the floor past the contiguous acked prefix, unless a consumer's pin holds it.
void try_advance(queue_partition& q) noexcept;
// The end of what a receiver may take (the durable offset for durable-only receivers).
std::uint64_t takeable_end(const queue_partition& q, bool durable_only) noexcept;
// best_effort ordering: given-back messages first, then fresh ones; returns how many.
std::size_t take(const queue_group& g, queue_partition& q, bool durable_only, queue_message* out,
                 std::size_t want, std::int64_t now, std::int64_t now_real) noexcept;
// strict_per_key ordering: one receiver at a time walks [floor, end) in offset order.
std::size_t dispatch(const queue_group& g, queue_partition& q, bool durable_only,
                     queue_message* out, std::size_t want, std::int64_t now,
                     std::int64_t now_real) noexcept;
// Gives back expired messages and dead-letters those past max_deliveries, when due.
void scan(queue_group& g, queue_partition& q, std::int64_t now) noexcept;

enum class op : std::uint8_t { ack, nack, extend };
// Takes the receipt's slot out of in_flight (to acked, or busy for nack and extend).
errc take_in_flight(queue_partition& q, const receipt& r, op what, std::uint64_t& word) noexcept;

}  // namespace lanes::detail
