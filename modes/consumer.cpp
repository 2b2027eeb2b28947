// modes/consumer.cpp: a consumer's poll (the read path over its cursors) and its public API
// for reading; groups are in consumer_group.cpp, positions and commits in consumer_offsets.cpp.
#include <algorithm>

#include "closing_handle.hpp"
#include "consumer_impl.hpp"
#include "copying_cursor.hpp"
#include "ring_cursor.hpp"

namespace lanes {

// The partition's log start passed this consumer's cursor. If only padding went (the
// next record is still there), re-position on it; else follow the reset policy.
// The jump is counted and reported (on_offset_reset), never silent.
void consumer::impl::overrun(part& a) {
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

// Overwrite policy and durable topics, in the ring: records copied out (copying_cursor).
void consumer::impl::fill_copying(part& a, detail::poll_batch& out, std::size_t& arena_used) {
  const std::uint64_t limit = durable_only(a) ? a.p->durable_offset() : UINT64_MAX;
  detail::copying_cursor c(a.reader, a.p->log_start_position, a.topic->name, a.p->id);
  if (c.fill(out, arena, arena_used, limit, a.next_offset) ==
      detail::copying_cursor::result::overrun) {
    overrun(a);  // the frames at our cursor may be gone
    if (a.needs_seek || a.path != part::read_path::copying) return;  // durable: the files
    if (c.fill(out, arena, arena_used, limit, a.next_offset) !=
        detail::copying_cursor::result::ok) {
      return;  // overrun again already; next poll
    }
  }
  a.p->space.notify_all();
}

// Durable topics: records older than the ring, from the segment files (disk_cursor).
// Returns to the ring once it reaches the ring's start. Returns ok, or corrupt_batch when
// the files are damaged at this consumer's position (read_error describes it; nothing past
// the damage is handed out).
errc consumer::impl::fill_from_disk(part& a, detail::poll_batch& out) {
  detail::partition_state& p = *a.p;
  if (a.next_offset >= p.log_start_offset.load(std::memory_order_acquire)) {
    std::lock_guard lock(p.mu);
    if (position_locked(a, a.next_offset) != errc::ok) a.needs_seek = true;
    a.disk.reset();  // back in the ring: the read-ahead buffer goes
    return errc::ok;
  }
  if (out.full()) return errc::ok;
  if (!a.disk) a.disk = std::make_unique<disk_cursor>();  // cold: the first disk read
  // Not dirty: these views point into the read-ahead buffer, and release() would pin this
  // non-gating ring reader at its stale cursor, holding the producer back until the next
  // poll (a consumer that stopped after a disk read blocked it for good).
  const std::uint64_t limit = durable_only(a) ? p.durable_offset() : UINT64_MAX;
  switch (a.disk->fill(p, a.topic->name, out, limit, poll_seq, a.next_offset)) {
    case disk_cursor::result::ok: return errc::ok;
    case disk_cursor::result::overrun: overrun(a); return errc::ok;  // the reset policy
    case disk_cursor::result::damaged: report_damage(a, a.disk->damage); break;
    case disk_cursor::result::bad_data: bad_record(a, a.disk->skip_to); break;
  }
  return errc::corrupt_batch;
}

// Cold: a batch with a good CRC whose frames or records do not fit at a's position (the
// rest of that batch is skipped by seeking to `skip_to`, the next batch).
void consumer::impl::bad_record(const part& a, std::uint64_t skip_to) {
  set_error(a, a.next_offset, skip_to,
            "a batch in " + a.p->persist->log->directory().string() +
                " passed its checksum but holds a frame or record whose sizes do not fit "
                "(not written by lanes)");
}

// Cold: a damaged batch at a's position. Says where, once per poll, for a person.
void consumer::impl::report_damage(const part& a, const io::read_result& r) {
  set_error(
      a, r.damaged_offset, r.skip_to,
      (a.p->persist->log->directory() / io::segment_file_name(r.damaged_segment, ".log")).string() +
          " is damaged at byte " + std::to_string(r.damaged_position) +
          " (checksum or bounds check failed)");
}

void consumer::impl::set_error(const part& a, std::uint64_t offset, std::uint64_t skip_to,
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

// Reads up to max_poll_records. Returns offset_out_of_range when a partition overran with
// reset policy error (its records are withheld until a seek).
errc consumer::impl::fill(std::size_t& n) {
  errc status = errc::ok;
  std::size_t arena_used = 0;
  detail::poll_batch out{batch.data(), batch.size(), n};
  const std::size_t count = parts.size();
  if (rr >= count) rr = 0;  // parts went away in a rebalance
  for (std::size_t k = 0; k < count && !out.full(); ++k) {
    // rr < count and k < count: one conditional subtraction instead of a division.
    const std::size_t at = rr + k >= count ? rr + k - count : rr + k;
    part& a = parts[at];
    if (a.paused || a.topic->closed.load(std::memory_order_relaxed)) continue;
    const out_count counted{*a.p, batch, out.n, out.n};
    if (a.pending != part::seek_kind::none) apply_seek(a);
    if (!a.needs_seek && a.path == part::read_path::ring &&
        a.next_offset < a.p->log_start_offset.load(std::memory_order_acquire)) {
      overrun(a);  // retention passed us: Kafka's auto.offset.reset
    }
    if (!a.needs_seek && a.path == part::read_path::disk) {
      if (const errc e = fill_from_disk(a, out); e != errc::ok) {
        status = e;  // this partition is stuck at the damage; the others go on
        continue;
      }
    }
    // Reaching the ring's start in the files moves on to the ring in the same poll.
    if (!a.needs_seek && a.path == part::read_path::copying) fill_copying(a, out, arena_used);
    if (a.needs_seek) {
      status = errc::offset_out_of_range;
      continue;
    }
    if (a.path == part::read_path::ring &&
        detail::ring_cursor(a.reader, a.topic->name, a.p->id).fill(out, a.next_offset) != 0) {
      a.dirty = true;
    }
  }
  if (count != 0) rr = rr + 1 >= count ? 0 : rr + 1;
  n = out.n;
  return status;
}

// Whether a partition has something fill() would hand out (or a seek to apply).
bool consumer::impl::has_data() const noexcept {
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
    if (a.path == part::read_path::disk) return true;
    if (a.p->ring.published_position() != a.reader.position()) return true;
  }
  return false;
}

// Where poll sleeps: on the durable offset when every partition reads durable records
// only (the persister wakes it), else on publishes (producers wake it).
park& consumer::impl::wait_spot() noexcept {
  const part& first = parts.front();
  for (const part& a : parts) {
    if (!durable_only(a)) return first.topic->data;
  }
  return first.topic->durable_data;
}

// ---------------------------------------------------------------------------------------

template class detail::closing_handle<detail::consumer_state>;

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
  consumer::owner p(new consumer::impl());
  p->bus = state_;
  p->batch.resize(config.max_poll_records);
  p->cfg = std::move(config);
  p->next_auto_commit = wait_clock::now() + p->cfg.auto_commit_interval;
  set(errc::ok);
  return consumer(std::move(p));
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

namespace {

errc set_paused(consumer::impl* c, const topic_partition& tp, bool paused) {
  if (c == nullptr || c->closed) return errc::closed;
  auto* a = c->find(tp);
  if (a == nullptr) return errc::not_assigned;
  a->paused = paused;
  return errc::ok;
}

}  // namespace

errc consumer::pause(const topic_partition& tp) { return set_paused(impl_.get(), tp, true); }

errc consumer::resume(const topic_partition& tp) { return set_paused(impl_.get(), tp, false); }

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
