// modes/metrics.cpp: bus::metrics(), the snapshot a monitoring system reads (lanes/metrics.hpp).
// Cold path: takes the registry's and the groups' mutexes and allocates.
#include "lanes/metrics.hpp"

#include <algorithm>

#include "bus_state.hpp"

namespace lanes {

namespace {

persist_metrics persist_of(const io::partition_log& log) {
  const io::log_stats s = log.stats();
  persist_metrics m;
  m.bytes_written = s.bytes_written;
  m.syncs = s.syncs;
  m.retries = s.short_writes + s.again;
  static_assert(persist_metrics::sync_bounds_seconds.size() ==
                io::log_stats::sync_bounds_ns.size());
  std::copy(s.sync_latency.begin(), s.sync_latency.end(), m.sync_latency.begin());
  m.sync_latency_sum_seconds = static_cast<double>(s.sync_latency_sum_ns) / 1e9;
  const errc st = log.status();
  m.status = st == errc::closed ? errc::ok : st;
  return m;
}

partition_metrics partition_of(detail::partition_state& p) {
  partition_metrics m;
  m.partition = p.id;
  {
    std::lock_guard lock(p.mu);  // a consistent log start (offset, position)
    m.log_start_offset = p.first_offset();
    m.end_offset = p.end_offset.load(std::memory_order_acquire);
    m.ring_bytes = p.bytes_held();
  }
  m.records_in = m.end_offset - std::min(m.end_offset, p.opened_at);
  m.bytes_in = p.bytes_in.load(std::memory_order_relaxed);
  m.records_out = p.records_out.load(std::memory_order_relaxed);
  m.bytes_out = p.bytes_out.load(std::memory_order_relaxed);
  if (p.persist) {
    m.durable = true;
    m.durable_offset = p.durable_offset();
    m.persist = persist_of(*p.persist->log);
    if (m.persist.status == errc::ok)
      m.persist.status = p.io_status.load(std::memory_order_acquire);
  }
  return m;
}

}  // namespace

bus_metrics bus::metrics() const {
  bus_metrics out;
  out.read_only = is_read_only();
  std::vector<std::shared_ptr<detail::topic_state>> topics;
  std::map<std::string, std::pair<std::uint32_t, std::uint64_t>, std::less<>> members;  // group
  {
    std::lock_guard lock(state_->mu);
    for (auto& [name, t] : state_->topics) topics.push_back(t);
    for (auto& [name, g] : state_->groups) {
      std::lock_guard glock(g->mu);
      members[name] = {static_cast<std::uint32_t>(g->members.size()),
                       g->generation.load(std::memory_order_acquire)};
    }
  }
  for (const auto& t : topics) {
    topic_metrics tm;
    tm.name = t->name;
    tm.mode = t->config.mode;
    tm.durability = t->config.durable;
    for (auto& p : t->partitions) tm.partitions.push_back(partition_of(*p));
    std::vector<std::pair<std::string, std::shared_ptr<detail::group_offsets>>> groups;
    std::vector<std::string> queues;
    {
      std::lock_guard lock(t->groups_mu);
      for (auto& [g, o] : t->groups) groups.emplace_back(g, o);
      for (auto& [g, q] : t->queue_groups) queues.push_back(g);
    }
    for (auto& [g, o] : groups) {
      group_metrics gm;
      gm.group = g;
      gm.topic = t->name;
      if (auto it = members.find(g); it != members.end()) {
        gm.members = it->second.first;
        gm.rebalances = it->second.second;
      }
      for (const partition_metrics& pm : tm.partitions) {
        group_partition_metrics gp;
        gp.partition = pm.partition;
        gp.committed = o->committed[pm.partition].load(std::memory_order_acquire);
        const std::uint64_t from =
            gp.committed < 0 ? pm.log_start_offset
                             : std::max<std::uint64_t>(static_cast<std::uint64_t>(gp.committed),
                                                       pm.log_start_offset);
        gp.lag = pm.end_offset > from ? pm.end_offset - from : 0;
        gm.partitions.push_back(gp);
      }
      out.groups.push_back(std::move(gm));
    }
    for (const std::string& q : queues) {
      if (auto s = describe_queue(t->name, q)) out.queues.push_back(std::move(*s));
    }
    out.topics.push_back(std::move(tm));
  }
  return out;
}

}  // namespace lanes
