// modes/consumer.cpp: consumers, consumer groups and rebalancing.
#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "bus_state.hpp"
#include "disk_cursor.hpp"
#include "lanes/group_offsets_file.hpp"

namespace lanes {
namespace detail {

void group_state::rebalance_locked(assignment_strategy strategy,
                                   const std::map<std::string, std::uint32_t>& counts) {
  for (member_info& m : members) m.target.clear();
  if (strategy == assignment_strategy::range) {
    // Per topic, contiguous ranges in join order; the first members get one extra.
    for (const auto& [topic, n] : counts) {
      std::vector<member_info*> subs;
      for (member_info& m : members) {
        if (std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end()) {
          subs.push_back(&m);
        }
      }
      if (subs.empty()) continue;
      const std::uint32_t k = static_cast<std::uint32_t>(subs.size());
      std::uint32_t p = 0;
      for (std::uint32_t i = 0; i < k; ++i) {
        const std::uint32_t share = n / k + (i < n % k ? 1 : 0);
        for (std::uint32_t j = 0; j < share; ++j) subs[i]->target.push_back({topic, p++});
      }
    }
  } else {
    // All partitions in (topic, partition) order, dealt to subscribed members in turn.
    std::size_t next = 0;
    for (const auto& [topic, n] : counts) {
      for (std::uint32_t p = 0; p < n; ++p) {
        for (std::size_t tries = 0; tries < members.size(); ++tries) {
          member_info& m = members[next++ % members.size()];
          if (std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end()) {
            m.target.push_back({topic, p});
            break;
          }
        }
      }
    }
  }
  generation.fetch_add(1, std::memory_order_acq_rel);
}

namespace {

record_header header_of(const std::byte* payload) noexcept {
  record_header h;
  std::memcpy(&h, payload, sizeof h);
  return h;
}

}  // namespace
}  // namespace detail

struct consumer::impl {
  using disk_cursor = detail::disk_cursor;

  struct part {
    std::shared_ptr<detail::topic_state> topic;
    detail::partition_state* p = nullptr;
    std::shared_ptr<detail::group_offsets> offsets;  // null without a group
    frame_ring::reader reader;
    std::uint64_t next_offset = 0;
    bool paused = false;
    // backpressure::overwrite: the reader gates the producer only while pinned, and poll
    // copies records out of the ring (the producer may reuse their bytes at any time).
    bool overwrite = false;
    // Durable topics: the next offset is older than the ring's log start; poll reads the
    // segment files until it reaches the ring.
    bool on_disk = false;
    bool dirty = false;         // read from the ring (gating reader) since the last release
    bool needs_seek = false;    // no valid offset and reset policy is error
    std::uint64_t skipped = 0;  // offsets jumped over by the reset policy (see overrun)
    enum class seek_kind : std::uint8_t { none, offset, beginning, end, timestamp };
    seek_kind pending = seek_kind::none;
    std::int64_t pending_value = 0;
    std::unique_ptr<disk_cursor> disk;  // durable topics, while reading the files
  };

  std::shared_ptr<detail::bus_state> bus;
  consumer_config cfg;
  std::shared_ptr<detail::group_state> group;
  std::uint64_t member_id = 0;
  std::uint64_t applied_generation = 0;
  std::vector<std::string> subscribed;
  std::vector<part> parts;
  std::vector<topic_partition> pending;  // assigned by the group, previous owner not gone yet
  std::vector<record_view> batch;
  std::vector<std::byte> arena;  // copies of records from overwrite topics, per poll
  std::uint64_t poll_seq = 0;    // polls so far (disk_cursor::used_in)
  read_error error{};            // this poll: the damage a partition met (corrupt_batch)
  std::string error_text;        // what error.detail points to
  std::size_t rr = 0;
  errc open_error = errc::ok;  // a partition the group gave us could not be opened
  wait_clock::time_point next_auto_commit{};
  bool closed = false;

  part* find(const topic_partition& tp) {
    for (part& a : parts) {
      if (a.p->id == tp.partition && a.topic->name == tp.topic) return &a;
    }
    return nullptr;
  }
  const part* find(const topic_partition& tp) const { return const_cast<impl*>(this)->find(tp); }

  std::map<std::string, std::uint32_t> partition_counts_locked() const {
    std::map<std::string, std::uint32_t> counts;
    for (const auto& [n, t] : bus->topics) counts.emplace(n, t->config.partitions);
    return counts;
  }

  // Where a newly opened partition starts. Caller holds p.mu.
  errc start_offset(part& a, std::uint64_t& out) {
    detail::partition_state& p = *a.p;
    const std::uint64_t ls = p.first_offset();
    const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
    if (a.offsets) {
      const std::int64_t c = a.offsets->committed[p.id].load(std::memory_order_acquire);
      if (c >= 0 && static_cast<std::uint64_t>(c) >= ls && static_cast<std::uint64_t>(c) <= end) {
        out = static_cast<std::uint64_t>(c);
        return errc::ok;
      }
    }
    switch (cfg.reset) {
      case offset_reset::earliest: out = ls; return errc::ok;
      case offset_reset::latest: out = end; return errc::ok;
      case offset_reset::error: break;
    }
    return errc::offset_out_of_range;
  }

  // Moves a partition's reader to `offset` (checked against the log). Caller holds p.mu.
  errc position_locked(part& a, std::uint64_t offset) {
    detail::partition_state& p = *a.p;
    const std::uint64_t ls = p.log_start_offset.load(std::memory_order_acquire);
    const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
    if (p.durable() && offset < ls && offset >= p.first_offset()) {
      // In the files only: poll reads them, then comes back to the ring at its log start.
      a.reader.reset_to(p.log_start_position.load(std::memory_order_acquire));
      a.reader.unpin();
      a.on_disk = true;
      a.next_offset = offset;
      a.needs_seek = false;
      a.dirty = false;
      return errc::ok;
    }
    if (offset < ls || offset > end) return errc::offset_out_of_range;
    a.on_disk = false;
    a.reader.reset_to(p.position_of(offset));
    if (a.overwrite) a.reader.unpin();
    a.next_offset = offset;
    a.needs_seek = false;
    a.dirty = false;
    return errc::ok;
  }

  errc open(std::shared_ptr<detail::topic_state> t, std::uint32_t pid) {
    part a;
    a.topic = std::move(t);
    a.p = a.topic->partitions[pid].get();
    // Durable topics: the ring is a cache of the files, so consumers never hold producers
    // back; they copy records out as with overwrite and read the files when overrun.
    a.overwrite = a.topic->config.policy == backpressure::overwrite || a.topic->durable();
    std::size_t want = a.overwrite ? a.topic->config.ring_capacity / 2 : 0;  // largest record
    if (a.topic->durable()) want = std::max<std::size_t>(want, std::size_t{2} << 20);  // batches
    if (arena.size() < want) arena.resize(want);
    if (!cfg.group.empty()) a.offsets = a.topic->offsets_for(cfg.group);
    errc ec = errc::ok;
    if (a.offsets && group) {  // handed over within the group: take the parked reader
      std::lock_guard lock(a.offsets->parked_mu);
      a.reader = std::move(a.offsets->parked[pid]);
    }
    if (!a.reader) a.reader = a.p->ring.add_reader(&ec);
    if (ec != errc::ok) return ec;
    {
      std::lock_guard lock(a.p->mu);
      std::uint64_t o = 0;
      if (start_offset(a, o) == errc::ok) {
        position_locked(a, o);
      } else {
        a.needs_seek = true;
        a.next_offset = a.p->end_offset.load(std::memory_order_acquire);
        a.reader.reset_to(a.p->position_of(a.next_offset));
        if (a.overwrite) a.reader.unpin();
      }
    }
    parts.push_back(std::move(a));
    return errc::ok;
  }

  // park: another member of the group is to own the partition next (see group_offsets).
  void release_part(part& a, bool commit_it, bool park = false) {
    if (commit_it && a.offsets && !a.needs_seek) {
      a.offsets->committed[a.p->id].store(static_cast<std::int64_t>(a.next_offset),
                                          std::memory_order_release);
      if (a.topic->durable()) (void)store_offsets(*a.topic, *a.offsets);
    }
    if (park && a.offsets && group && !a.overwrite) {
      std::lock_guard lock(a.offsets->parked_mu);
      a.offsets->parked[a.p->id] = std::move(a.reader);  // gates at its released cursor
    }
    a.reader.close();
    a.p->space.notify_all();
    if (a.offsets && group) {
      a.offsets->owner[a.p->id].store(0, std::memory_order_release);  // after the commit
    }
  }

  // Whether some member of the group has `tp` in its target. Caller holds group->mu.
  bool targeted_locked(const topic_partition& tp) const {
    for (const auto& m : group->members) {
      if (std::find(m.target.begin(), m.target.end(), tp) != m.target.end()) return true;
    }
    return false;
  }

  // A reader for the group on a partition that none of its members owns: at the group's
  // committed offset while that is still in the log, else at the published end (the group
  // has seen nothing after it). Empty when the partition has no reader slot left (the first
  // owner's open then reports too_many_readers).
  static frame_ring::reader group_reader(detail::partition_state& p,
                                         const detail::group_offsets& offs) {
    frame_ring::reader r = p.ring.add_reader();
    if (!r) return r;
    std::lock_guard lock(p.mu);  // the log start stays put while we place the reader
    const std::int64_t c = offs.committed[p.id].load(std::memory_order_acquire);
    const std::uint64_t ls = p.log_start_offset.load(std::memory_order_acquire);
    const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
    if (c >= 0 && static_cast<std::uint64_t>(c) >= ls && static_cast<std::uint64_t>(c) <= end) {
      r.reset_to(p.position_of(static_cast<std::uint64_t>(c)));
    }
    return r;
  }

  // Brings the group's hold on these topics in line with the assignment just computed (see
  // group_offsets): a partition that some member is assigned but that nobody owns or has
  // parked gets a parked reader now, so that the producer waits for the group from the
  // moment a member is assigned the partition, not from that member's first poll; a partition
  // that no member is assigned any more is let go. Caller holds bus->mu and group->mu.
  void hold_locked(std::span<const std::string> topics) {
    for (const std::string& name : topics) {
      auto t = bus->topics.find(name);
      if (t == bus->topics.end()) continue;
      detail::topic_state& ts = *t->second;
      // Overwrite topics: a reader gates only while pinned, so a parked one would not hold.
      // Durable topics: consumers never hold producers back (they fall back to the files).
      const bool gates = ts.config.policy == backpressure::block && !ts.durable();
      auto offs = ts.offsets_for(cfg.group);
      std::lock_guard pl(offs->parked_mu);
      for (std::uint32_t p = 0; p < ts.config.partitions; ++p) {
        if (!targeted_locked({name, p})) {
          offs->parked[p].close();
        } else if (gates && !offs->parked[p] &&
                   offs->owner[p].load(std::memory_order_acquire) == 0) {
          // An owner to be takes the reader under parked_mu after its owner CAS, so it
          // either finds this reader or made us see it as the owner.
          offs->parked[p] = group_reader(*ts.partitions[p], *offs);
        }
      }
    }
  }

  void apply_rebalance() {
    std::vector<topic_partition> target;
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(group->mu);
      gen = group->generation.load(std::memory_order_acquire);
      for (const auto& m : group->members) {
        if (m.id == member_id) target = m.target;
      }
    }
    if (gen != applied_generation) {
      std::vector<topic_partition> revoked;
      for (part& a : parts) {
        topic_partition tp{a.topic->name, a.p->id};
        if (std::find(target.begin(), target.end(), tp) == target.end()) revoked.push_back(tp);
      }
      if (!revoked.empty() && cfg.on_revoked) cfg.on_revoked(revoked);
      if (!revoked.empty()) {
        // Under the group's lock, as in leave(): whether another member is assigned the
        // partition (so the group keeps holding it through a parked reader) must not change
        // between that check and the release, or a member joining in between would find the
        // partition owned here (hold_locked leaves it be) and then let go of by everyone.
        std::lock_guard lock(group->mu);
        for (auto it = parts.begin(); it != parts.end();) {
          topic_partition tp{it->topic->name, it->p->id};
          if (std::find(revoked.begin(), revoked.end(), tp) != revoked.end()) {
            release_part(*it, cfg.auto_commit, targeted_locked(tp));
            it = parts.erase(it);
          } else {
            ++it;
          }
        }
      }
      pending.clear();
      for (const topic_partition& tp : target) {
        if (find(tp) == nullptr) pending.push_back(tp);
      }
      applied_generation = gen;
    }
    // Take over partitions whose previous owner has let go.
    open_error = errc::ok;
    std::vector<topic_partition> taken;
    for (auto it = pending.begin(); it != pending.end();) {
      auto t = bus->find(it->topic);
      if (!t || it->partition >= t->config.partitions) {
        it = pending.erase(it);
        continue;
      }
      auto offs = t->offsets_for(cfg.group);
      std::uint64_t free_owner = 0;
      if (offs->owner[it->partition].compare_exchange_strong(free_owner, member_id,
                                                             std::memory_order_acq_rel)) {
        if (const errc e = open(t, it->partition); e == errc::ok) {
          taken.push_back(*it);
          it = pending.erase(it);
        } else {
          // No reader slot left on the partition (max_readers): stay pending and retry at
          // every poll, and say so through poll's status until it works.
          offs->owner[it->partition].store(0, std::memory_order_release);
          open_error = e;
          ++it;
        }
      } else {
        ++it;
      }
    }
    if (!taken.empty() && cfg.on_assigned) cfg.on_assigned(taken);
  }

  // Durable topics: the first record in the files, before offset `below`, whose timestamp
  // is >= ts. Cold: reads batches, skipping those whose newest record is older.
  static bool disk_offset_for_time(const detail::partition_state& p, std::uint64_t below,
                                   std::int64_t ts, std::uint64_t& out) {
    if (!p.durable()) return false;
    std::vector<std::byte> buf(std::size_t{2} << 20);
    std::uint64_t o = p.first_offset();
    bool found = false;
    while (!found && o < below) {
      io::read_result r = detail::persist_read(p, o, buf);
      if (r.status == errc::invalid_argument && r.needed > buf.size()) {
        buf.resize(r.needed);
        continue;
      }
      if (r.status == errc::corrupt_batch) {
        // The seek lands on the damage, so the next poll reports it (never a silent jump).
        out = std::max(r.damaged_offset, o);
        return true;
      }
      if (r.status != errc::ok || r.bytes == 0) break;
      io::for_each_batch(
          std::span<const std::byte>(buf).first(r.bytes), p.persist->max_batch_bytes,
          [&](const io::batch_header& h, std::span<const std::byte> payload) {
            if (found || h.max_timestamp_ns < ts) return;
            std::size_t at = 0;
            while (!found && at + sizeof(frame_header) <= payload.size()) {
              frame_header fh;
              std::memcpy(&fh, payload.data() + at, sizeof fh);
              const std::size_t size = frame_footprint(fh.length);
              if (size > payload.size() - at) break;
              const std::byte* rec = payload.data() + at + sizeof(frame_header);
              at += size;
              if ((fh.flags & frame_flags::padding) != 0 || fh.length < sizeof(record_header)) {
                continue;
              }
              const record_header rh = detail::header_of(rec);
              if (rh.offset >= o && rh.offset < below && rh.timestamp_ns >= ts) {
                out = rh.offset;
                found = true;
              }
            }
          });
      o = std::max(r.next_offset, o + 1);
    }
    return found;
  }

  // The offset a pending seek leads to now (the end when none). Caller holds p.mu.
  static std::uint64_t seek_target_locked(const part& a) {
    const detail::partition_state& p = *a.p;
    const std::uint64_t ls = p.log_start_offset.load(std::memory_order_acquire);
    const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
    std::uint64_t target = end;
    switch (a.pending) {
      case part::seek_kind::none: target = a.next_offset; break;
      case part::seek_kind::beginning: target = p.first_offset(); break;
      case part::seek_kind::end: target = end; break;
      case part::seek_kind::offset: target = static_cast<std::uint64_t>(a.pending_value); break;
      case part::seek_kind::timestamp:
        if (disk_offset_for_time(p, ls, a.pending_value, target)) break;
        for (std::uint64_t o = ls; o < end; ++o) {
          const std::uint64_t pos = p.position_of(o);
          const auto* payload =
              reinterpret_cast<const std::byte*>(&p.ring.frame_at(pos)) + sizeof(frame_header);
          if (detail::header_of(payload).timestamp_ns >= a.pending_value) {
            target = o;
            break;
          }
        }
        break;
    }
    return target;
  }

  void apply_seek(part& a) {
    std::lock_guard lock(a.p->mu);
    if (a.pending == part::seek_kind::none) return;
    const std::uint64_t target = seek_target_locked(a);
    a.pending = part::seek_kind::none;
    if (position_locked(a, target) != errc::ok) {
      // The offset left the log between seek() and now: follow the reset policy.
      std::uint64_t o = 0;
      if (start_offset(a, o) == errc::ok) {
        position_locked(a, o);
      } else {
        a.needs_seek = true;
      }
    }
  }

  errc commit_positions() {
    errc status = errc::ok;
    for (part& a : parts) {
      if (a.offsets && !a.needs_seek) {
        a.offsets->committed[a.p->id].store(static_cast<std::int64_t>(a.next_offset),
                                            std::memory_order_release);
      }
    }
    // Durable topics: the group's offsets go to disk, one file write per topic.
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const part& a = parts[i];
      if (!a.offsets || !a.topic->durable()) continue;
      bool first = true;
      for (std::size_t j = 0; j < i; ++j) first = first && parts[j].topic != a.topic;
      if (!first) continue;
      if (const errc e = store_offsets(*a.topic, *a.offsets); e != errc::ok) status = e;
    }
    return status;
  }

  errc store_offsets(const detail::topic_state& t, const detail::group_offsets& o) const {
    std::vector<std::int64_t> committed(o.committed.size());
    for (std::size_t p = 0; p < committed.size(); ++p) {
      committed[p] = o.committed[p].load(std::memory_order_acquire);
    }
    if (bus->read_only.load(std::memory_order_acquire)) return errc::read_only;
    return io::store_group_offsets(t.dir, cfg.group, committed).status;
  }

  // Reads up to max_poll_records. Returns offset_out_of_range when a partition overran with
  // reset policy error (its records are withheld until a seek).
  // The partition's log start passed this consumer's cursor. If only padding went (the
  // next record is still there), re-position on it; else follow the reset policy.
  // The jump is counted and reported (on_offset_reset), never silent.
  void overrun(part& a) {
    const std::uint64_t from = a.next_offset;
    std::uint64_t o = 0;
    {
      std::lock_guard lock(a.p->mu);
      if (a.next_offset >= a.p->first_offset() && position_locked(a, a.next_offset) == errc::ok) {
        return;  // still in the ring (only padding went), or in the files of a durable topic
      }
      if (cfg.reset == offset_reset::error || start_offset(a, o) != errc::ok) {
        a.needs_seek = true;
        return;
      }
      position_locked(a, o);
    }
    if (o > from) a.skipped += o - from;
    if (cfg.on_offset_reset) cfg.on_offset_reset({a.topic->name, a.p->id}, from, o);
  }

  static void view_of(record_view& r, const part& a, const std::byte* data) noexcept {
    const record_header h = detail::header_of(data);
    const std::byte* q = data + sizeof(record_header);
    r.topic = a.topic->name;
    r.partition = a.p->id;
    r.offset = h.offset;
    r.timestamp_ns = h.timestamp_ns;
    r.has_key = h.key_size != record_header::no_key;
    const std::uint32_t ks = r.has_key ? h.key_size : 0;
    r.key = {reinterpret_cast<const char*>(q), ks};
    q += ks;
    r.headers = headers_view(q, h.headers_size, h.header_count);
    q += h.headers_size;
    r.value = {reinterpret_cast<const char*>(q), h.value_size};
  }

  // Overwrite policy: pin, check the log start has not passed us, copy records out, unpin.
  void fill_copying(part& a, std::size_t& n, std::size_t& arena_used) {
    a.reader.pin();
    if (a.reader.position() < a.p->log_start_position.load(std::memory_order_seq_cst)) {
      a.reader.unpin();  // overrun: the frames at our cursor may be gone
      overrun(a);
      if (a.needs_seek || a.on_disk) return;  // a durable topic goes on in its files
      a.reader.pin();
      if (a.reader.position() < a.p->log_start_position.load(std::memory_order_seq_cst)) {
        a.reader.unpin();
        return;  // overrun again already; next poll
      }
    }
    const std::uint64_t limit =
        cfg.read_durable_only && a.p->durable() ? a.p->durable_offset() : UINT64_MAX;
    frame_view f;
    while (n < batch.size() && a.next_offset < limit && a.reader.try_peek(f)) {
      if (arena.size() - arena_used < f.size) break;
      std::byte* copy = arena.data() + arena_used;
      std::memcpy(copy, f.data, f.size);
      arena_used += align_up(f.size, 8);
      record_view& r = batch[n++];
      view_of(r, a, copy);
      a.reader.advance(f);
      a.next_offset = r.offset + 1;
    }
    a.reader.unpin();
    a.p->space.notify_all();
  }

  // Durable topics: records older than the ring, from the segment files, copied into the
  // arena as whole verified batches. Returns to the ring once it reaches the ring's start.
  // Returns ok, or corrupt_batch when the files are damaged at this consumer's position
  // (read_error describes it; nothing past the damage is handed out).
  errc fill_from_disk(part& a, std::size_t& n) {
    detail::partition_state& p = *a.p;
    if (a.next_offset >= p.log_start_offset.load(std::memory_order_acquire)) {
      std::lock_guard lock(p.mu);
      if (position_locked(a, a.next_offset) != errc::ok) a.needs_seek = true;
      a.disk.reset();  // back in the ring: the read-ahead buffer goes
      return errc::ok;
    }
    if (n >= batch.size()) return errc::ok;
    if (!a.disk) a.disk = std::make_unique<disk_cursor>();  // cold: the first disk read
    disk_cursor& d = *a.disk;
    if (d.next != a.next_offset) d.clear();  // moved (seek, reset): what was read is stale
    const std::uint64_t limit = durable_only(a) ? p.durable_offset() : UINT64_MAX;
    const std::uint32_t max_batch = p.persist->max_batch_bytes;
    for (;;) {
      const std::byte* rec = nullptr;
      std::size_t after = 0;
      disk_cursor::step got = disk_cursor::step::end;
      while (n < batch.size() &&
             (got = d.peek(max_batch, rec, after)) == disk_cursor::step::record) {
        const std::uint64_t off = detail::header_of(rec).offset;
        if (off >= limit) return errc::ok;  // not durable yet: stays in the buffer
        d.at = after;
        if (off < a.next_offset) continue;  // the first batch may start before us
        view_of(batch[n++], a, rec);
        a.next_offset = off + 1;
        d.next = a.next_offset;
        d.used_in = poll_seq;
        // Not dirty: these views point into the read-ahead buffer, and release() would pin
        // this non-gating ring reader at its stale cursor, holding the producer back until
        // the next poll (a consumer that stopped after a disk read blocked it for good).
      }
      if (got == disk_cursor::step::bad) {
        bad_record(a, std::max(d.batch_next, a.next_offset + 1));
        d.clear();
        return errc::corrupt_batch;
      }
      if (n >= batch.size() || a.next_offset >= limit) return errc::ok;
      if (d.used_in == poll_seq) return errc::ok;  // views of this poll point into it
      // The buffer is used up: the next whole batches, read and checked once.
      io::read_result r = detail::persist_read(p, a.next_offset, d.buf);
      if (r.status == errc::invalid_argument && r.needed > d.buf.size()) {
        d.buf.resize(r.needed);  // a batch larger than any seen so far (cold)
        r = detail::persist_read(p, a.next_offset, d.buf);
      }
      if (r.status == errc::offset_out_of_range) {
        d.clear();
        overrun(a);  // disk retention passed us too: the reset policy
        return errc::ok;
      }
      if (r.status == errc::corrupt_batch) {
        d.clear();
        report_damage(a, r);
        return r.status;
      }
      if (r.status != errc::ok || r.bytes == 0) return errc::ok;
      d.fill(r.bytes, a.next_offset);
    }
  }

  // Cold: a batch with a good CRC whose frames or records do not fit at a's position (the
  // rest of that batch is skipped by seeking to `skip_to`, the next batch).
  void bad_record(const part& a, std::uint64_t skip_to) {
    set_error(a, a.next_offset, skip_to,
              "a batch in " + a.p->persist->log->directory().string() +
                  " passed its checksum but holds a frame or record whose sizes do not fit "
                  "(not written by lanes)");
  }

  // Cold: a damaged batch at a's position. Says where, once per poll, for a person.
  void report_damage(const part& a, const io::read_result& r) {
    set_error(a, r.damaged_offset, r.skip_to,
              (a.p->persist->log->directory() / io::segment_file_name(r.damaged_segment, ".log"))
                      .string() +
                  " is damaged at byte " + std::to_string(r.damaged_position) +
                  " (checksum or bounds check failed)");
  }

  void set_error(const part& a, std::uint64_t offset, std::uint64_t skip_to,
                 const std::string& what) {
    error_text = "topic " + a.topic->name + " partition " + std::to_string(a.p->id) + ": offset " +
                 std::to_string(offset) + " cannot be read: " + what +
                 "; restore the file, or seek to offset " + std::to_string(skip_to) +
                 " to skip what is damaged";
    error.topic = a.topic->name;
    error.partition = a.p->id;
    error.offset = offset;
    error.skip_to = skip_to;
    error.detail = error_text;
  }

  // Adds the records a partition handed out in one fill (batch[first, n)) to its out
  // counters when it goes out of scope: one add per poll and partition.
  struct out_count {
    detail::partition_state& p;
    const std::vector<record_view>& batch;
    const std::size_t first;
    const std::size_t& n;
    ~out_count() {
      if (n == first) return;
      std::uint64_t bytes = 0;
      for (std::size_t i = first; i < n; ++i) {
        const record_view& r = batch[i];
        bytes += sizeof(record_header) + r.key.size() + r.headers.encoded_bytes() + r.value.size();
      }
      p.records_out.fetch_add(n - first, std::memory_order_relaxed);
      p.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    }
  };

  errc fill(std::size_t& n) {
    errc status = errc::ok;
    std::size_t arena_used = 0;
    const std::size_t count = parts.size();
    if (rr >= count) rr = 0;  // parts went away in a rebalance
    for (std::size_t k = 0; k < count && n < batch.size(); ++k) {
      // rr < count and k < count: one conditional subtraction instead of a division.
      const std::size_t at = rr + k >= count ? rr + k - count : rr + k;
      part& a = parts[at];
      if (a.paused || a.topic->closed.load(std::memory_order_relaxed)) continue;
      const out_count counted{*a.p, batch, n, n};
      if (a.pending != part::seek_kind::none) apply_seek(a);
      if (!a.needs_seek && !a.overwrite &&
          a.next_offset < a.p->log_start_offset.load(std::memory_order_acquire)) {
        overrun(a);  // retention passed us: Kafka's auto.offset.reset
      }
      if (!a.needs_seek && a.on_disk) {
        if (const errc e = fill_from_disk(a, n); e != errc::ok) {
          status = e;  // this partition is stuck at the damage; the others go on
          continue;
        }
      }
      if (!a.needs_seek && a.overwrite && !a.on_disk) fill_copying(a, n, arena_used);
      if (a.needs_seek) {
        status = errc::offset_out_of_range;
        continue;
      }
      if (a.overwrite) continue;
      frame_view f;
      while (n < batch.size() && a.reader.try_peek(f)) {
        record_view& r = batch[n++];
        view_of(r, a, f.data);
        a.reader.advance(f);
        a.next_offset = r.offset + 1;
        a.dirty = true;
      }
    }
    if (count != 0) rr = rr + 1 >= count ? 0 : rr + 1;
    return status;
  }

  // Whether a partition has something fill() would hand out (or a seek to apply).
  bool has_data() const noexcept {
    for (const part& a : parts) {
      // As fill(): paused partitions and deleted topics have nothing to hand out.
      if (a.paused || a.topic->closed.load(std::memory_order_relaxed)) continue;
      if (a.pending != part::seek_kind::none) return true;
      if (durable_only(a)) {
        // Only records below the durable offset count, in the files or in the ring; a log
        // that failed has an error to report.
        if (a.next_offset < a.p->durable_offset() ||
            a.p->io_status.load(std::memory_order_relaxed) != errc::ok) {
          return true;
        }
        continue;
      }
      if (a.on_disk) return true;
      if (a.p->ring.published_position() != a.reader.position()) return true;
    }
    return false;
  }

  bool durable_only(const part& a) const noexcept {
    return cfg.read_durable_only && a.p->durable();
  }

  // Where poll sleeps: on the durable offset when every partition reads durable records
  // only (the persister wakes it), else on publishes (producers wake it).
  park& wait_spot() noexcept {
    const part& first = parts.front();
    for (const part& a : parts) {
      if (!durable_only(a)) return first.topic->data;
    }
    return first.topic->durable_data;
  }

  bool rebalance_due() const noexcept {
    return group && (group->generation.load(std::memory_order_acquire) != applied_generation ||
                     !pending.empty());
  }

  void leave() {
    if (closed) return;
    closed = true;
    if (cfg.auto_commit) (void)commit_positions();
    if (!group) {
      for (part& a : parts) release_part(a, cfg.auto_commit);
    } else {
      std::lock_guard bl(bus->mu);
      std::lock_guard gl(group->mu);
      auto& ms = group->members;
      ms.erase(std::remove_if(ms.begin(), ms.end(),
                              [&](const detail::member_info& m) { return m.id == member_id; }),
               ms.end());
      group->rebalance_locked(cfg.strategy, partition_counts_locked());
      // Partitions the remaining members will own stay held by the group (parked readers);
      // partitions that nobody in the group will own any more are let go.
      for (part& a : parts) {
        release_part(a, cfg.auto_commit, targeted_locked({a.topic->name, a.p->id}));
      }
      hold_locked(subscribed);
    }
    parts.clear();
    pending.clear();
  }
};

// ---------------------------------------------------------------------------------------

consumer::consumer() noexcept = default;
consumer::consumer(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
consumer::consumer(consumer&&) noexcept = default;
consumer& consumer::operator=(consumer&& o) noexcept {
  if (this != &o) {
    close();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
consumer::~consumer() { close(); }

consumer bus::make_consumer(consumer_config config, errc* status) {
  auto set = [&](errc e) {
    if (status != nullptr) *status = e;
  };
  if (is_closed()) {
    set(errc::closed);
    return {};
  }
  if (!config.group.empty() && !valid_group_name(config.group)) {
    set(errc::invalid_group);
    return {};
  }
  if (config.max_poll_records == 0) {
    set(errc::invalid_config);
    return {};
  }
  auto p = std::make_unique<consumer::impl>();
  p->bus = state_;
  p->batch.resize(config.max_poll_records);
  p->cfg = std::move(config);
  p->next_auto_commit = wait_clock::now() + p->cfg.auto_commit_interval;
  set(errc::ok);
  return consumer(std::move(p));
}

errc consumer::subscribe(std::initializer_list<std::string_view> topics) {
  std::vector<std::string> v(topics.begin(), topics.end());
  return subscribe(std::span<const std::string>(v));
}

errc consumer::subscribe(std::span<const std::string> topics) {
  if (!impl_ || impl_->closed) return errc::closed;
  impl& c = *impl_;
  if (c.cfg.group.empty()) return errc::invalid_group;
  if (topics.empty()) return errc::invalid_argument;
  std::lock_guard bl(c.bus->mu);
  if (c.bus->closed.load(std::memory_order_acquire)) return errc::closed;
  for (const std::string& t : topics) {
    auto it = c.bus->topics.find(t);
    if (it == c.bus->topics.end()) return errc::unknown_topic;
    if (it->second->config.mode != topic_mode::log) return errc::wrong_mode;
  }
  if (!c.group) {
    auto it = c.bus->groups.find(c.cfg.group);
    if (it == c.bus->groups.end()) {
      it = c.bus->groups.emplace(c.cfg.group, std::make_shared<detail::group_state>(c.cfg.group))
               .first;
    }
    c.group = it->second;
    c.member_id = c.group->next_member.fetch_add(1, std::memory_order_relaxed);
  }
  std::lock_guard gl(c.group->mu);
  auto& ms = c.group->members;
  auto me = std::find_if(ms.begin(), ms.end(),
                         [&](const detail::member_info& m) { return m.id == c.member_id; });
  if (me == ms.end()) {
    ms.push_back({c.member_id, {}, {}});
    me = std::prev(ms.end());
  }
  const std::vector<std::string> previous = std::move(me->topics);
  me->topics.assign(topics.begin(), topics.end());
  c.subscribed = me->topics;
  c.group->rebalance_locked(c.cfg.strategy, c.partition_counts_locked());
  // The group holds its new partitions from now on, before any member has polled (records
  // published meanwhile are the group's to read), and lets go of those of topics that no
  // member reads any more.
  c.hold_locked(previous);
  c.hold_locked(c.subscribed);
  return errc::ok;
}

errc consumer::assign(std::span<const topic_partition> partitions) {
  if (!impl_ || impl_->closed) return errc::closed;
  impl& c = *impl_;
  if (c.group) return errc::invalid_argument;  // group members are assigned by the group
  std::vector<std::shared_ptr<detail::topic_state>> ts;
  for (const topic_partition& tp : partitions) {
    auto t = c.bus->find(tp.topic);
    if (!t) return errc::unknown_topic;
    if (t->config.mode != topic_mode::log) return errc::wrong_mode;
    if (tp.partition >= t->config.partitions) return errc::invalid_partition;
    ts.push_back(std::move(t));
  }
  for (auto& a : c.parts) c.release_part(a, c.cfg.auto_commit && !c.cfg.group.empty());
  c.parts.clear();
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (const errc e = c.open(ts[i], partitions[i].partition); e != errc::ok) return e;
  }
  return errc::ok;
}

poll_result consumer::poll(std::chrono::nanoseconds timeout) noexcept {
  if (!impl_ || impl_->closed || impl_->bus->closed.load(std::memory_order_acquire)) {
    return {errc::closed, {}};
  }
  impl& c = *impl_;
  // Views from the previous poll are released now.
  for (auto& a : c.parts) {
    if (a.dirty) {
      a.reader.release();
      a.dirty = false;
      if (a.topic->config.policy == backpressure::block) a.p->space.notify_all();
    }
  }
  if (c.rebalance_due()) c.apply_rebalance();
  if (c.cfg.auto_commit && !c.cfg.group.empty()) {
    const auto now = wait_clock::now();
    if (now >= c.next_auto_commit) {
      (void)c.commit_positions();
      c.next_auto_commit = now + c.cfg.auto_commit_interval;
    }
  }
  std::size_t n = 0;
  c.error = {};
  ++c.poll_seq;  // views of the previous poll are released
  errc st = c.fill(n);
  if (st == errc::ok) st = c.open_error;
  if (n == 0 && timeout.count() > 0 && st == errc::ok) {
    const auto deadline = wait_clock::now() + timeout;
    // A new generation wakes the wait; a pending hand-over (the previous owner has not
    // let go yet) is nobody's to notify, so it is re-checked every millisecond instead.
    auto ready = [&] {
      return c.has_data() ||
             (c.group &&
              c.group->generation.load(std::memory_order_acquire) != c.applied_generation) ||
             c.bus->closed.load(std::memory_order_acquire);
    };
    while (n == 0 && st == errc::ok) {
      const auto slice = std::min(deadline, wait_clock::now() + std::chrono::milliseconds(1));
      if (c.cfg.busy_spin) {
        (void)busy_spin{}.wait_until(ready, c.pending.empty() ? deadline : slice);
      } else if (!c.parts.empty()) {
        // Parks on the first partition's topic; consumers of several topics re-check every
        // millisecond so that the others are not missed for longer than that.
        bool one_topic = true;
        for (auto& a : c.parts) one_topic = one_topic && a.topic == c.parts.front().topic;
        (void)c.wait_spot().wait_until(ready, one_topic && c.pending.empty() ? deadline : slice);
      } else {
        // Nothing assigned yet (rebalance pending): check back every millisecond.
        (void)spin_then_yield{}.wait_until(ready, slice);
      }
      if (c.bus->closed.load(std::memory_order_acquire)) return {errc::closed, {}};
      if (c.rebalance_due()) c.apply_rebalance();
      st = c.fill(n);
      if (st == errc::ok) st = c.open_error;
      // The deadline holds even when ready() stays true without records to hand out.
      if (wait_clock::now() >= deadline) break;
    }
  }
  return {st, std::span<const record_view>(c.batch.data(), n), c.error};
}

errc consumer::commit() {
  if (!impl_ || impl_->closed) return errc::closed;
  if (impl_->cfg.group.empty()) return errc::invalid_group;
  return impl_->commit_positions();
}

errc consumer::commit(const topic_partition& tp, std::uint64_t offset) {
  if (!impl_ || impl_->closed) return errc::closed;
  if (impl_->cfg.group.empty()) return errc::invalid_group;
  auto t = impl_->bus->find(tp.topic);
  if (!t) return errc::unknown_topic;
  if (tp.partition >= t->config.partitions) return errc::invalid_partition;
  if (offset > t->partitions[tp.partition]->end_offset.load(std::memory_order_acquire)) {
    return errc::offset_out_of_range;
  }
  auto offs = t->offsets_for(impl_->cfg.group);
  offs->committed[tp.partition].store(static_cast<std::int64_t>(offset), std::memory_order_release);
  if (t->durable()) return impl_->store_offsets(*t, *offs);
  return errc::ok;
}

std::int64_t consumer::committed(const topic_partition& tp) const {
  if (!impl_ || impl_->cfg.group.empty()) return -1;
  auto t = impl_->bus->find(tp.topic);
  if (!t || tp.partition >= t->config.partitions) return -1;
  return t->offsets_for(impl_->cfg.group)->committed[tp.partition].load(std::memory_order_acquire);
}

namespace {
template <class Impl, class Part>
errc request_seek(Impl* c, const topic_partition& tp, typename Part::seek_kind kind,
                  std::int64_t value) {
  if (c == nullptr || c->closed) return errc::closed;
  Part* a = c->find(tp);
  if (a == nullptr) return errc::not_assigned;
  if (kind == Part::seek_kind::offset) {
    std::lock_guard lock(a->p->mu);
    const std::uint64_t ls = a->p->first_offset();  // durable topics: the files too
    const std::uint64_t end = a->p->end_offset.load(std::memory_order_acquire);
    if (value < 0 || static_cast<std::uint64_t>(value) < ls ||
        static_cast<std::uint64_t>(value) > end) {
      return errc::offset_out_of_range;
    }
  }
  a->pending = kind;
  a->pending_value = value;
  return errc::ok;
}
}  // namespace

errc consumer::seek(const topic_partition& tp, std::uint64_t offset) {
  return request_seek<impl, impl::part>(impl_.get(), tp, impl::part::seek_kind::offset,
                                        static_cast<std::int64_t>(offset));
}
errc consumer::seek_to_beginning(const topic_partition& tp) {
  return request_seek<impl, impl::part>(impl_.get(), tp, impl::part::seek_kind::beginning, 0);
}
errc consumer::seek_to_end(const topic_partition& tp) {
  return request_seek<impl, impl::part>(impl_.get(), tp, impl::part::seek_kind::end, 0);
}
errc consumer::seek_to_timestamp(const topic_partition& tp, std::int64_t timestamp_ns) {
  return request_seek<impl, impl::part>(impl_.get(), tp, impl::part::seek_kind::timestamp,
                                        timestamp_ns);
}

errc consumer::pause(const topic_partition& tp) {
  if (!impl_ || impl_->closed) return errc::closed;
  auto* a = impl_->find(tp);
  if (a == nullptr) return errc::not_assigned;
  a->paused = true;
  return errc::ok;
}

errc consumer::resume(const topic_partition& tp) {
  if (!impl_ || impl_->closed) return errc::closed;
  auto* a = impl_->find(tp);
  if (a == nullptr) return errc::not_assigned;
  a->paused = false;
  return errc::ok;
}

std::int64_t consumer::position(const topic_partition& tp) const {
  if (!impl_) return -1;
  const auto* a = impl_->find(tp);
  if (a == nullptr) return -1;
  if (a->pending == impl::part::seek_kind::none) return static_cast<std::int64_t>(a->next_offset);
  // A seek not applied yet (poll applies it): where it will lead.
  std::lock_guard lock(a->p->mu);
  return static_cast<std::int64_t>(impl::seek_target_locked(*a));
}

std::int64_t consumer::lag(const topic_partition& tp) const {
  if (!impl_) return -1;
  const auto* a = impl_->find(tp);
  if (a == nullptr) return -1;
  const std::uint64_t end = a->p->end_offset.load(std::memory_order_acquire);
  const auto next = static_cast<std::uint64_t>(position(tp));
  return end > next ? static_cast<std::int64_t>(end - next) : 0;
}

std::int64_t consumer::skipped(const topic_partition& tp) const {
  if (!impl_) return -1;
  const auto* a = impl_->find(tp);
  return a == nullptr ? -1 : static_cast<std::int64_t>(a->skipped);
}

std::vector<topic_partition> consumer::assignment() const {
  std::vector<topic_partition> out;
  if (!impl_) return out;
  for (const auto& a : impl_->parts) out.push_back({a.topic->name, a.p->id});
  return out;
}

std::uint64_t consumer::generation() const noexcept {
  return impl_ ? impl_->applied_generation : 0;
}

void consumer::close() noexcept {
  if (impl_) impl_->leave();
}

}  // namespace lanes
