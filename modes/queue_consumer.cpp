// modes/queue_consumer.cpp: queue_consumer (receive, ack, nack, extend, pins) and
// bus::make_queue_consumer. The slot operations it calls are in queue_delivery.cpp; the
// state machine and who owns what are described in modes/queue_state.hpp.
#include <algorithm>
#include <thread>

#include "closing_handle.hpp"
#include "lanes/queue.hpp"
#include "queue_ops.hpp"

namespace lanes {

// ---------------------------------------------------------------------------------------
// queue_consumer

struct detail::queue_consumer_state {
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
    const std::int64_t now = topic->steady_now();
    const std::int64_t now_real =
        g.settings.delivery_delay.count() != 0 ? topic->realtime_now() : 0;
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
    const std::int64_t now = topic->steady_now();
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
    // An injected clock's deadlines are not the steady clock's: the 10 ms slices find them.
    if (soonest != detail::never && topic->clock == nullptr) {
      wake = std::min(wake, detail::steady_point(soonest));
    }
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

  // The checks an ack, nack or extend starts with, in their order: the consumer is open
  // (closed), its queue too, the arguments are valid (invalid_argument), and the receipt is
  // current (take_receipt). Null with `e` set when one fails.
  static detail::queue_partition* take_open(const queue_consumer_state* c, const receipt& r,
                                            detail::op what, std::uint64_t& word, errc& e,
                                            bool arguments_ok = true) noexcept {
    if (c == nullptr) {
      e = errc::closed;
      return nullptr;
    }
    e = c->status();
    if (e == errc::ok && !arguments_ok) e = errc::invalid_argument;
    return e == errc::ok ? c->take_receipt(r, what, word, e) : nullptr;
  }

  // What ack, nack and extend start with: the receipt names one of this group's partitions
  // and its slot is taken out of in_flight (`word`: the slot before). nullptr, with e, when
  // not. The caller checked status().
  detail::queue_partition* take_receipt(const receipt& r, detail::op what, std::uint64_t& word,
                                        errc& e) const noexcept {
    detail::queue_partition* q = partition_of(r, e);
    if (q == nullptr) return nullptr;
    if (e = detail::take_in_flight(*q, r, what, word); e != errc::ok) return nullptr;
    return q;
  }
};

template class detail::closing_handle<detail::queue_consumer_state>;

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
  errc e = errc::ok;
  std::uint64_t w = 0;
  detail::queue_partition* q = impl::take_open(impl_.get(), r, detail::op::ack, w, e);
  if (q == nullptr) return e;
  impl& c = *impl_;
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
    detail::queue_partition* q = c.take_receipt(rs[i], detail::op::ack, w, e);
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
  errc e = errc::ok;
  std::uint64_t w = 0;
  detail::queue_partition* q = impl::take_open(impl_.get(), r, detail::op::nack, w, e);
  if (q == nullptr) return e;
  impl& c = *impl_;
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
  const std::int64_t now = c.topic->steady_now();
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
  errc e = errc::ok;
  std::uint64_t w = 0;
  detail::queue_partition* q =
      impl::take_open(impl_.get(), r, detail::op::extend, w, e, visibility.count() >= 0);
  if (q == nullptr) return e;
  impl& c = *impl_;
  const std::int64_t due = detail::saturating_add(c.topic->steady_now(), visibility.count());
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
      state_->wake_housekeeper();  // the group's visibility timeouts need it
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
  queue_consumer::owner p(new queue_consumer::impl());
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
}  // namespace lanes
