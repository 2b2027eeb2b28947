// modes/consumer_offsets.cpp: a consumer's positions: where a partition starts, seeks
// (by offset, to either end, by timestamp) and commits of the group's offsets.
#include <algorithm>

#include "consumer_impl.hpp"
#include "lanes/group_offsets_file.hpp"
#include "record_codec.hpp"

namespace lanes {

// Where a newly opened partition starts. Caller holds p.mu.
errc consumer::impl::start_offset(part& a, std::uint64_t& out) {
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
errc consumer::impl::position_locked(part& a, std::uint64_t offset) {
  detail::partition_state& p = *a.p;
  const std::uint64_t ls = p.log_start_offset.load(std::memory_order_acquire);
  const std::uint64_t end = p.end_offset.load(std::memory_order_acquire);
  if (p.durable() && offset < ls && offset >= p.first_offset()) {
    // In the files only: poll reads them, then comes back to the ring at its log start.
    a.reader.reset_to(p.log_start_position.load(std::memory_order_acquire));
    a.reader.unpin();
    a.path = part::read_path::disk;
    a.next_offset = offset;
    a.needs_seek = false;
    a.dirty = false;
    return errc::ok;
  }
  if (offset < ls || offset > end) return errc::offset_out_of_range;
  a.path = a.overwrite ? part::read_path::copying : part::read_path::ring;
  a.reader.reset_to(p.position_of(offset));
  if (a.overwrite) a.reader.unpin();
  a.next_offset = offset;
  a.needs_seek = false;
  a.dirty = false;
  return errc::ok;
}

// Durable topics: the first record in the files, before offset `below`, whose timestamp
// is >= ts. Cold: reads batches, skipping those whose newest record is older.
bool consumer::impl::disk_offset_for_time(const detail::partition_state& p, std::uint64_t below,
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
    io::for_each_batch(std::span<const std::byte>(buf).first(r.bytes), p.persist->max_batch_bytes,
                       [&](const io::batch_header& h, std::span<const std::byte> payload) {
                         if (found || h.max_timestamp_ns < ts) return;
                         detail::frame_walker w(payload);
                         detail::record_frame f;
                         for (;;) {
                           const detail::frame_step s = w.next(f);
                           if (s == detail::frame_step::short_record) continue;
                           if (s != detail::frame_step::record) break;
                           const record_header rh = detail::decode_record_header(f.rec);
                           if (rh.offset >= o && rh.offset < below && rh.timestamp_ns >= ts) {
                             out = rh.offset;
                             found = true;
                             break;
                           }
                         }
                       });
    o = std::max(r.next_offset, o + 1);
  }
  return found;
}

// The offset a pending seek leads to now (the end when none). Caller holds p.mu.
std::uint64_t consumer::impl::seek_target_locked(const part& a) {
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
        if (detail::decode_record_header(payload).timestamp_ns >= a.pending_value) {
          target = o;
          break;
        }
      }
      break;
  }
  return target;
}

void consumer::impl::apply_seek(part& a) {
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

errc consumer::impl::commit_positions() {
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

errc consumer::impl::store_offsets(const detail::topic_state& t,
                                   const detail::group_offsets& o) const {
  std::vector<std::int64_t> committed(o.committed.size());
  for (std::size_t p = 0; p < committed.size(); ++p) {
    committed[p] = o.committed[p].load(std::memory_order_acquire);
  }
  if (bus->read_only.load(std::memory_order_acquire)) return errc::read_only;
  return io::store_group_offsets(t.dir, cfg.group, committed).status;
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

}  // namespace lanes
