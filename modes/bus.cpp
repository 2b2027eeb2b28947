// modes/bus.cpp: the bus and its topics: create, delete, describe, retention, callbacks,
// close. Producers are in producer.cpp.
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bus_state.hpp"
#include "lanes/clock.hpp"
#include "lanes/file_io.hpp"
#include "lanes/group_offsets_file.hpp"

namespace lanes {
namespace detail {

topic_state::topic_state(std::string n, const topic_config& c, const clock_source* clk)
    : name(std::move(n)),
      config(c),
      clock(clk),
      max_message(c.max_message_size != 0
                      ? c.max_message_size
                      : (c.ring_capacity / 2) - sizeof(frame_header) - sizeof(record_header)) {
  partitions.reserve(c.partitions);
  for (std::uint32_t i = 0; i < c.partitions; ++i) {
    partitions.push_back(std::make_unique<partition_state>(c, i));
  }
}

std::shared_ptr<group_offsets> topic_state::offsets_for(const std::string& group) {
  std::lock_guard lock(groups_mu);
  auto it = groups.find(group);
  if (it != groups.end()) return it->second;
  auto g = std::make_shared<group_offsets>(config.partitions);
  groups.emplace(group, g);
  return g;
}

std::shared_ptr<topic_state> bus_state::find(std::string_view name) const {
  std::lock_guard lock(mu);
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : it->second;
}

bool bus_state::housekeeping_wanted() const {
  std::lock_guard lock(mu);
  for (const auto& [n, t] : topics) {
    if (t->config.retention_bytes != 0 || t->config.retention_age.count() != 0) return true;
    std::lock_guard gl(t->groups_mu);
    if (!t->queue_groups.empty()) return true;
  }
  return false;
}

void bus_state::wake_housekeeper() {
  {
    std::lock_guard lock(hk_mu);
    ++hk_changes;
  }
  hk_cv.notify_all();
}

// An idle bus without queues or retention has nothing to do here: waking every
// housekeeping_interval (10 ms) just in case was ~0.3% of a CPU, the largest share of an
// idle durable bus (durable_bench's idle case).
void bus_state::housekeeping_loop() {
  const auto stopping = [&] { return closed.load(std::memory_order_acquire); };
  while (!stopping()) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(hk_mu);
      seen = hk_changes;  // before looking: a change after this ends the wait below
    }
    const bool wanted = housekeeping_wanted();
    {
      // hk_mu is held only while waiting: create_topic and make_queue_consumer call
      // wake_housekeeper under their own locks, which the round below takes.
      std::unique_lock lock(hk_mu);
      if (!wanted) {
        hk_cv.wait(lock, [&] { return stopping() || hk_changes != seen; });
        continue;  // look again
      }
      if (hk_cv.wait_for(lock, config.housekeeping_interval, stopping)) break;
    }
    std::vector<std::shared_ptr<topic_state>> all;
    {
      std::lock_guard tl(mu);
      for (auto& [n, t] : topics) all.push_back(t);
    }
    for (auto& t : all) {
      queue_housekeeping(*t);
      if (t->config.retention_bytes == 0 && t->config.retention_age.count() == 0) continue;
      for (auto& p : t->partitions) {
        p->enforce_retention(t->config.retention_bytes, t->config.retention_age, t->realtime_now());
      }
    }
  }
}

errc validate(std::string_view name, const topic_config& c) {
  if (c.mode != topic_mode::log && c.mode != topic_mode::queue) return errc::invalid_config;
  if (const errc e = validate_queue(name, c); e != errc::ok) return e;
  if (c.partitions == 0 || c.partitions > max_partitions) return errc::invalid_config;
  if (!is_power_of_two(c.ring_capacity) || c.ring_capacity < 4096 ||
      c.ring_capacity > (std::size_t{1} << 32)) {
    return errc::invalid_config;
  }
  const std::size_t largest = c.ring_capacity / 2 - sizeof(frame_header) - sizeof(record_header);
  if (c.max_message_size > largest) return errc::invalid_config;
  // Durable topics keep records in their files: retention then applies there.
  if (c.durable == durability::none && c.retention_bytes > c.ring_capacity) {
    return errc::invalid_config;
  }
  if (c.durable != durability::none) {
    // The ring must never drop what is not on disk yet.
    if (c.policy != backpressure::block) return errc::invalid_config;
    if (c.sync_interval.count() <= 0 || c.sync_bytes == 0) return errc::invalid_config;
    // A segment holds at least one batch with the largest record; its size fits 32 bits.
    if (c.segment_bytes < c.ring_capacity / 2 + 4096 + 128 || c.segment_bytes >= (1ull << 32) ||
        c.segment_age.count() < 0) {
      return errc::invalid_config;
    }
  }
  if (c.retention_age.count() < 0) return errc::invalid_config;
  if (c.max_readers == 0 || c.max_readers > 4096) return errc::invalid_config;
  if (c.policy != backpressure::block && c.policy != backpressure::overwrite) {
    return errc::invalid_config;
  }
  return errc::ok;
}

namespace {

// Runs fn(topic) for the durable topic `name` under persist_mu (the persister calls the
// topic's callbacks under it); unknown_topic or wrong_mode when there is no such topic.
template <class F>
errc with_durable_topic(bus_state& s, std::string_view name, F&& fn) {
  const auto t = s.find(name);
  if (!t) return errc::unknown_topic;
  if (!t->durable()) return errc::wrong_mode;
  std::lock_guard lock(s.persist_mu);
  std::forward<F>(fn)(*t);
  return errc::ok;
}

}  // namespace

}  // namespace detail

// ---------------------------------------------------------------------------------------
// bus

bool bus::valid_topic_name(std::string_view name) noexcept { return io::valid_topic_name(name); }

bool bus::valid_group_name(std::string_view name) noexcept {
  return name.size() <= max_group_name_size && io::valid_topic_name(name);
}
static_assert(bus::max_group_name_size == io::max_group_name_size);

bus::bus(bus_config config) : state_(std::make_shared<detail::bus_state>(std::move(config))) {
  if (!state_->config.data_dir.empty()) open_data_dir();
  if (state_->config.housekeeping_interval.count() > 0) {
    state_->housekeeper = std::thread([s = state_.get()] { s->housekeeping_loop(); });
  }
}

bus::~bus() {
  close();
  if (state_->housekeeper.joinable()) state_->housekeeper.join();
}

namespace {

namespace fs = std::filesystem;

// A directory where a new topic goes. topic.conf is written last: a create_topic that a
// crash cut off before it leaves a directory holding at most topic.conf.tmp and partition
// directories (named by their number). Nothing in it was acknowledged, so it is taken over
// (removed). Anything else there is not ours to remove: topic_exists.
errc take_over_leftover_dir(const fs::path& dir) {
  if (!io::exists_nofollow(dir)) return errc::ok;
  std::error_code e;
  if (io::exists_nofollow(dir / "topic.conf") || !fs::is_directory(fs::symlink_status(dir, e))) {
    return errc::topic_exists;
  }
  std::vector<io::dir_entry> entries;
  if (!io::list_dir(dir, entries)) return errc::topic_exists;
  for (const io::dir_entry& f : entries) {
    const bool partition_dir =
        f.is_dir && !f.name.empty() && f.name.find_first_not_of("0123456789") == std::string::npos;
    if (f.name != "topic.conf.tmp" && !partition_dir) return errc::topic_exists;
  }
  return io::remove_tree(dir) ? errc::ok : errc::file_error;
}

// A new topic's files in the data directory: its partition logs and acks files (durable
// topics), then topic.conf. The partitions first, topic.conf last: a topic.conf on disk always
// has its partition directories (a reopen refuses a topic whose partition directory is
// missing). On failure nothing is left behind (nothing was acknowledged).
errc store_new_topic(detail::bus_state& s, detail::topic_state& t, const topic_config& config) {
  const fs::path root(s.config.data_dir);
  const bool durable = config.durable != durability::none;
  if (io::file_status made = io::make_dir(t.dir); !made) return made.status;
  std::string detail;
  if (durable) {
    t.wakeup = s.wakeup;
    t.persister = s.wakeup.get();
  }
  errc oe = errc::ok;
  std::vector<damage_report> none;
  if (durable) oe = detail::open_topic_logs(t, root, {}, none, detail);
  if (oe == errc::ok && durable && config.mode == topic_mode::queue) {
    // A new durable queue: an empty acks file per partition (a leftover one from a topic
    // of that name deleted meanwhile is gone with its directory).
    for (auto& p : t.partitions) {
      if (oe == errc::ok) oe = detail::recover_queue_partition(t, *p, detail);
    }
    if (oe == errc::ok) oe = detail::attach_queue_acks(t, detail);
  }
  if (oe == errc::ok) {
    const std::string text = detail::encode_topic_config(config);
    oe = io::write_file_atomically(t.dir, "topic.conf",
                                   {reinterpret_cast<const std::byte*>(text.data()), text.size()})
             .status;
  }
  if (oe != errc::ok) {
    (void)io::remove_tree(t.dir);
  } else {
    (void)io::fsync_dir(root);
  }
  return oe;
}

}  // namespace

errc bus::create_topic(std::string_view name, const topic_config& config) {
  if (!valid_topic_name(name)) return errc::invalid_topic_name;
  if (const errc e = detail::validate(name, config); e != errc::ok) return e;
  const bool durable = config.durable != durability::none;
  if (durable && state_->config.data_dir.empty()) return errc::invalid_config;  // no disk
  if (is_read_only()) return errc::read_only;
  std::lock_guard lock(state_->mu);
  if (state_->closed.load(std::memory_order_acquire)) return errc::closed;
  if (state_->topics.find(name) != state_->topics.end()) return errc::topic_exists;
  std::shared_ptr<detail::topic_state> dlq;
  if (!config.queue.dead_letter_topic.empty()) {  // must exist now, and take many producers
    auto it = state_->topics.find(config.queue.dead_letter_topic);
    if (it == state_->topics.end()) return errc::unknown_topic;
    if (it->second->config.producers != producer_mode::multi) return errc::invalid_config;
    dlq = it->second;
  }
  auto t =
      std::make_shared<detail::topic_state>(std::string(name), config, state_->config.clock.get());
  if (config.mode == topic_mode::queue) {
    if (const errc e = detail::open_queue(*t, std::move(dlq)); e != errc::ok) return e;
  }
  if (!state_->config.data_dir.empty()) {
    // Every topic's configuration is stored, so a reopened bus has the same topics; only
    // durable ones keep their records.
    t->dir = fs::path(state_->config.data_dir) / std::string(name);
    if (const errc e = take_over_leftover_dir(t->dir); e != errc::ok) return e;
    if (const errc e = store_new_topic(*state_, *t, config); e != errc::ok) return e;
    if (durable) {
      {
        std::lock_guard pl(state_->persist_mu);
        state_->durable_topics.push_back(t);
      }
      state_->wakeup->kick();  // the persister may be in its long idle sleep
    }
  }
  state_->topics.emplace(std::string(name), std::move(t));
  state_->wake_housekeeper();  // a queue or retention gives it work
  return errc::ok;
}

errc bus::delete_topic(std::string_view name) {
  if (is_read_only()) return errc::read_only;
  std::shared_ptr<detail::topic_state> t;
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed.load(std::memory_order_acquire)) return errc::closed;
    auto it = state_->topics.find(name);
    if (it == state_->topics.end()) return errc::unknown_topic;
    t = it->second;
    state_->topics.erase(it);
  }
  t->deleted.store(true, std::memory_order_release);
  t->closed.store(true, std::memory_order_release);
  t->data.notify_all();
  for (auto& p : t->partitions) p->space.notify_all();
  if (!t->dir.empty()) {
    {
      // The persister is between rounds while we hold its lock: close the logs here.
      std::lock_guard pl(state_->persist_mu);
      auto& d = state_->durable_topics;
      d.erase(std::remove(d.begin(), d.end(), t), d.end());
      for (auto& p : t->partitions) {
        if (p->persist) detail::persist_close(*p);
        detail::close_queue_acks(*t, *p);
      }
    }
    (void)io::remove_tree(t->dir);
  }
  return errc::ok;
}

std::vector<std::string> bus::list_topics() const {
  std::lock_guard lock(state_->mu);
  std::vector<std::string> names;
  for (auto& [n, t] : state_->topics) names.push_back(n);
  return names;
}

std::optional<topic_info> bus::describe_topic(std::string_view name) const {
  auto t = state_->find(name);
  if (!t) return std::nullopt;
  topic_info info;
  info.name = t->name;
  info.config = t->config;
  std::vector<std::pair<std::string, std::shared_ptr<detail::group_offsets>>> groups;
  {
    std::lock_guard lock(t->groups_mu);
    for (auto& [g, o] : t->groups) groups.emplace_back(g, o);
  }
  for (auto& p : t->partitions) {
    partition_stats ps;
    ps.partition = p->id;
    {
      std::lock_guard lock(p->mu);  // a consistent log start (offset, position)
      ps.log_start_offset = p->first_offset();
      ps.end_offset = p->end_offset.load(std::memory_order_acquire);
      ps.bytes = p->bytes_held();
      ps.durable_offset = p->durable_offset();
      if (p->persist && p->persist->log->status() != errc::ok &&
          p->persist->log->status() != errc::closed)
        p->fail(p->persist->log->status());
      ps.status = p->io_status.load(std::memory_order_acquire);
    }
    for (auto& [g, o] : groups) {
      group_partition_stats gs;
      gs.group = g;
      gs.committed = o->committed[p->id].load(std::memory_order_acquire);
      const std::uint64_t from =
          gs.committed < 0 ? ps.log_start_offset
                           : std::max<std::uint64_t>(static_cast<std::uint64_t>(gs.committed),
                                                     ps.log_start_offset);
      gs.lag = ps.end_offset > from ? ps.end_offset - from : 0;
      ps.groups.push_back(std::move(gs));
    }
    info.partitions.push_back(std::move(ps));
  }
  for (const damage_report& d : state_->damage) {
    if (d.topic == t->name) info.damage.push_back(d);
  }
  return info;
}

producer bus::make_producer(std::string_view topic, errc* status) {
  auto set = [&](errc e) {
    if (status != nullptr) *status = e;
  };
  if (is_closed()) {
    set(errc::closed);
    return {};
  }
  auto t = state_->find(topic);
  if (!t) {
    set(errc::unknown_topic);
    return {};
  }
  if (is_read_only()) {
    set(errc::read_only);
    return {};
  }
  if (t->config.producers == producer_mode::single) {
    std::uint32_t none = 0;
    if (!t->producers.compare_exchange_strong(none, 1, std::memory_order_acq_rel)) {
      set(errc::producer_busy);
      return {};
    }
  } else {
    t->producers.fetch_add(1, std::memory_order_relaxed);
  }
  set(errc::ok);
  return producer(std::move(t));
}

void bus::enforce_retention() {
  std::vector<std::shared_ptr<detail::topic_state>> all;
  {
    std::lock_guard lock(state_->mu);
    for (auto& [n, t] : state_->topics) all.push_back(t);
  }
  for (auto& t : all) {
    detail::queue_housekeeping(*t);
    for (auto& p : t->partitions) {
      p->enforce_retention(t->config.retention_bytes, t->config.retention_age, t->realtime_now());
    }
  }
}

errc bus::on_durable(std::string_view topic, durable_callback fn) {
  const errc e = detail::with_durable_topic(*state_, topic, [&](detail::topic_state& t) {
    t.on_durable = std::move(fn);
    if (t.on_durable) {
      for (auto& p : t.partitions) {
        p->persist->reported_durable = 0;  // the current durable offset is reported next round
        p->persist->reported_failure = false;
      }
    }
  });
  if (e == errc::ok) state_->wakeup->kick();
  return e;
}

errc bus::on_persist_progress(std::string_view topic, persist_progress_callback fn) {
  return detail::with_durable_topic(*state_, topic,
                                    [&](detail::topic_state& t) { t.on_progress = std::move(fn); });
}

void bus::close() noexcept {
  if (state_->closed.exchange(true, std::memory_order_acq_rel)) return;
  {
    std::lock_guard lock(state_->hk_mu);
    state_->hk_cv.notify_all();
  }
  {
    std::lock_guard lock(state_->mu);
    for (auto& [n, t] : state_->topics) {
      t->closed.store(true, std::memory_order_release);
      t->data.notify_all();
      for (auto& p : t->partitions) p->space.notify_all();
    }
  }
  // Durable topics: everything published goes to disk, then the logs close cleanly.
  state_->stop_persister();
  io::unlock_data_dir(state_->lock_fd);
  state_->lock_fd = -1;
}

bool bus::is_closed() const noexcept { return state_->closed.load(std::memory_order_acquire); }

}  // namespace lanes
