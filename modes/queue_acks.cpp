// modes/queue_acks.cpp: durable queues: acks on disk, recovery of the unacked set.
//
// A durable queue topic's partitions are persisted like durable log topics (enqueues: the
// persister appends ring frames to segment files; producers' durable acks as for log
// topics). What a queue adds is its acks. Per partition the persister keeps an append-only
// acks file, <data_dir>/<topic>/<partition>/acks (io/FORMAT.md, "Acks file"): CRC-protected
// 32-byte records, either "every offset below F is acked" (the ack floor) or "[a, b) is
// acked" (acks above the floor, which wait behind an older unacked message).
//
// Who writes what. Ackers never touch the file: an ack is the CAS of the message's delivery
// state to acked (modes/queue_delivery.cpp), lock-free as for memory queues. The persister runs a
// round per partition when one is due (a sync acker waits, or sync_interval passed since
// the last round): it reads the floor, walks the delivery states of [floor, claim) for acks
// it has not written yet, re-reads the floor, appends the records and fdatasyncs the file.
// The persister keeps a bitmap of the acks on disk above the durable floor, so each ack is
// written once. When the file has grown (kRewriteRecords), it is rewritten whole: floor
// and the acks above it, to a temporary file, fdatasync, rename, directory fsync.
//
// Ring space. The records from the durable ack floor on stay in the ring: a gating reader of
// the persister's (queue_acks::reader) sits at the durable floor and moves only after a
// round made a new floor durable. After a crash, recovery therefore finds every record that
// is not acked on disk in the segment files and fits them back into a ring of the same
// capacity (they were all in it at once). A producer may wait a little longer for room in
// async mode (up to one round), which is the price of that guarantee.
//
// What ack means.
//   sync:  ack returns once a round that began after it is durable (SQS's DeleteMessage):
//          a message whose ack returned ok is never delivered again, even after SIGKILL or
//          power loss. ack(span) waits once per partition touched.
//   async: ack returns at once; the ack is on disk within about sync_interval. A crash
//          before that makes the message unacked again: it is redelivered (at least once),
//          never lost.
// In both modes an ack that could not be made durable (the acks file failed) returns that
// error; the message stays acked in memory but may come back after a restart.
//
// Recovery (recover_queue_partition, then restore_queue_partition in queue_delivery.cpp). The acks
// file is read record by record; the first bad record ends it (a torn tail: never synced,
// so never reported to anyone). Acks at or past the recovered log end are dropped (their
// records did not survive; their offsets will name new records), and the floor is clamped
// into [log start, log end]. The records [floor, end) are read from the segment files and
// put back into the ring at their offsets, timestamps, keys, headers and values; those the
// file says are acked are marked acked (never delivered again), the others are ready with a
// delivery count of 0: after a crash delivery counts start again at 1 and receipts from
// before are unknown (invalid_argument or foreign_receipt). Delivery delays are not applied
// again. Before anything new is appended, the acks file is rewritten with the clamped state.
//
// Damage. The first record that fails its checks (magic, version, kind, CRC, range) ends
// the file: it and every record after it are ignored, so their acks count as not acked and
// those messages are delivered again (at least once), never lost. Bad records up to the end
// are a torn append (a crash mid-round: never synced, never reported); a good record after a
// bad one is damage, and the file is then kept aside as acks.damaged-<ns> for a person. A damaged
// file header counts as an empty file (everything from the log start is redelivered). If the
// unacked records then do not fit the ring, the bus does not open (capacity_too_small, naming the
// topic): raise ring_capacity in topic.conf.
//
// Dead letters. A message moved to the dead-letter topic is acked here once that topic took
// it (try_publish succeeded). When the dead-letter topic is durable, a round that writes acks
// first makes that topic's records durable (dead letters published before the round's scan),
// so a dead-lettered message is never acked on disk before its dead letter is.
//
// Segments. After a round moved the durable floor, whole sealed segments whose records all
// lie below it are deleted (partition_log::delete_segments_below).
//
// Queue groups of log topics (share groups) are not persisted: they live as long as their
// consumers, and the log's retention keeps the records.
#include <algorithm>
#include <cstring>
#include <thread>

#include "bus_state.hpp"
#include "lanes/acks_file.hpp"
#include "lanes/clock.hpp"
#include "lanes/segment_format.hpp"
#include "queue_state.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

namespace fs = std::filesystem;

namespace {

// The acks file is rewritten (compacted) once this many records were appended to it.
constexpr std::uint64_t kRewriteRecords = 4096;
// How long a sync acker waits for its round at most.
constexpr auto ack_wait_limit = std::chrono::seconds(30);

// Reads the records [from, end) of p's log into its (empty) ring at their offsets. The
// ring must take them all: they were all in it before the crash.
errc reload_records(topic_state& t, partition_state& p, std::uint64_t from, std::uint64_t end,
                    std::string& detail) {
  partition_persistence& ps = *p.persist;
  std::vector<std::byte> buf(std::size_t{ps.max_batch_bytes} + io::batch_header_size);
  std::uint64_t next = from;
  const std::uint64_t cap = p.ring.capacity();
  auto where = [&] { return t.name + "/" + std::to_string(p.id); };
  while (next < end) {
    const std::uint64_t before = next;
    const io::read_result r = persist_read(p, next, buf);
    if (r.status != errc::ok || r.bytes == 0) {
      detail = "durable queue " + where() + ": cannot read offset " + std::to_string(next) +
               " back from its segments";
      return r.status == errc::ok ? errc::corrupt_log : r.status;
    }
    errc bad = errc::ok;
    io::for_each_batch(std::span<const std::byte>(buf.data(), r.bytes), ps.max_batch_bytes,
                       [&](const io::batch_header&, std::span<const std::byte> payload) {
                         detail::frame_walker w(payload, cap);
                         detail::record_frame f;
                         while (bad == errc::ok) {
                           const detail::frame_step s = w.next(f);
                           if (s == detail::frame_step::end || s == detail::frame_step::cut) break;
                           if (s != detail::frame_step::record) {
                             bad = errc::corrupt_log;
                             break;
                           }
                           const frame_header& fh = f.frame;
                           const std::byte* body = f.rec;
                           const record_header rh = detail::decode_record_header(body);
                           if (rh.offset < next) continue;  // before `from`, same batch
                           if (rh.offset != next || next >= end) {
                             if (next < end) bad = errc::corrupt_log;
                             break;
                           }
                           frame_claim c = p.ring.try_claim(fh.length);
                           if (!c) {
                             bad = errc::capacity_too_small;
                             break;
                           }
                           std::memcpy(c.data, body, fh.length);
                           if (fh.user != 0) p.ring.set_user(c, fh.user);
                           const auto at = static_cast<std::uint32_t>(c.position & (cap - 1));
                           p.ring.commit(c, [&] {
                             p.index[next & p.index_mask].store(at, std::memory_order_relaxed);
                             p.end_offset.store(next + 1, std::memory_order_release);
                           });
                           ++next;
                         }
                       });
    if (bad == errc::capacity_too_small) {
      detail = "durable queue " + where() + ": the " + std::to_string(end - from) +
               " messages not acked on disk need more than the ring's " + std::to_string(cap) +
               " bytes; raise ring_capacity in topic.conf";
      return bad;
    }
    if (bad != errc::ok || next == before) {
      detail = "durable queue " + where() + ": records around offset " + std::to_string(next) +
               " do not decode";
      return errc::corrupt_log;
    }
  }
  return errc::ok;
}

// Rewrites the file whole: the durable floor and the acks above it (the bitmap's runs).
errc write_acks_file(queue_acks& a) {
  io::ack_ranges ranges;
  for (std::uint64_t o = a.floor; o < a.high;) {
    if ((a.acked[(o & a.mask) >> 6] >> (o & 63) & 1u) == 0) {
      ++o;
      continue;
    }
    std::uint64_t e = o + 1;
    while (e < a.high && (a.acked[(e & a.mask) >> 6] >> (e & 63) & 1u) != 0) ++e;
    ranges.emplace_back(o, e);
    o = e;
  }
  return a.file.rewrite(a.floor, ranges);
}

void set_bit(queue_acks& a, std::uint64_t o) noexcept {
  a.acked[(o & a.mask) >> 6] |= std::uint64_t{1} << (o & 63);
}
bool has_bit(const queue_acks& a, std::uint64_t o) noexcept {
  return (a.acked[(o & a.mask) >> 6] >> (o & 63) & 1u) != 0;
}

// Moves the durable floor to f: clears the bits below it.
void move_floor(queue_acks& a, std::uint64_t f) noexcept {
  if (f - a.floor > a.mask) {
    std::fill(a.acked.begin(), a.acked.end(), 0);
  } else {
    for (std::uint64_t o = a.floor; o < f; ++o) {
      a.acked[(o & a.mask) >> 6] &= ~(std::uint64_t{1} << (o & 63));
    }
  }
  a.floor = f;
  a.high = std::max(a.high, f);
}

void finish_round(ack_sync& s, std::uint64_t round) noexcept {
  s.durable.store(round, std::memory_order_release);  // pairs with wait_ack_durable's acquire
  s.done.notify_all();
}

void fail_acks(ack_sync& s, errc e) noexcept {
  errc ok = errc::ok;
  (void)s.status.compare_exchange_strong(ok, e, std::memory_order_acq_rel);
  s.done.notify_all();
}

// The runs of offsets in [from, claim) acked in memory but not yet on disk, into a.runs.
void collect_new_acks(queue_acks& a, queue_partition& q, std::uint64_t from, std::uint64_t claim) {
  a.runs.clear();
  bool open = false;
  for (std::uint64_t o = from; o < claim; ++o) {
    const std::uint64_t w = q.slot(o).load(std::memory_order_seq_cst);
    const bool acked = slot_word::lap(w) == q.lap(o) && slot_word::state(w) == qstate::acked;
    if (acked && !has_bit(a, o)) {
      if (open) {
        a.runs.back().second = o + 1;
      } else {
        a.runs.emplace_back(o, o + 1);  // reserved; grows only with many gaps (persister)
        open = true;
      }
    } else {
      open = false;
    }
  }
}

// The durable floor moved: the ring may reuse the space of the records below it, and whole
// segments below it go.
void release_below_floor(queue_acks& a, partition_state& p) noexcept {
  frame_view fv;
  while (a.released < a.floor && a.reader.try_peek(fv)) {
    a.reader.advance(fv);
    ++a.released;
  }
  a.reader.release();  // (R2) pairs with the producers' gate scan
  p.space.notify_all();
  (void)p.persist->log->delete_segments_below(a.floor);
}

// Durable dead-letter topic: makes the dead letters published so far durable before the
// round writes the acks that stand for them. Persister thread (it owns that topic's logs).
bool dead_letters_durable(const queue_partition& q) noexcept {
  const std::shared_ptr<topic_state>& d = q.group.dead_letter_topic;
  if (!d || !d->durable()) return true;
  for (auto& pp : d->partitions) {
    partition_state& dp = *pp;
    if (!dp.persist || dp.persist->closed) continue;
    const std::uint64_t end = dp.end_offset.load(std::memory_order_acquire);
    if (dp.durable_offset() >= end) continue;
    for (int i = 0; i < 1000 && dp.persist->log->appended_offset() < end; ++i) {
      (void)persist_pump(*d, dp);
      if (dp.persist->log->appended_offset() < end) std::this_thread::yield();
    }
    if (dp.persist->log->flush(std::chrono::seconds(5)) != errc::ok) return false;
    persist_pump(*d, dp);  // gives the written frames back to the ring
    if (dp.durable_offset() < end) return false;
  }
  return true;
}

}  // namespace

errc recover_queue_partition(topic_state& t, partition_state& p, std::string& detail,
                             std::vector<damage_report>* damage) {
  partition_persistence& ps = *p.persist;
  auto a = std::make_unique<queue_acks>();
  a->file.set_directory(ps.log->directory());
  a->mask = p.index_mask;
  a->acked.assign((p.index_mask + 1 + 63) / 64, 0);
  a->sync.sync = t.config.durable == durability::sync;
  a->sync.wakeup = t.wakeup;
  errc ec = errc::ok;
  a->reader = p.ring.add_reader(&ec);
  if (!a->reader) {
    detail = "durable queue " + t.name + ": no ring reader left (max_readers)";
    return ec;
  }
  const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
  const std::uint64_t log_start = ps.log->log_start_offset();
  io::acks_content l;
  const fs::path file = a->file.path();
  if (io::read_acks_file(file, end, l) != errc::ok) {
    detail = "durable queue " + t.name + ": cannot read " + file.string();
    return errc::file_error;
  }
  if (l.damaged) {
    // Kept for a person; its acks from the damage on count as not acked (redelivered).
    const fs::path aside = io::keep_damaged_acks_file(a->file.directory());
    if (damage != nullptr) {
      damage->push_back({damage_report::kind::acks_damaged, t.name, p.id, 0, 0,
                         file.string() + ": " + l.detail + "; a copy is kept as " + aside.string() +
                             "; its acks from the damage on count as not acked (those "
                             "messages are delivered again: at least once, none lost)"});
    }
  }
  // Below the log start every record was deleted because it was acked; past the end, acks
  // name records that did not survive.
  const std::uint64_t floor = std::min(std::max(l.floor, log_start), end);
  io::normalise_ack_ranges(l.ranges, floor);
  // The ring holds [floor, end) from position 0 on; every reader starts at the floor.
  p.start_at(floor);
  if (const errc e = reload_records(t, p, floor, end, detail); e != errc::ok) return e;
  if (p.end_offset.load(std::memory_order_acquire) != end) {
    detail = "durable queue " + t.name + "/" + std::to_string(p.id) + ": reloaded up to " +
             std::to_string(p.end_offset.load()) + ", expected " + std::to_string(end);
    return errc::corrupt_log;
  }
  p.opened_at = end;  // reloaded records were published before: not counted as records in
  // The persister appends what comes after the reloaded records (they are in the files).
  ps.reader.reset_to(p.ring.published_position());
  ps.appended_pos = p.ring.published_position();
  a->reader.reset_to(0);  // the floor's record, the first in the ring
  a->floor = floor;
  a->released = floor;
  a->high = floor;
  for (const auto& [first, last] : l.ranges) {
    for (std::uint64_t o = first; o < last; ++o) set_bit(*a, o);
    a->high = std::max(a->high, last);
  }
  a->recovered = std::move(l.ranges);
  a->recovered_end = end;
  ps.acks = std::move(a);
  return errc::ok;
}

errc attach_queue_acks(topic_state& t, std::string& detail) {
  std::shared_ptr<queue_group> g;
  {
    std::lock_guard lock(t.groups_mu);
    auto it = t.queue_groups.find(std::string_view());
    if (it == t.queue_groups.end()) return errc::invalid_config;
    g = it->second;
  }
  for (auto& pp : t.partitions) {
    partition_state& p = *pp;
    queue_acks& a = *p.persist->acks;
    queue_partition& q = *g->partitions[p.id];
    restore_queue_partition(q, a.recovered_end, a.recovered);
    a.recovered.clear();
    a.recovered.shrink_to_fit();
    a.queue = &q;
    a.file.reserve(64);
    a.runs.reserve(64);
    if (const errc e = write_acks_file(a); e != errc::ok) {
      detail = "durable queue " + t.name + ": cannot write " + a.file.path().string();
      return e;
    }
    q.durable_acks = &a.sync;
  }
  return errc::ok;
}

void persist_acks(topic_state& t, partition_state& p, wait_clock::time_point now,
                  bool force) noexcept {
  queue_acks& a = *p.persist->acks;
  if (a.queue == nullptr || !a.file.is_open()) return;
  ack_sync& s = a.sync;
  const bool wanted = s.waiters.load(std::memory_order_acquire) != 0;
  if (!force && !wanted && now - a.last_round < t.config.sync_interval) return;
  if (s.status.load(std::memory_order_acquire) != errc::ok) return;
  a.last_round = now;
  queue_partition& q = *a.queue;
  const std::uint64_t round = s.started.load(std::memory_order_relaxed) + 1;
  // seq_cst, and the slot loads below: a sync acker that read `started` before this store
  // acked before it, so the walk sees its ack (or a floor past it).
  s.started.store(round, std::memory_order_seq_cst);
  const std::uint64_t f1 = q.floor.load(std::memory_order_seq_cst);
  const std::uint64_t claim = q.claim.load(std::memory_order_seq_cst);
  collect_new_acks(a, q, std::max(f1, a.floor), claim);
  // A slot that showed a later lap was passed by the floor: this load sees that floor.
  const std::uint64_t f2 = std::max(q.floor.load(std::memory_order_acquire), a.floor);
  a.file.drop_pending();
  for (auto& [first, last] : a.runs) {
    if (last > f2) a.file.add_range(std::max(first, f2), last);
  }
  if (f2 > a.floor) a.file.add_floor(f2);
  if (a.file.pending_records() == 0) {
    finish_round(s, round);
    return;
  }
  // Acked slots this round may stand for dead letters: only when the count moved (it is
  // counted before the slot is stored acked, so a slot seen acked above is counted here).
  const std::uint64_t dead = q.dead_lettered.load(std::memory_order_acquire);
  if (dead != a.dead_letters_covered) {
    if (!dead_letters_durable(q)) {
      a.last_round = wait_clock::time_point{};  // try again next time round
      return;
    }
    a.dead_letters_covered = dead;
  }
  if (const errc e = a.file.append_pending(); e != errc::ok) {
    // As a failed log: the partition fails (producers get the error instead of waiting for
    // ring space the durable floor will never give back), ackers get it too.
    fail_acks(s, e);
    p.fail(e);
    return;
  }
  const bool floor_moved = f2 > a.floor;
  move_floor(a, f2);
  for (const auto& [first, last] : a.runs) {
    for (std::uint64_t o = std::max(first, f2); o < last; ++o) set_bit(a, o);
    a.high = std::max(a.high, last);
  }
  if (floor_moved) release_below_floor(a, p);
  if (a.file.records_since_rewrite() >= kRewriteRecords) {
    if (const errc e = write_acks_file(a); e != errc::ok) {
      fail_acks(s, e);
      p.fail(e);
      return;
    }
  }
  finish_round(s, round);
}

void close_queue_acks(topic_state& t, partition_state& p) noexcept {
  if (!p.persist || !p.persist->acks) return;
  queue_acks& a = *p.persist->acks;
  persist_acks(t, p, wait_clock::now(), true);
  a.file.close();
  fail_acks(a.sync, errc::closed);  // waiters of rounds that will not come
}

errc wait_ack_durable(ack_sync& s, const topic_state& t) noexcept {
  const std::uint64_t want = s.started.load(std::memory_order_seq_cst) + 1;
  s.waiters.fetch_add(1, std::memory_order_seq_cst);
  s.wakeup->kick();
  const auto deadline = wait_clock::now() + ack_wait_limit;
  errc result = errc::ok;
  // Closing the bus or deleting the topic runs a last round, then sets status to closed.
  auto done = [&] {
    return s.durable.load(std::memory_order_acquire) >= want ||
           s.status.load(std::memory_order_acquire) != errc::ok;
  };
  while (!done()) {
    if (wait_clock::now() >= deadline) break;
    (void)s.done.wait_until(done,
                            std::min(deadline, wait_clock::now() + std::chrono::milliseconds(10)));
  }
  if (s.durable.load(std::memory_order_acquire) < want) {
    const errc st = s.status.load(std::memory_order_acquire);
    result = st != errc::ok                             ? st
             : t.closed.load(std::memory_order_acquire) ? errc::closed
                                                        : errc::timeout;
  }
  s.waiters.fetch_sub(1, std::memory_order_relaxed);
  return result;
}

}  // namespace lanes::detail
