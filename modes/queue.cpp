// modes/queue.cpp: queue mode: queue groups, receive, ack, nack, extend, expiry, dead letters.
// The state machine and who owns what are described in modes/queue_state.hpp.
#include "lanes/queue.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <thread>

#include "lanes/clock.hpp"
#include "queue_state.hpp"
#include "record_codec.hpp"

namespace lanes {
namespace detail {

// Builds producers for dead letters (producer's constructor is private to the bus).
struct queue_access {
  static producer make_producer(std::shared_ptr<topic_state> t) {
    t->producers.fetch_add(1, std::memory_order_relaxed);  // the producer's destructor undoes it
    return producer(std::move(t));
  }
};

namespace {

constexpr std::int64_t never = INT64_MAX;
// Dead letters the dead-letter topic refused (full, deleted) are retried this much later.
constexpr std::int64_t dead_letter_retry_ns = 20'000'000;
// Smallest time between two expiry scans of a partition (at most a quarter of the visibility
// timeout): deadlines may be enforced this late.
constexpr std::int64_t scan_gap_ns = 1'000'000;
// Headers of the original message a dead letter keeps (the rest are dropped).
constexpr std::size_t max_kept_headers = 59;

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(wait_clock::now().time_since_epoch())
      .count();
}

wait_clock::time_point steady_point(std::int64_t ns) noexcept {
  return wait_clock::time_point(
      std::chrono::duration_cast<wait_clock::duration>(std::chrono::nanoseconds(ns)));
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  return b > 0 && a > never - b ? never : a + b;
}

std::atomic<std::uint64_t> next_queue_id{1};

const std::byte* payload_at(const partition_state& p, std::uint64_t position) noexcept {
  return reinterpret_cast<const std::byte*>(&p.ring.frame_at(position)) + sizeof(frame_header);
}

std::uint64_t log2_of(std::uint64_t pow2) noexcept {
  return static_cast<std::uint64_t>(std::countr_zero(pow2));
}

}  // namespace

errc validate_queue(std::string_view name, const topic_config& c) noexcept {
  const queue_settings& q = c.queue;
  if (q.visibility_timeout.count() <= 0) return errc::invalid_config;
  if (q.delivery_delay.count() < 0) return errc::invalid_config;
  if (q.max_deliveries > (1u << 20)) return errc::invalid_config;
  if (q.ordering != queue_ordering::best_effort && q.ordering != queue_ordering::strict_per_key) {
    return errc::invalid_config;
  }
  if ((q.max_deliveries > 0) != !q.dead_letter_topic.empty()) return errc::invalid_config;
  if (!q.dead_letter_topic.empty()) {
    if (!bus::valid_topic_name(q.dead_letter_topic)) return errc::invalid_topic_name;
    if (q.dead_letter_topic == name) return errc::invalid_config;
  }
  if (c.mode == topic_mode::queue) {
    // A queue keeps each message until it is acked: no retention, never overwritten.
    if (c.policy != backpressure::block) return errc::invalid_config;
    if (c.retention_bytes != 0 || c.retention_age.count() != 0) return errc::invalid_config;
  }
  return errc::ok;
}

// ---------------------------------------------------------------------------------------
// queue_partition, queue_group

queue_partition::queue_partition(const queue_group& g, partition_state& p,
                                 std::uint64_t start_offset, std::uint64_t start_position,
                                 frame_ring::reader r)
    : group(g),
      part(p),
      start(start_offset),
      mask(p.index_mask),
      shift(static_cast<unsigned>(log2_of(p.index_mask + 1))),
      slots(std::make_unique<std::atomic<std::uint64_t>[]>(p.index_mask + 1)),
      deadlines(std::make_unique<std::atomic<std::int64_t>[]>(p.index_mask + 1)),
      ready(p.index_mask + 1),
      claim(start_offset),
      floor(start_offset),
      floor_position(start_position),
      reader(std::move(r)),
      pins(std::make_unique<queue_pin[]>(queue_group::max_consumers)) {
  for (std::uint64_t i = 0; i <= mask; ++i) {
    slots[i].store(0, std::memory_order_relaxed);  // lap 0, none
    deadlines[i].store(never, std::memory_order_relaxed);
  }
  if (g.dead_letter_topic) {
    dead_letters = queue_access::make_producer(g.dead_letter_topic);
    dlq_headers.reserve(5 + max_kept_headers);
  }
  if (g.strict) {
    key_hashes = std::make_unique<std::uint64_t[]>(mask + 1);
    // The walk stops after seen_mask / 2 distinct unacked keys, so probes stay short.
    const std::uint64_t n = std::min<std::uint64_t>(2 * (mask + 1), 8192);
    seen_keys = std::make_unique<std::uint64_t[]>(n);
    seen_epoch = std::make_unique<std::uint32_t[]>(n);
    seen_mask = n - 1;
  }
}

queue_group::queue_group(topic_state& t, std::string group_name, std::shared_ptr<topic_state> dlq)
    : id(next_queue_id.fetch_add(1, std::memory_order_relaxed)),
      name(std::move(group_name)),
      topic(t),
      settings(t.config.queue),
      strict(t.config.queue.ordering == queue_ordering::strict_per_key),
      share(t.config.mode == topic_mode::log),
      dead_letter_topic(std::move(dlq)) {}

namespace {

// Opens a queue group on every partition of t, starting at the log start (earliest) or the
// end (latest). Cold path.
errc make_group(topic_state& t, std::string name, std::shared_ptr<topic_state> dlq,
                offset_reset start, std::shared_ptr<queue_group>& out) {
  auto g = std::make_shared<queue_group>(t, std::move(name), std::move(dlq));
  g->partitions.reserve(t.partitions.size());
  for (auto& pp : t.partitions) {
    partition_state& p = *pp;
    errc ec = errc::ok;
    frame_ring::reader r = p.ring.add_reader(&ec);
    if (!r) return ec;
    std::uint64_t offset = 0;
    std::uint64_t position = 0;
    {
      std::lock_guard lock(p.mu);  // a consistent log start and end while we place the reader
      if (start == offset_reset::earliest) {
        offset = p.log_start_offset.load(std::memory_order_acquire);
        position = p.log_start_position.load(std::memory_order_acquire);
      } else {
        offset = p.end_offset.load(std::memory_order_acquire);
        position = p.position_of(offset);
      }
      r.reset_to(position);
    }
    g->partitions.push_back(
        std::make_unique<queue_partition>(*g, p, offset, position, std::move(r)));
  }
  out = std::move(g);
  return errc::ok;
}

}  // namespace

errc open_queue(topic_state& t, std::shared_ptr<topic_state> dead_letters) {
  std::shared_ptr<queue_group> g;
  // Nothing is published yet: the queue starts at offset 0.
  if (const errc e =
          make_group(t, std::string(), std::move(dead_letters), offset_reset::earliest, g);
      e != errc::ok) {
    return e;
  }
  std::lock_guard lock(t.groups_mu);
  t.queue_groups.emplace(std::string(), std::move(g));
  return errc::ok;
}

namespace {

// ---- the ack floor ----

// Lowest ring position a consumer holds views at (UINT64_MAX: none). seq_cst: see try_advance.
std::uint64_t pin_limit(const queue_partition& q) noexcept {
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

void deliver(queue_message& m, const queue_group& g, queue_partition& q, std::uint64_t offset,
             std::uint32_t delivery, std::int64_t deadline) noexcept {
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
bool due(const queue_group& g, queue_partition& q, std::uint64_t offset, std::int64_t now,
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
void skip(queue_partition& q, std::uint64_t from, std::uint64_t to) noexcept {
  for (std::uint64_t o = from; o < to; ++o) {
    q.slot(o).store(slot_word::make(q.lap(o), 0, qstate::acked), std::memory_order_release);
  }
  q.skipped.fetch_add(to - from, std::memory_order_relaxed);
  try_advance(q);
}

// Share groups: when retention moved the log start past the claim cursor, takes the dropped
// offsets and skips them. Returns the claim cursor to use.
// The end of what a receiver may take: the published end, or, for receivers of a durable
// topic that read durable records only (the default), the durable offset.
std::uint64_t takeable_end(const queue_partition& q, bool durable_only) noexcept {
  // (acquire) pairs with the producer's release of end_offset: the records, their index
  // entries and every earlier record are visible.
  const std::uint64_t e = q.part.end_offset.load(std::memory_order_acquire);
  return durable_only && q.part.durable() ? std::min(e, q.part.durable_offset()) : e;
}

std::uint64_t catch_up(const queue_group& g, queue_partition& q, std::uint64_t c) noexcept {
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
bool seen_or_insert(queue_partition& q, std::uint64_t h) noexcept {
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
bool dead_letter(const queue_group& g, queue_partition& q, std::uint64_t offset,
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

enum class op : std::uint8_t { ack, nack, extend };

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

}  // namespace

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

}  // namespace detail

// ---------------------------------------------------------------------------------------
// queue_consumer

struct queue_consumer::impl {
  std::shared_ptr<detail::bus_state> bus;
  std::shared_ptr<detail::topic_state> topic;
  std::shared_ptr<detail::queue_group> group;  // destroyed before `topic`, which owns it
  queue_consumer_config cfg;
  std::vector<queue_message> batch;
  // Pins (see detail::queue_pin): this consumer's slot, and per partition how many messages of
  // its current batch there it has not acked or nacked yet (> 0: the partition is pinned).
  std::uint32_t pin = 0;
  std::vector<std::uint32_t> outstanding;
  std::size_t rr = 0;
  bool closed = false;

  void unpin(detail::queue_partition& q, std::size_t p) noexcept {
    outstanding[p] = 0;
    // seq_cst: the Dekker pair with an advancer stopped by this pin (see try_advance).
    q.pins[pin].position.store(UINT64_MAX, std::memory_order_seq_cst);
    detail::try_advance(q);
  }

  // The deadline every message of the current batch got (one clock reading per receive): it
  // tells the batch's receipts from older ones, which must not count down `outstanding`.
  wait_clock::time_point batch_deadline{};

  // After this consumer acked or nacked a message (the receipt r) of partition p. A receipt
  // moved by extend no longer matches: the partition then stays pinned to the next receive.
  void settled(const receipt& r) noexcept {
    const std::uint32_t p = r.partition;
    if (r.deadline == batch_deadline && p < outstanding.size() && outstanding[p] != 0 &&
        --outstanding[p] == 0) {
      unpin(*group->partitions[p], p);
    }
  }

  errc status() const noexcept {
    if (closed || bus->closed.load(std::memory_order_acquire)) return errc::closed;
    if (topic->closed.load(std::memory_order_acquire)) {
      return topic->deleted.load(std::memory_order_acquire) ? errc::unknown_topic : errc::closed;
    }
    return errc::ok;
  }

  std::size_t take_all(std::size_t max) noexcept {
    detail::queue_group& g = *group;
    const std::int64_t now = detail::steady_ns();
    const std::int64_t now_real = g.settings.delivery_delay.count() != 0 ? realtime_ns() : 0;
    const std::size_t count = g.partitions.size();
    batch_deadline =
        detail::steady_point(detail::saturating_add(now, g.settings.visibility_timeout.count()));
    // The previous batch's views end here (messages still unacked stay held anyway).
    for (std::size_t p = 0; p < count; ++p) {
      if (outstanding[p] != 0) unpin(*g.partitions[p], p);
    }
    std::size_t n = 0;
    for (std::size_t k = 0; k < count && n < max; ++k) {
      const std::size_t p = (rr + k) % count;
      detail::queue_partition& q = *g.partitions[p];
      detail::scan(g, q, now);
      // Pin before taking: every message taken lies at or after the floor position now. The
      // store is ordered before the slot stores of the messages taken (release), which any
      // later ack of them and the advancer that passes them happen after.
      std::atomic<std::uint64_t>& pin_at = q.pins[pin].position;
      pin_at.store(q.floor_position.load(std::memory_order_acquire), std::memory_order_release);
      const std::size_t got =
          g.strict
              ? detail::dispatch(g, q, durable_only(), batch.data() + n, max - n, now, now_real)
              : detail::take(g, q, durable_only(), batch.data() + n, max - n, now, now_real);
      if (got == 0) {
        pin_at.store(UINT64_MAX, std::memory_order_seq_cst);  // nothing held: as unpin
        detail::try_advance(q);
      }
      outstanding[p] = static_cast<std::uint32_t>(got);
      n += got;
    }
    rr = (rr + 1) % count;
    return n;
  }

  bool durable_only() const noexcept { return cfg.read_durable_only && topic->durable(); }

  // Whether a receive may find something now (may be wrong both ways; re-checked).
  bool worth_trying(std::uint64_t changes_seen) const noexcept {
    const detail::queue_group& g = *group;
    if (g.changes.load(std::memory_order_acquire) != changes_seen) return true;
    if (topic->closed.load(std::memory_order_acquire)) return true;
    const std::int64_t now = detail::steady_ns();
    for (const auto& qp : g.partitions) {
      const detail::queue_partition& q = *qp;
      if (q.claim.load(std::memory_order_relaxed) < detail::takeable_end(q, durable_only())) {
        return true;
      }
      if (!q.ready.was_empty()) return true;
      if (now >= q.next_expiry.load(std::memory_order_relaxed)) return true;
    }
    return false;
  }

  wait_clock::time_point next_wake(wait_clock::time_point deadline) const noexcept {
    std::int64_t soonest = detail::never;
    for (const auto& q : group->partitions) {
      soonest = std::min(soonest, q->next_expiry.load(std::memory_order_relaxed));
    }
    auto wake = std::min(deadline, wait_clock::now() + std::chrono::milliseconds(10));
    if (group->settings.delivery_delay.count() != 0) {
      wake = std::min(wake, wait_clock::now() + std::chrono::milliseconds(1));
    }
    if (soonest != detail::never) wake = std::min(wake, detail::steady_point(soonest));
    return wake;
  }

  void leave() noexcept {
    if (closed) return;
    closed = true;
    if (group) {
      for (std::size_t p = 0; p < outstanding.size(); ++p) {
        if (outstanding[p] != 0) unpin(*group->partitions[p], p);
      }
      std::lock_guard lock(group->pins_mu);
      group->pin_taken[pin] = false;  // its pins are all UINT64_MAX now
    }
    if (group && group->share) {
      std::lock_guard lock(topic->groups_mu);
      if (group->consumers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        auto it = topic->queue_groups.find(group->name);
        if (it != topic->queue_groups.end() && it->second == group) {
          topic->queue_groups.erase(it);
        }
      }
    } else if (group) {
      group->consumers.fetch_sub(1, std::memory_order_acq_rel);
    }
    // A share group removed above lets go of the ring now (its readers close with it), not
    // when this consumer object is destroyed. Every call checks `closed` before the group.
    group.reset();
    topic->data.notify_all();
  }

  detail::queue_partition* partition_of(const receipt& r, errc& e) const noexcept {
    if (r.queue != group->id) {
      e = errc::foreign_receipt;
      return nullptr;
    }
    if (r.partition >= group->partitions.size()) {
      e = errc::invalid_partition;
      return nullptr;
    }
    return group->partitions[r.partition].get();
  }
};

queue_consumer::queue_consumer() noexcept = default;
queue_consumer::queue_consumer(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
queue_consumer::queue_consumer(queue_consumer&&) noexcept = default;
queue_consumer& queue_consumer::operator=(queue_consumer&& o) noexcept {
  if (this != &o) {
    close();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
queue_consumer::~queue_consumer() { close(); }

const std::string& queue_consumer::topic() const noexcept {
  static const std::string none;
  return impl_ ? impl_->topic->name : none;
}

void queue_consumer::close() noexcept {
  if (impl_) impl_->leave();
}

receive_result queue_consumer::receive(std::size_t max, std::chrono::nanoseconds timeout) noexcept {
  if (!impl_) return {errc::closed, {}};
  impl& c = *impl_;
  if (const errc e = c.status(); e != errc::ok) return {e, {}};
  max = std::min(max, c.batch.size());
  if (max == 0) return {errc::ok, {}};
  std::uint64_t changes = c.group->changes.load(std::memory_order_acquire);
  std::size_t n = c.take_all(max);
  if (n == 0 && timeout.count() > 0) {
    const auto deadline = wait_clock::now() + timeout;
    for (;;) {
      auto ready = [&] { return c.worth_trying(changes); };
      const auto wake = c.next_wake(deadline);
      if (c.cfg.busy_spin) {
        (void)busy_spin{}.wait_until(ready, wake);
      } else {
        // Durable records only: woken when the durable offset moves (and by acks, nacks and
        // expiries, which notify both).
        (void)(c.durable_only() ? c.topic->durable_data : c.topic->data).wait_until(ready, wake);
      }
      if (const errc e = c.status(); e != errc::ok) return {e, {}};
      changes = c.group->changes.load(std::memory_order_acquire);
      n = c.take_all(max);
      if (n != 0 || wait_clock::now() >= deadline) break;
    }
  }
  return {errc::ok, std::span<const queue_message>(c.batch.data(), n)};
}

errc queue_consumer::ack(const receipt& r) noexcept {
  if (!impl_) return errc::closed;
  impl& c = *impl_;
  if (const errc e = c.status(); e != errc::ok) return e;
  errc e = errc::ok;
  detail::queue_partition* q = c.partition_of(r, e);
  if (q == nullptr) return e;
  std::uint64_t w = 0;
  if (e = detail::take_in_flight(*q, r, detail::op::ack, w); e != errc::ok) return e;
  c.settled(r);  // unpins (and advances) when it was the batch's last there
  detail::try_advance(*q);
  if (c.group->strict) {  // the key's next message may go now
    c.group->changes.fetch_add(1, std::memory_order_release);
    c.topic->data.notify_all();
    c.topic->durable_data.notify_all();
  }
  // Durable queue, sync: returns once the ack is on disk (as SQS's DeleteMessage).
  if (q->durable_acks != nullptr && q->durable_acks->sync) [[unlikely]] {
    return detail::wait_ack_durable(*q->durable_acks, *c.topic);
  }
  return errc::ok;
}

std::size_t queue_consumer::ack(std::span<const receipt> rs, std::span<errc> results) noexcept {
  std::size_t acked = 0;
  if (!impl_ || impl_->status() != errc::ok) {
    const errc e = impl_ ? impl_->status() : errc::closed;
    for (std::size_t i = 0; i < rs.size() && i < results.size(); ++i) results[i] = e;
    return 0;
  }
  impl& c = *impl_;
  // The floor of each partition touched moves once, after the batch (partitions from 64 on:
  // after each ack).
  std::uint64_t touched = 0;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    errc e = errc::ok;
    std::uint64_t w = 0;
    detail::queue_partition* q = c.partition_of(rs[i], e);
    if (q != nullptr) e = detail::take_in_flight(*q, rs[i], detail::op::ack, w);
    if (i < results.size()) results[i] = e;
    if (e != errc::ok) continue;
    ++acked;
    c.settled(rs[i]);
    if (rs[i].partition < 64) {
      touched |= std::uint64_t{1} << rs[i].partition;
    } else {
      detail::try_advance(*q);
    }
  }
  for (; touched != 0; touched &= touched - 1) {
    detail::try_advance(*c.group->partitions[static_cast<std::size_t>(std::countr_zero(touched))]);
  }
  if (acked != 0 && c.group->strict) {
    c.group->changes.fetch_add(1, std::memory_order_release);
    c.topic->data.notify_all();
    c.topic->durable_data.notify_all();
  }
  // Durable queue, sync: one wait for the whole batch (one round covers every partition's
  // acks made before it began, so waiting on each partition touched is quick after the
  // first). An ack that cannot be made durable reports the error and does not count.
  if (acked != 0 && c.group->partitions.front()->durable_acks != nullptr &&
      c.group->partitions.front()->durable_acks->sync) [[unlikely]] {
    errc failed = errc::ok;
    for (std::size_t p = 0; p < c.group->partitions.size() && failed == errc::ok; ++p) {
      bool mine = false;
      for (std::size_t i = 0; i < rs.size() && !mine; ++i) mine = rs[i].partition == p;
      if (mine) failed = detail::wait_ack_durable(*c.group->partitions[p]->durable_acks, *c.topic);
    }
    if (failed != errc::ok) {
      for (std::size_t i = 0; i < rs.size() && i < results.size(); ++i) {
        if (results[i] == errc::ok) results[i] = failed;
      }
      return 0;
    }
  }
  return acked;
}

errc queue_consumer::nack(const receipt& r, std::chrono::nanoseconds delay) noexcept {
  if (!impl_) return errc::closed;
  impl& c = *impl_;
  if (const errc e = c.status(); e != errc::ok) return e;
  errc e = errc::ok;
  detail::queue_partition* q = c.partition_of(r, e);
  if (q == nullptr) return e;
  std::uint64_t w = 0;
  if (e = detail::take_in_flight(*q, r, detail::op::nack, w); e != errc::ok) return e;
  struct settle_at_end {  // after the slot's new state is stored
    impl& c;
    const receipt& r;
    ~settle_at_end() { c.settled(r); }
  } settle{c, r};
  // We own the slot (busy) until the store below.
  detail::queue_group& g = *c.group;
  const std::uint32_t d = detail::slot_word::delivery(w);
  const std::uint32_t lap = q->lap(r.offset);
  std::atomic<std::uint64_t>& s = q->slot(r.offset);
  const std::int64_t now = detail::steady_ns();
  if (g.settings.max_deliveries != 0 && d >= g.settings.max_deliveries) {
    s.store(detail::slot_word::make(lap, d, detail::qstate::dead), std::memory_order_release);
    q->note_deadline(now);
    detail::scan(g, *q, now);  // dead-letters it now (unless a scan runs already: then it does)
  } else if (delay.count() <= 0) {
    s.store(detail::slot_word::make(lap, d, detail::qstate::ready), std::memory_order_release);
    if (!g.strict) (void)q->ready.try_push(r.offset);  // never full, see scan
    g.changes.fetch_add(1, std::memory_order_release);
    c.topic->data.notify_all();
    c.topic->durable_data.notify_all();
  } else {
    const std::int64_t due = detail::saturating_add(now, delay.count());
    q->deadline(r.offset).store(due, std::memory_order_relaxed);
    s.store(detail::slot_word::make(lap, d, detail::qstate::delayed), std::memory_order_release);
    q->note_deadline(due);
  }
  return errc::ok;
}

errc queue_consumer::extend(receipt& r, std::chrono::nanoseconds visibility) noexcept {
  if (!impl_) return errc::closed;
  impl& c = *impl_;
  if (const errc e = c.status(); e != errc::ok) return e;
  if (visibility.count() < 0) return errc::invalid_argument;
  errc e = errc::ok;
  detail::queue_partition* q = c.partition_of(r, e);
  if (q == nullptr) return e;
  std::uint64_t w = 0;
  if (e = detail::take_in_flight(*q, r, detail::op::extend, w); e != errc::ok) return e;
  const std::int64_t due = detail::saturating_add(detail::steady_ns(), visibility.count());
  q->deadline(r.offset).store(due, std::memory_order_relaxed);
  q->slot(r.offset).store(detail::slot_word::make(q->lap(r.offset), detail::slot_word::delivery(w),
                                                  detail::qstate::in_flight),
                          std::memory_order_release);
  q->note_deadline(due);
  r.deadline = detail::steady_point(due);
  return errc::ok;
}

// ---------------------------------------------------------------------------------------
// bus: queue consumers, stats, housekeeping

queue_consumer bus::make_queue_consumer(const queue_consumer_config& config, errc* status) {
  auto fail = [&](errc e) {
    if (status != nullptr) *status = e;
    return queue_consumer();
  };
  if (is_closed()) return fail(errc::closed);
  auto t = state_->find(config.topic);
  if (!t) return fail(errc::unknown_topic);
  if (config.max_receive == 0) return fail(errc::invalid_config);
  std::shared_ptr<detail::queue_group> g;
  if (t->config.mode == topic_mode::queue) {
    if (!config.group.empty()) return fail(errc::invalid_group);
    std::lock_guard lock(t->groups_mu);
    g = t->queue_groups.at(std::string());
    g->consumers.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (config.group.empty() || !valid_group_name(config.group)) return fail(errc::invalid_group);
    // Views stay valid until acked only if the group's reader holds the ring.
    if (t->config.policy != backpressure::block) return fail(errc::wrong_mode);
    if (config.start == offset_reset::error) return fail(errc::invalid_config);
    std::shared_ptr<detail::topic_state> dlq;
    if (!t->config.queue.dead_letter_topic.empty()) {
      dlq = state_->find(t->config.queue.dead_letter_topic);
      if (!dlq) return fail(errc::unknown_topic);
    }
    std::lock_guard lock(t->groups_mu);
    auto it = t->queue_groups.find(config.group);
    if (it != t->queue_groups.end()) {
      g = it->second;
    } else {
      if (const errc e = detail::make_group(*t, config.group, std::move(dlq), config.start, g);
          e != errc::ok) {
        return fail(e);
      }
      t->queue_groups.emplace(config.group, g);
    }
    g->consumers.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint32_t pin = detail::queue_group::max_consumers;
  {
    std::lock_guard lock(g->pins_mu);
    for (std::uint32_t i = 0; i < detail::queue_group::max_consumers; ++i) {
      if (!g->pin_taken[i]) {
        g->pin_taken[i] = true;
        pin = i;
        if (g->pins_used.load(std::memory_order_relaxed) <= i) {
          g->pins_used.store(i + 1, std::memory_order_release);
        }
        break;
      }
    }
  }
  if (pin == detail::queue_group::max_consumers) {
    g->consumers.fetch_sub(1, std::memory_order_relaxed);
    return fail(errc::too_many_readers);
  }
  auto p = std::make_unique<queue_consumer::impl>();
  p->pin = pin;
  p->outstanding.assign(g->partitions.size(), 0);
  p->bus = state_;
  p->topic = std::move(t);
  p->group = std::move(g);
  p->cfg = config;
  p->batch.resize(config.max_receive);
  if (status != nullptr) *status = errc::ok;
  return queue_consumer(std::move(p));
}

namespace detail {

void queue_housekeeping(topic_state& t) noexcept {
  std::vector<std::shared_ptr<queue_group>> groups;  // the housekeeping thread: may allocate
  {
    std::lock_guard lock(t.groups_mu);
    if (t.queue_groups.empty()) return;
    groups.reserve(t.queue_groups.size());
    for (auto& [name, g] : t.queue_groups) groups.push_back(g);
  }
  const std::int64_t now = steady_ns();
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

}  // namespace detail
}  // namespace lanes
