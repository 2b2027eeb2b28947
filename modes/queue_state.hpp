// modes/queue_state.hpp: a queue group's state per partition (not installed).
//
// A queue group reads a partition's frame ring like a log group does: with one gating reader,
// whose cursor is the group's ack floor (every offset below it is acked, dead-lettered or
// skipped). The ring's space behind the floor goes back to producers; everything from the
// floor on stays in the ring, so a received message's views stay valid until it is acked.
//
// Per partition, a table of delivery states indexed by offset & mask, one 64-bit word per
// offset: [lap:32][delivery:28][state:4] (see slot_word). The table has as many entries as
// the partition's offset index, which is more than the ring can hold records, so the offsets
// of [floor, end) never share an entry; the lap (offset >> log2(entries)) tells an entry's
// current offset from the one before it.
//
// Who moves what (best_effort):
//   claim     next offset never delivered: receivers take batches with a CAS, then own those
//             offsets and store their slot as in_flight (delivery 1).
//   ready     an MPMC ring of offsets given back (nack, expiry): a receiver pops one, owns it,
//             and stores it in_flight with the next delivery count.
//   ack       CAS in_flight(d) -> acked(d); the receipt's delivery must equal d.
//   nack, extend, expiry: CAS in_flight(d) -> busy(d), write the deadline, store the new state.
//             busy lasts a few instructions; whoever meets it pauses and reloads.
//   floor     advanced past the contiguous acked prefix by whoever holds `advancing` (an acker
//             that sees the floor's slot acked); it also walks the reader and releases space.
//   expiry    whoever holds `scanning` (a receiver or the housekeeping thread, once
//             next_expiry has passed) walks [floor, claim), gives back in_flight slots past
//             their deadline and delayed ones that are due, and dead-letters dead ones.
// Memory order. A slot's owner writes the deadline (relaxed) and then the slot word with a
// release store or an acq_rel CAS; the next owner takes the slot with an acquire load or CAS,
// so it sees the deadline and, for a fresh offset, the claimer's acquire of end_offset (which
// pairs with the producer's release) makes the record's bytes visible to whoever reads the
// slot after it. The floor, its position and the reader pass from one holder of `advancing` to
// the next through that flag (seq_cst exchange / store). next_expiry is only changed by RMWs
// (note_deadline, scan's exchange), so a scan that resets it synchronises with every deadline
// noted before, and a deadline noted after survives the scan.
//
// strict_per_key: a receiver holding `dispatching` walks [floor, end) in order and delivers a
// ready message only when no earlier unacked message has its key (key hashes per slot, a set
// of the keys seen in this walk). Receivers that find `dispatching` taken skip the partition.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus_state.hpp"
#include "lanes/mpmc_ring.hpp"
#include "lanes/queue.hpp"

namespace lanes::detail {

enum class qstate : std::uint8_t {
  none = 0,  // never written for this lap: not delivered yet (best_effort)
  ready = 1,
  in_flight = 2,
  delayed = 3,
  acked = 4,
  dead = 5,  // past max_deliveries, waiting for the dead-letter topic to take it
  busy = 6,  // being changed by nack, extend or expiry
};

struct slot_word {
  static constexpr std::uint32_t delivery_mask = (1u << 28) - 1;
  static constexpr std::uint64_t make(std::uint32_t lap, std::uint32_t delivery,
                                      qstate s) noexcept {
    return (std::uint64_t{lap} << 32) | (std::uint64_t{delivery & delivery_mask} << 4) |
           static_cast<std::uint64_t>(s);
  }
  static constexpr std::uint32_t lap(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>(w >> 32);
  }
  static constexpr std::uint32_t delivery(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>(w >> 4) & delivery_mask;
  }
  static constexpr qstate state(std::uint64_t w) noexcept { return static_cast<qstate>(w & 15u); }
};

struct queue_group;

// A consumer's hold on a partition's ring space: the floor position when it took its current
// batch there. The ring is not given back past it, so the batch's views stay valid until the
// consumer's next receive (or until it has acked or nacked all of them), even if a message
// expires meanwhile and another consumer acks it. UINT64_MAX: no hold.
struct alignas(cache_line_size) queue_pin {
  std::atomic<std::uint64_t> position{UINT64_MAX};
};

struct queue_partition {
  queue_partition(const queue_group& g, partition_state& p, std::uint64_t start_offset,
                  std::uint64_t start_position, frame_ring::reader r);

  std::uint32_t lap(std::uint64_t offset) const noexcept {
    return static_cast<std::uint32_t>(offset >> shift);
  }
  std::atomic<std::uint64_t>& slot(std::uint64_t offset) noexcept { return slots[offset & mask]; }
  std::atomic<std::int64_t>& deadline(std::uint64_t offset) noexcept {
    return deadlines[offset & mask];
  }
  // Ring position of an offset in [floor, end) that cannot be acked meanwhile (the caller
  // holds it in flight, or owns it), so the floor position stays at or before it.
  std::uint64_t position_of(std::uint64_t offset) const noexcept {
    const std::uint64_t base = floor_position.load(std::memory_order_acquire);
    const std::uint64_t cmask = part.ring.capacity() - 1;
    const std::uint64_t at = part.index[offset & part.index_mask].load(std::memory_order_relaxed);
    return base + ((at - (base & cmask)) & cmask);
  }
  // Lowers next_expiry to `when` with one RMW even when it is lower already: an expiry scan
  // that reset next_expiry before this RMW synchronises with it (and so sees the slot the
  // caller stored before), one after it leaves the value it wrote (see queue_delivery.cpp, scan).
  void note_deadline(std::int64_t when) noexcept {
    std::int64_t cur = next_expiry.load(std::memory_order_relaxed);
    while (!next_expiry.compare_exchange_weak(
        cur, cur < when ? cur : when, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
  }

  const queue_group& group;
  partition_state& part;
  const std::uint64_t start;  // first offset the group reads
  const std::uint64_t mask;   // entries - 1
  const unsigned shift;       // log2(entries)
  // Durable queues: what ackers share with the persister (null: memory only). Set before
  // the topic is visible and never changed; beside the fields every ack reads anyway.
  ack_sync* durable_acks = nullptr;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots;
  std::unique_ptr<std::atomic<std::int64_t>[]> deadlines;  // steady clock ns, see busy
  mpmc_ring<std::uint64_t> ready;                          // best_effort: offsets given back

  // Receivers take fresh offsets here (best_effort); the dispatcher's "slots written up to"
  // (strict_per_key).
  alignas(cache_line_size) std::atomic<std::uint64_t> claim;
  // Ack floor and the ring position of its record; written by the holder of `advancing`.
  alignas(cache_line_size) std::atomic<std::uint64_t> floor;
  std::atomic<std::uint64_t> floor_position;
  std::atomic<bool> advancing{false};
  frame_ring::reader reader;          // the group's reader; used only by the holder of `advancing`
  std::unique_ptr<queue_pin[]> pins;  // one per consumer slot of the group (pin_index)
  // Earliest steady-clock ns at which a deadline may pass (INT64_MAX: none known).
  alignas(cache_line_size) std::atomic<std::int64_t> next_expiry{INT64_MAX};
  std::atomic<bool> scanning{false};
  // Used only by the holder of `scanning`: the dead-letter producer and its header buffers.
  producer dead_letters;
  std::vector<header> dlq_headers;
  std::array<std::array<char, 24>, 3> numbers{};

  // strict_per_key, used only by the holder of `dispatching`.
  alignas(cache_line_size) std::atomic<bool> dispatching{false};
  std::unique_ptr<std::uint64_t[]> key_hashes;  // per slot; 0: no key
  std::unique_ptr<std::uint64_t[]> seen_keys;   // open addressing, valid where epoch matches
  std::unique_ptr<std::uint32_t[]> seen_epoch;
  std::uint64_t seen_mask = 0;
  std::uint32_t epoch = 0;

  // Counters for stats (cold paths only).
  alignas(cache_line_size) std::atomic<std::uint64_t> redelivered{0};
  std::atomic<std::uint64_t> dead_lettered{0};
  std::atomic<std::uint64_t> skipped{0};
};

struct queue_group {
  queue_group(topic_state& t, std::string group_name, std::shared_ptr<topic_state> dlq);

  const std::uint64_t id;  // receipts name it; unique per process
  const std::string name;
  topic_state& topic;  // owns this group
  const queue_settings settings;
  const bool strict;
  const bool share;  // a queue group of a log topic
  std::shared_ptr<topic_state> dead_letter_topic;
  std::vector<std::unique_ptr<queue_partition>> partitions;
  // Bumped when messages are given back or a strict key is freed: wakes waiting receivers.
  alignas(cache_line_size) std::atomic<std::uint64_t> changes{0};
  std::atomic<std::uint32_t> consumers{0};  // share groups: removed with the last one

  // Consumer slots for pins (queue_pin): taken under pins_mu; advancers read the pins of the
  // slots below pins_used.
  static constexpr std::uint32_t max_consumers = 128;
  std::mutex pins_mu;
  std::array<bool, max_consumers> pin_taken{};
  std::atomic<std::uint32_t> pins_used{0};
};

// Durable queues, on open (modes/queue_acks.cpp): the records [q.start, end) are back in the
// ring; marks those in `acked` (sorted, disjoint ranges) acked and the others ready with
// delivery count 0 (receivable, as if nacked), then moves the floor past the acked prefix.
// Before any consumer exists.
void restore_queue_partition(queue_partition& q, std::uint64_t end,
                             const std::vector<std::pair<std::uint64_t, std::uint64_t>>& acked);

}  // namespace lanes::detail
