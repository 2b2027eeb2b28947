// modes/queue_describe.cpp: bus::describe_queue, a queue group's counts and bytes per
// partition, read from its slot words and the offset index (never from ring bytes).
#include <algorithm>

#include "lanes/queue.hpp"
#include "queue_state.hpp"

namespace lanes {

queue_partition_stats queue_group_stats::total() const noexcept {
  // Every count of queue_partition_stats (all but `partition`), summed over the partitions.
  static constexpr std::uint64_t queue_partition_stats::*counts[] = {
      &queue_partition_stats::ready,         &queue_partition_stats::in_flight,
      &queue_partition_stats::delayed,       &queue_partition_stats::acked,
      &queue_partition_stats::redelivered,   &queue_partition_stats::dead_lettered,
      &queue_partition_stats::skipped,       &queue_partition_stats::ack_floor,
      &queue_partition_stats::end_offset,    &queue_partition_stats::bytes_held,
      &queue_partition_stats::bytes_unacked, &queue_partition_stats::bytes_acked_waiting};
  queue_partition_stats s;
  for (const queue_partition_stats& p : partitions) {
    for (const auto count : counts) s.*count += p.*count;
  }
  return s;
}

std::optional<queue_group_stats> bus::describe_queue(std::string_view topic,
                                                     std::string_view group) const {
  auto t = state_->find(topic);
  if (!t) return std::nullopt;
  std::shared_ptr<detail::queue_group> g;
  {
    std::lock_guard lock(t->groups_mu);
    auto it = t->queue_groups.find(group);
    if (it == t->queue_groups.end()) return std::nullopt;
    g = it->second;
  }
  queue_group_stats out;
  out.topic = t->name;
  out.group = g->name;
  for (const auto& qp : g->partitions) {
    detail::queue_partition& q = *qp;
    queue_partition_stats s;
    s.partition = q.part.id;
    // Positions come from the offset index only (never from ring bytes, which producers may
    // reuse meanwhile): a racing ack or publish makes the numbers stale, not wrong to read.
    const std::uint64_t base = q.floor_position.load(std::memory_order_acquire);
    const std::uint64_t f = q.floor.load(std::memory_order_acquire);
    const std::uint64_t c = q.claim.load(std::memory_order_acquire);
    const std::uint64_t e = q.part.end_offset.load(std::memory_order_acquire);
    const std::uint64_t published = q.part.ring.published_position();
    const std::uint64_t cmask = q.part.ring.capacity() - 1;
    auto pos = [&](std::uint64_t o) {
      if (o >= e) return published;
      const std::uint64_t at = q.part.index[o & q.part.index_mask].load(std::memory_order_relaxed);
      return base + ((at - (base & cmask)) & cmask);
    };
    std::uint64_t acked_window = 0;
    for (std::uint64_t o = f; o < c; ++o) {
      const std::uint64_t w = q.slot(o).load(std::memory_order_acquire);
      if (detail::slot_word::lap(w) != q.lap(o)) {
        ++s.in_flight;  // being claimed right now
        continue;
      }
      switch (detail::slot_word::state(w)) {
        case detail::qstate::ready: ++s.ready; break;
        case detail::qstate::delayed: ++s.delayed; break;
        case detail::qstate::acked: {
          ++acked_window;
          const std::uint64_t a = pos(o);
          const std::uint64_t b = pos(o + 1);
          if (b > a) s.bytes_acked_waiting += b - a;
          break;
        }
        default: ++s.in_flight; break;  // in_flight, busy, dead (waiting for the DLQ)
      }
    }
    s.ready += e > c ? e - c : 0;
    s.redelivered = q.redelivered.load(std::memory_order_relaxed);
    s.dead_lettered = q.dead_lettered.load(std::memory_order_relaxed);
    s.skipped = q.skipped.load(std::memory_order_relaxed);
    const std::uint64_t done = (f - q.start) + acked_window;
    const std::uint64_t not_by_consumers = s.dead_lettered + s.skipped;
    s.acked = done > not_by_consumers ? done - not_by_consumers : 0;
    s.ack_floor = f;
    s.end_offset = e;
    s.bytes_held = published > base ? published - base : 0;
    s.bytes_acked_waiting = std::min(s.bytes_acked_waiting, s.bytes_held);
    s.bytes_unacked = s.bytes_held - s.bytes_acked_waiting;
    out.partitions.push_back(s);
  }
  return out;
}

}  // namespace lanes
