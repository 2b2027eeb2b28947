// modes/consumer_group.cpp: a consumer's partitions: assignment, group membership and
// rebalancing (which member reads which partition, and the group's hold on them).
#include <algorithm>

#include "consumer_impl.hpp"

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

}  // namespace detail

std::map<std::string, std::uint32_t> consumer::impl::partition_counts_locked() const {
  std::map<std::string, std::uint32_t> counts;
  for (const auto& [n, t] : bus->topics) counts.emplace(n, t->config.partitions);
  return counts;
}

errc consumer::impl::open(std::shared_ptr<detail::topic_state> t, std::uint32_t pid) {
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
void consumer::impl::release_part(part& a, bool commit_it, bool park) {
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
bool consumer::impl::targeted_locked(const topic_partition& tp) const {
  for (const auto& m : group->members) {
    if (std::find(m.target.begin(), m.target.end(), tp) != m.target.end()) return true;
  }
  return false;
}

// A reader for the group on a partition that none of its members owns: at the group's
// committed offset while that is still in the log, else at the published end (the group
// has seen nothing after it). Empty when the partition has no reader slot left (the first
// owner's open then reports too_many_readers).
frame_ring::reader consumer::impl::group_reader(detail::partition_state& p,
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
void consumer::impl::hold_locked(std::span<const std::string> topics) {
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
      } else if (gates && !offs->parked[p] && offs->owner[p].load(std::memory_order_acquire) == 0) {
        // An owner to be takes the reader under parked_mu after its owner CAS, so it
        // either finds this reader or made us see it as the owner.
        offs->parked[p] = group_reader(*ts.partitions[p], *offs);
      }
    }
  }
}

void consumer::impl::apply_rebalance() {
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

void consumer::impl::leave() {
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

}  // namespace lanes
