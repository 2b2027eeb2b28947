// modes/queue_partition.cpp: queue mode's per-partition state and groups: validation of a
// queue topic's settings, queue_partition and queue_group, opening a topic's queue group.
// The state machine and who owns what are described in modes/queue_state.hpp.
#include <algorithm>
#include <bit>

#include "queue_ops.hpp"

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

std::atomic<std::uint64_t> next_queue_id{1};

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

}  // namespace detail
}  // namespace lanes
