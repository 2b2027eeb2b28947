// modes/queue_delivery.cpp: queue mode's slot operations: the ack floor, delivering (best
// effort and strict per key), giving back, dead letters and expiry, taking a receipt's slot
// for ack, nack and extend; restoring a partition after recovery; the housekeeper's round.
// The state machine and who owns what are described in modes/queue_state.hpp.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <thread>

#include "queue_ops.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

// Dead letters the dead-letter topic refused (full, deleted) are retried this much later.
static constexpr std::int64_t dead_letter_retry_ns = 20'000'000;
// Smallest time between two expiry scans of a partition (at most a quarter of the visibility
// timeout): deadlines may be enforced this late.
static constexpr std::int64_t scan_gap_ns = 1'000'000;

// ---- the ack floor ----

// Lowest ring position a consumer holds views at (UINT64_MAX: none). seq_cst: see try_advance.
static std::uint64_t pin_limit(const queue_partition& q) noexcept {
  std::uint64_t limit = UINT64_MAX;
  const std::uint32_t n = q.group.pins_used.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < n; ++i) {
    limit = std::min(limit, q.pins[i].position.load(std::memory_order_seq_cst));
  }
  return limit;
}

// Moves the floor (and the group's reader) past the contiguous acked prefix, but not past a
// consumer's pin, if nobody else is doing so. Whoever acks calls it, and so does a consumer
// that lets go of a pin. Two Dekker pairs keep anyone from being left behind (all seq_cst):
//   - an acker CASes its slot, then loads the floor's slot and tries `advancing`; the holder
//     releases `advancing`, then re-checks the floor's slot (the outer loop);
//   - a consumer clears its pin, then tries `advancing` (through this function); a holder
//     stopped by pins releases `advancing`, then re-reads the pins.
void try_advance(queue_partition& q) noexcept {
  for (;;) {
    std::uint64_t f = q.floor.load(std::memory_order_seq_cst);
    std::uint64_t w = q.slot(f).load(std::memory_order_seq_cst);
    if (slot_word::lap(w) != q.lap(f) || slot_word::state(w) != qstate::acked) return;
    if (q.advancing.exchange(true, std::memory_order_seq_cst)) return;  // its holder re-checks
    f = q.floor.load(std::memory_order_relaxed);  // another holder may have moved it meanwhile
    const std::uint64_t from = f;
    const std::uint64_t limit = pin_limit(q);
    bool pinned = false;
    bool unpublished = false;
    frame_view fv;
    unsigned waits = 0;
    for (;;) {
      w = q.slot(f).load(std::memory_order_acquire);
      if (slot_word::lap(w) != q.lap(f) || slot_word::state(w) != qstate::acked) break;
      if (!q.reader.try_peek(fv)) {
        // The record has its offset (end_offset) but its producer has not published the ring
        // position yet: a few instructions. Leave it to the next ack or housekeeping if not.
        if (++waits > 4096) {
          unpublished = true;
          break;
        }
        cpu_relax();
        continue;
      }
      if (fv.position >= limit) {  // a consumer may still read this record
        pinned = true;
        break;
      }
      q.reader.advance(fv);
      ++f;
    }
    if (f != from) {
      // floor_position first: a receiver that sees a producer reuse space (through the reader's
      // release below) sees a floor position at or after what that space held.
      q.floor_position.store(q.reader.position(), std::memory_order_release);
      q.floor.store(f, std::memory_order_release);
      q.reader.release();  // (R2) pairs with the producer's gate scan (W2)
      q.part.space.notify_all();
    }
    q.advancing.store(false, std::memory_order_seq_cst);
    if (f == from && (unpublished || (pinned && pin_limit(q) == limit))) return;
  }
}

// ---- delivering ----

static void deliver(queue_message& m, const queue_group& g, queue_partition& q,
                    std::uint64_t offset, std::uint32_t delivery, std::int64_t deadline) noexcept {
  fill_record_view(m.record, payload_at(q.part, q.position_of(offset)), g.topic.name, q.part.id);
  m.receipt.queue = g.id;
  m.receipt.partition = q.part.id;
  m.receipt.offset = offset;
  m.receipt.delivery = delivery;
  m.receipt.deadline = steady_point(deadline);
}

// Whether a message never delivered may go now (delivery delay), and if not, the steady
// clock ns at which it may. Reads the record: the caller owns the offset, so its ring space
// is held.
static bool due(const queue_group& g, queue_partition& q, std::uint64_t offset, std::int64_t now,
                std::int64_t now_real, std::int64_t& when) noexcept {
  if (g.settings.delivery_delay.count() == 0) return true;
  const record_header h = decode_record_header(payload_at(q.part, q.position_of(offset)));
  const std::int64_t at = saturating_add(h.timestamp_ns, g.settings.delivery_delay.count());
  if (at <= now_real) return true;
  when = saturating_add(now, at - now_real);
  return false;
}

// Marks [from, to) acked without delivery: messages the log's retention dropped before this
// share group got to them. The caller owns these offsets.
static void skip(queue_partition& q, std::uint64_t from, std::uint64_t to) noexcept {
  for (std::uint64_t o = from; o < to; ++o) {
    q.slot(o).store(slot_word::make(q.lap(o), 0, qstate::acked), std::memory_order_release);
  }
  q.skipped.fetch_add(to - from, std::memory_order_relaxed);
  try_advance(q);
}

// The end of what a receiver may take: the published end, or, for receivers of a durable
// topic that read durable records only (the default), the durable offset.
std::uint64_t takeable_end(const queue_partition& q, bool durable_only) noexcept {
  // (acquire) pairs with the producer's release of end_offset: the records, their index
  // entries and every earlier record are visible.
  const std::uint64_t e = q.part.end_offset.load(std::memory_order_acquire);
  return durable_only && q.part.durable() ? std::min(e, q.part.durable_offset()) : e;
}

// Share groups: when retention moved the log start past the claim cursor, takes the dropped
// offsets and skips them. Returns the claim cursor to use.
static std::uint64_t catch_up(const queue_group& g, queue_partition& q, std::uint64_t c) noexcept {
  if (!g.share) return c;
  for (;;) {
    const std::uint64_t ls = q.part.log_start_offset.load(std::memory_order_acquire);
    if (c >= ls) return c;
    if (q.claim.compare_exchange_weak(c, ls, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      skip(q, c, ls);
      return ls;
    }
  }
}

// best_effort: messages given back first, then fresh ones taken in batches with one CAS.
std::size_t take(const queue_group& g, queue_partition& q, bool durable_only, queue_message* out,
                 std::size_t want, std::int64_t now, std::int64_t now_real) noexcept {
  std::size_t n = 0;
  const std::int64_t deadline = saturating_add(now, g.settings.visibility_timeout.count());
  std::int64_t soonest = never;
  std::uint64_t o = 0;
  while (n < want && q.ready.try_pop(o)) {
    std::atomic<std::uint64_t>& s = q.slot(o);
    const std::uint64_t w = s.load(std::memory_order_acquire);
    if (slot_word::lap(w) != q.lap(o) || slot_word::state(w) != qstate::ready) continue;
    // The popper owns a ready slot: nobody else writes it or its deadline.
    const std::uint32_t d = slot_word::delivery(w) + 1;
    q.deadline(o).store(deadline, std::memory_order_relaxed);
    s.store(slot_word::make(q.lap(o), d, qstate::in_flight), std::memory_order_release);
    if (d > 1) q.redelivered.fetch_add(1, std::memory_order_relaxed);
    deliver(out[n++], g, q, o, d, deadline);
    soonest = deadline;
  }
  while (n < want) {
    std::uint64_t c = catch_up(g, q, q.claim.load(std::memory_order_acquire));
    std::uint64_t k = 0;
    for (;;) {
      const std::uint64_t e = takeable_end(q, durable_only);
      if (c >= e) break;
      k = std::min<std::uint64_t>(want - n, e - c);
      if (q.claim.compare_exchange_weak(c, c + k, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        break;
      }
      k = 0;
      c = catch_up(g, q, c);
    }
    if (k == 0) break;
    // We own [c, c + k) now.
    for (std::uint64_t i = 0; i < k; ++i) {
      const std::uint64_t off = c + i;
      std::int64_t when = 0;
      if (!due(g, q, off, now, now_real, when)) {  // delivery delay: given back when due
        q.deadline(off).store(when, std::memory_order_relaxed);
        q.slot(off).store(slot_word::make(q.lap(off), 0, qstate::delayed),
                          std::memory_order_release);
        soonest = std::min(soonest, when);
        continue;
      }
      q.deadline(off).store(deadline, std::memory_order_relaxed);
      q.slot(off).store(slot_word::make(q.lap(off), 1, qstate::in_flight),
                        std::memory_order_release);
      deliver(out[n++], g, q, off, 1, deadline);
      soonest = std::min(soonest, deadline);
    }
  }
  if (soonest != never) q.note_deadline(soonest);  // after the slot stores (see note_deadline)
  return n;
}

// strict_per_key: the holder of `dispatching` walks [floor, end) in offset order and delivers
// a ready message only if no earlier unacked message of the walk has its key.
static bool seen_or_insert(queue_partition& q, std::uint64_t h) noexcept {
  std::uint64_t i = h & q.seen_mask;
  while (q.seen_epoch[i] == q.epoch) {
    if (q.seen_keys[i] == h) return true;
    i = (i + 1) & q.seen_mask;
  }
  q.seen_epoch[i] = q.epoch;
  q.seen_keys[i] = h;
  return false;
}

std::size_t dispatch(const queue_group& g, queue_partition& q, bool durable_only,
                     queue_message* out, std::size_t want, std::int64_t now,
                     std::int64_t now_real) noexcept {
  if (q.dispatching.exchange(true, std::memory_order_acquire)) return 0;  // another receiver
  const std::int64_t deadline = saturating_add(now, g.settings.visibility_timeout.count());
  // Writes the slots (ready, delivery 0) and key hashes of the records published since.
  std::uint64_t c = catch_up(g, q, q.claim.load(std::memory_order_acquire));
  const std::uint64_t e = takeable_end(q, durable_only);
  for (std::uint64_t o = c; o < e; ++o) {
    const std::byte* data = payload_at(q.part, q.position_of(o));
    const record_header h = decode_record_header(data);
    std::uint64_t kh = 0;
    if (h.key_size != record_header::no_key) {
      kh = key_hash(data + sizeof(record_header), h.key_size) | 1u;  // never 0 (0: no key)
    }
    q.key_hashes[o & q.mask] = kh;
    q.slot(o).store(slot_word::make(q.lap(o), 0, qstate::ready), std::memory_order_release);
  }
  if (e > c) q.claim.store(e, std::memory_order_release);
  if (++q.epoch == 0) {  // wrapped: forget every old mark
    std::fill_n(q.seen_epoch.get(), q.seen_mask + 1, 0u);
    q.epoch = 1;
  }
  std::size_t n = 0;
  std::int64_t soonest_due = never;
  std::uint64_t distinct = 0;
  const std::uint64_t limit = (q.seen_mask + 1) / 2;
  const std::uint64_t f = q.floor.load(std::memory_order_acquire);
  for (std::uint64_t o = f; o < e && n < want && distinct < limit; ++o) {
    std::atomic<std::uint64_t>& s = q.slot(o);
    const std::uint64_t w = s.load(std::memory_order_acquire);
    if (slot_word::lap(w) != q.lap(o)) continue;
    const qstate st = slot_word::state(w);
    if (st == qstate::acked) continue;
    const std::uint64_t kh = q.key_hashes[o & q.mask];
    if (kh != 0) {
      if (seen_or_insert(q, kh)) continue;  // an earlier message of this key is not done
      ++distinct;
    }
    if (st != qstate::ready) continue;
    std::int64_t when = 0;
    if (slot_word::delivery(w) == 0 && !due(g, q, o, now, now_real, when)) {
      soonest_due = std::min(soonest_due, when);
      continue;
    }
    const std::uint32_t d = slot_word::delivery(w) + 1;
    q.deadline(o).store(deadline, std::memory_order_relaxed);
    std::uint64_t expected = w;
    if (!s.compare_exchange_strong(expected, slot_word::make(q.lap(o), d, qstate::in_flight),
                                   std::memory_order_acq_rel)) {
      continue;
    }
    if (d > 1) q.redelivered.fetch_add(1, std::memory_order_relaxed);
    deliver(out[n++], g, q, o, d, deadline);
  }
  q.dispatching.store(false, std::memory_order_release);
  if (n != 0) q.note_deadline(deadline);
  (void)soonest_due;  // receivers of delayed queues re-check every millisecond (next_wake)
  return n;
}

// ---- giving back, dead letters, expiry ----

// Publishes the message at `offset` to the dead-letter topic. Caller holds `scanning`.
static bool dead_letter(const queue_group& g, queue_partition& q, std::uint64_t offset,
                        std::uint32_t delivery) noexcept {
  const std::byte* data = payload_at(q.part, q.position_of(offset));
  record_view r;
  fill_record_view(r, data, g.topic.name, q.part.id);
  auto number = [&](std::size_t i, std::uint64_t v) {
    auto& buf = q.numbers[i];
    const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string_view(buf.data(), static_cast<std::size_t>(res.ptr - buf.data()));
  };
  q.dlq_headers.clear();
  for (header h : r.headers) {
    if (q.dlq_headers.size() == max_kept_headers) break;
    q.dlq_headers.push_back(h);  // capacity reserved: no allocation
  }
  q.dlq_headers.push_back({dead_letter_headers::topic, g.topic.name});
  q.dlq_headers.push_back({dead_letter_headers::group, g.name});
  q.dlq_headers.push_back({dead_letter_headers::partition, number(0, q.part.id)});
  q.dlq_headers.push_back({dead_letter_headers::offset, number(1, offset)});
  q.dlq_headers.push_back({dead_letter_headers::deliveries, number(2, delivery)});
  publish_options o;
  o.timestamp_ns = r.timestamp_ns;
  o.headers = q.dlq_headers;
  const std::optional<std::string_view> key =
      r.has_key ? std::optional<std::string_view>(r.key) : std::nullopt;
  return static_cast<bool>(q.dead_letters.try_publish(key, r.value, o));
}

// Walks [floor, claim): gives back in-flight messages past their deadline and delayed ones
// that are due, dead-letters messages past max_deliveries. Only when next_expiry has passed,
// and only one caller at a time (others skip it).
void scan(queue_group& g, queue_partition& q, std::int64_t now) noexcept {
  if (now < q.next_expiry.load(std::memory_order_acquire)) return;
  if (q.scanning.exchange(true, std::memory_order_acquire)) return;
  // Reset before walking: a deadline noted after this RMW stays; one noted before it
  // happened before it, and so did its slot store, which the walk then sees.
  (void)q.next_expiry.exchange(never, std::memory_order_acq_rel);
  std::int64_t soonest = never;
  bool gave_back = false;
  bool acked = false;
  const std::uint64_t f = q.floor.load(std::memory_order_acquire);
  const std::uint64_t c = q.claim.load(std::memory_order_acquire);
  const std::uint32_t max = g.settings.max_deliveries;
  for (std::uint64_t o = f; o < c; ++o) {
    std::atomic<std::uint64_t>& s = q.slot(o);
    std::uint64_t w = s.load(std::memory_order_acquire);
    if (slot_word::lap(w) != q.lap(o)) continue;
    const qstate st = slot_word::state(w);
    if (st != qstate::in_flight && st != qstate::delayed && st != qstate::dead) continue;
    const std::uint32_t d = slot_word::delivery(w);
    if (st != qstate::dead) {
      if (q.deadline(o).load(std::memory_order_relaxed) > now) {
        soonest = std::min(soonest, q.deadline(o).load(std::memory_order_relaxed));
        continue;
      }
      // Own it (busy), then decide on the deadline it has now: an extend may have moved it.
      if (!s.compare_exchange_strong(w, slot_word::make(q.lap(o), d, qstate::busy),
                                     std::memory_order_acq_rel)) {
        continue;  // acked, nacked or extended meanwhile; whoever did noted its deadline
      }
      const std::int64_t dl = q.deadline(o).load(std::memory_order_relaxed);
      if (dl > now) {
        s.store(w, std::memory_order_release);
        soonest = std::min(soonest, dl);
        continue;
      }
      if (st == qstate::in_flight && max != 0 && d >= max) {
        w = slot_word::make(q.lap(o), d, qstate::dead);
        s.store(w, std::memory_order_release);
      } else {
        s.store(slot_word::make(q.lap(o), d, qstate::ready), std::memory_order_release);
        if (!g.strict) (void)q.ready.try_push(o);  // never full: one entry per window offset
        gave_back = true;
        continue;
      }
    }
    // dead: the scanner is the only one that moves it on.
    if (dead_letter(g, q, o, d)) {
      // Counted before the slot store: a durable queue's persister that sees the slot acked
      // sees the count too, and makes the dead letter durable before the ack (queue_acks.cpp).
      q.dead_lettered.fetch_add(1, std::memory_order_relaxed);
      s.store(slot_word::make(q.lap(o), d, qstate::acked), std::memory_order_seq_cst);
      acked = true;
    } else {
      soonest = std::min(soonest, saturating_add(now, dead_letter_retry_ns));
    }
  }
  if (soonest != never) {
    // Scans coalesce: the next one waits at least scan_gap (so a steady stream of deadlines
    // costs one walk of the window per gap, not one per receive); deadlines noted later by
    // nack, extend or a dead letter are not held back.
    const std::int64_t gap =
        std::min<std::int64_t>(scan_gap_ns, g.settings.visibility_timeout.count() / 4);
    q.note_deadline(std::max(soonest, saturating_add(now, gap)));
  }
  q.scanning.store(false, std::memory_order_release);
  if (acked) try_advance(q);
  if (gave_back || acked) {
    g.changes.fetch_add(1, std::memory_order_release);
    g.topic.data.notify_all();
    g.topic.durable_data.notify_all();
  }
}

// ---- ack, nack, extend ----

// Finds the receipt's slot and takes it out of in_flight: to acked (ack) or busy (nack,
// extend; the caller then stores the new state). Returns ok, or why not.
errc take_in_flight(queue_partition& q, const receipt& r, op what, std::uint64_t& word) noexcept {
  const std::uint64_t o = r.offset;
  if (o < q.start || o >= q.claim.load(std::memory_order_acquire)) return errc::invalid_argument;
  std::atomic<std::uint64_t>& s = q.slot(o);
  std::uint64_t w = s.load(std::memory_order_acquire);
  for (unsigned spins = 0;; ++spins) {
    if (slot_word::lap(w) != q.lap(o)) {
      // The floor passed it and its slot went to a later offset: it was acked.
      return o < q.floor.load(std::memory_order_acquire) ? errc::already_acked
                                                         : errc::invalid_argument;
    }
    const qstate st = slot_word::state(w);
    const std::uint32_t d = slot_word::delivery(w);
    if (st == qstate::busy) {  // an expiry, nack or extend right now: a few instructions
      if (spins < 64) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // its owner was preempted
      }
      w = s.load(std::memory_order_acquire);
      continue;
    }
    // Acked (by any receipt, or dead-lettered): that is what the caller needs to know.
    if (st == qstate::acked) return errc::already_acked;
    if (st == qstate::none) return errc::invalid_argument;
    if (d != (r.delivery & slot_word::delivery_mask)) {
      return d > r.delivery ? errc::stale_receipt : errc::invalid_argument;
    }
    if (st != qstate::in_flight) return errc::stale_receipt;  // given back (ready, delayed, dead)
    const std::uint64_t to =
        slot_word::make(q.lap(o), d, what == op::ack ? qstate::acked : qstate::busy);
    // seq_cst: the Dekker pair with try_advance's release of `advancing` (see there).
    if (s.compare_exchange_weak(w, to, std::memory_order_seq_cst, std::memory_order_acquire)) {
      word = to;
      return errc::ok;
    }
  }
}

void restore_queue_partition(queue_partition& q, std::uint64_t end,
                             const std::vector<std::pair<std::uint64_t, std::uint64_t>>& acked) {
  // Nobody else touches the partition yet: plain stores would do; the usual orders cost
  // nothing here.
  auto run = acked.begin();
  for (std::uint64_t o = q.start; o < end; ++o) {
    while (run != acked.end() && run->second <= o) ++run;
    const bool is_acked = run != acked.end() && run->first <= o;
    if (is_acked) {
      q.slot(o).store(slot_word::make(q.lap(o), 0, qstate::acked), std::memory_order_release);
      continue;
    }
    if (q.group.strict) {  // dispatch needs the key hashes of what it walks
      const std::byte* data = payload_at(q.part, q.position_of(o));
      const record_header h = decode_record_header(data);
      q.key_hashes[o & q.mask] = h.key_size == record_header::no_key
                                     ? 0
                                     : (key_hash(data + sizeof(record_header), h.key_size) | 1u);
    }
    q.slot(o).store(slot_word::make(q.lap(o), 0, qstate::ready), std::memory_order_release);
    if (!q.group.strict) (void)q.ready.try_push(o);  // one entry per window offset: fits
  }
  q.claim.store(end, std::memory_order_release);
  try_advance(q);
}

void queue_housekeeping(topic_state& t) noexcept {
  std::vector<std::shared_ptr<queue_group>> groups;  // the housekeeping thread: may allocate
  {
    std::lock_guard lock(t.groups_mu);
    if (t.queue_groups.empty()) return;
    groups.reserve(t.queue_groups.size());
    for (auto& [name, g] : t.queue_groups) groups.push_back(g);
  }
  const std::int64_t now = t.steady_now();
  for (const auto& g : groups) {
    for (auto& q : g->partitions) {
      scan(*g, *q, now);
      try_advance(*q);
    }
  }
  if (t.config.mode == topic_mode::queue) {
    // The log start follows the ack floor, so describe_topic's bytes and log start tell what
    // the queue holds. Producers that find the ring full do the same (make_room).
    for (auto& p : t.partitions) {
      std::lock_guard lock(p->mu);
      const std::uint64_t limit = p->ring.min_reader_position(&p->retention);
      p->drop_before(limit, limit);
    }
  }
}

}  // namespace lanes::detail
