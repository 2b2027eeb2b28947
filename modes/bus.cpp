// modes/bus.cpp: the bus, topics and producers.
#include <algorithm>
#include <cstring>

#include "bus_state.hpp"

namespace lanes {
namespace detail {

topic_state::topic_state(std::string n, const topic_config& c)
    : name(std::move(n)),
      config(c),
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

void bus_state::housekeeping_loop() {
  std::unique_lock lock(hk_mu);
  while (!closed.load(std::memory_order_acquire)) {
    hk_cv.wait_for(lock, config.housekeeping_interval);
    if (closed.load(std::memory_order_acquire)) break;
    std::vector<std::shared_ptr<topic_state>> all;
    {
      std::lock_guard tl(mu);
      for (auto& [n, t] : topics) all.push_back(t);
    }
    for (auto& t : all) {
      queue_housekeeping(*t);
      if (t->config.retention_bytes == 0 && t->config.retention_age.count() == 0) continue;
      for (auto& p : t->partitions) {
        p->enforce_retention(t->config.retention_bytes, t->config.retention_age);
      }
    }
  }
}

namespace {

errc validate(std::string_view name, const topic_config& c) {
  if (c.mode != topic_mode::log && c.mode != topic_mode::queue) return errc::invalid_config;
  if (const errc e = validate_queue(name, c); e != errc::ok) return e;
  if (c.partitions == 0 || c.partitions > 65536) return errc::invalid_config;
  if (!is_power_of_two(c.ring_capacity) || c.ring_capacity < 4096 ||
      c.ring_capacity > (std::size_t{1} << 32)) {
    return errc::invalid_config;
  }
  const std::size_t largest = c.ring_capacity / 2 - sizeof(frame_header) - sizeof(record_header);
  if (c.max_message_size > largest) return errc::invalid_config;
  if (c.retention_bytes > c.ring_capacity) return errc::invalid_config;
  if (c.retention_age.count() < 0) return errc::invalid_config;
  if (c.max_readers == 0 || c.max_readers > 4096) return errc::invalid_config;
  if (c.policy != backpressure::block && c.policy != backpressure::overwrite) {
    return errc::invalid_config;
  }
  return errc::ok;
}

std::size_t encoded_headers_size(std::span<const header> hs) noexcept {
  std::size_t n = 0;
  for (const header& h : hs) n += encoded_header_size(h);
  return n;
}

void encode_headers(std::byte* out, std::span<const header> hs) noexcept {
  for (const header& h : hs) {
    const auto n = static_cast<std::uint16_t>(h.name.size());
    const auto v = static_cast<std::uint32_t>(h.value.size());
    std::memcpy(out, &n, 2);
    std::memcpy(out + 2, &v, 4);
    std::memcpy(out + 6, h.name.data(), n);
    std::memcpy(out + 6 + n, h.value.data(), v);
    out += 6 + n + v;
  }
}

bool headers_ok(std::span<const header> hs) noexcept {
  for (const header& h : hs) {
    if (h.name.size() > 0xFFFF || h.value.size() > 0xFFFF'FFFFu) return false;
  }
  return true;
}

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------------------------------
// bus

bool bus::valid_topic_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bus::bus(bus_config config) : state_(std::make_shared<detail::bus_state>(std::move(config))) {
  if (!state_->config.data_dir.empty()) {
    throw std::system_error(make_error_code(errc::invalid_config),
                            "bus: persistence (data_dir) is not available yet");
  }
  if (state_->config.housekeeping_interval.count() > 0) {
    state_->housekeeper = std::thread([s = state_.get()] { s->housekeeping_loop(); });
  }
}

bus::~bus() {
  close();
  if (state_->housekeeper.joinable()) state_->housekeeper.join();
}

errc bus::create_topic(std::string_view name, const topic_config& config) {
  if (!valid_topic_name(name)) return errc::invalid_topic_name;
  if (const errc e = detail::validate(name, config); e != errc::ok) return e;
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
  auto t = std::make_shared<detail::topic_state>(std::string(name), config);
  if (config.mode == topic_mode::queue) {
    if (const errc e = detail::open_queue(*t, std::move(dlq)); e != errc::ok) return e;
  }
  state_->topics.emplace(std::string(name), std::move(t));
  return errc::ok;
}

errc bus::delete_topic(std::string_view name) {
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
      ps.log_start_offset = p->log_start_offset.load(std::memory_order_acquire);
      ps.end_offset = p->end_offset.load(std::memory_order_acquire);
      ps.bytes = p->bytes_held();
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
      p->enforce_retention(t->config.retention_bytes, t->config.retention_age);
    }
  }
}

void bus::close() noexcept {
  if (state_->closed.exchange(true, std::memory_order_acq_rel)) return;
  {
    std::lock_guard lock(state_->hk_mu);
    state_->hk_cv.notify_all();
  }
  std::lock_guard lock(state_->mu);
  for (auto& [n, t] : state_->topics) {
    t->closed.store(true, std::memory_order_release);
    t->data.notify_all();
    for (auto& p : t->partitions) p->space.notify_all();
  }
}

bool bus::is_closed() const noexcept { return state_->closed.load(std::memory_order_acquire); }

// ---------------------------------------------------------------------------------------
// producer

producer::producer(std::shared_ptr<detail::topic_state> t) noexcept
    : topic_(std::move(t)), partitioner_(topic_->config.partitions) {}

producer::producer(producer&& o) noexcept { *this = std::move(o); }

producer& producer::operator=(producer&& o) noexcept {
  if (this != &o) {
    if (topic_) topic_->producers.fetch_sub(1, std::memory_order_acq_rel);
    topic_ = std::move(o.topic_);
    partitioner_ = o.partitioner_;
    max_block_ = o.max_block_;
  }
  return *this;
}

producer::~producer() {
  if (topic_) topic_->producers.fetch_sub(1, std::memory_order_acq_rel);
}

const std::string& producer::topic() const noexcept { return topic_->name; }

errc producer::route(std::optional<std::string_view> key, const publish_options& o,
                     std::uint32_t& partition) noexcept {
  if (o.partition) {
    if (partitioner_.check(*o.partition) != errc::ok) return errc::invalid_partition;
    partition = *o.partition;
  } else if (key) {
    partition = partitioner_.for_key(*key);
  } else {
    partition = partitioner_.next_round_robin();
  }
  return errc::ok;
}

producer::claim producer::try_claim(std::optional<std::string_view> key, std::size_t value_size,
                                    const publish_options& o) noexcept {
  claim c;
  if (!topic_) {
    c.status = errc::unknown_topic;
    return c;
  }
  detail::topic_state& t = *topic_;
  if (t.closed.load(std::memory_order_relaxed)) {
    c.status = t.deleted.load(std::memory_order_relaxed) ? errc::unknown_topic : errc::closed;
    return c;
  }
  if (c.status = route(key, o, c.partition); c.status != errc::ok) return c;
  const std::size_t key_size = key ? key->size() : 0;
  const std::size_t headers_size = o.headers.empty() ? 0 : detail::encoded_headers_size(o.headers);
  const std::size_t body = key_size + headers_size + value_size;
  if (body > t.max_message || !detail::headers_ok(o.headers)) {
    c.status = errc::message_too_large;
    return c;
  }
  detail::partition_state& p = *t.partitions[c.partition];
  c.frame = p.ring.try_claim(sizeof(record_header) + body);
  // Retained records that every reader has released make way first, as for publish: a
  // zero-copy producer would otherwise see `full` for good once the ring has wrapped.
  while (c.frame.status == errc::full &&
         p.make_room(frame_footprint(sizeof(record_header) + body))) {
    c.frame = p.ring.try_claim(sizeof(record_header) + body);
  }
  if (!c.frame) {
    c.status = c.frame.status == errc::frame_too_large ? errc::message_too_large : c.frame.status;
    return c;
  }
  std::byte* out = c.frame.data;
  record_header h;
  h.offset = 0;  // stamped in commit order
  h.timestamp_ns = o.timestamp_ns != 0 ? o.timestamp_ns : detail::now_ns();
  h.key_size = key ? static_cast<std::uint32_t>(key_size) : record_header::no_key;
  h.value_size = static_cast<std::uint32_t>(value_size);
  h.headers_size = static_cast<std::uint32_t>(headers_size);
  h.header_count = static_cast<std::uint32_t>(o.headers.size());
  std::memcpy(out, &h, sizeof h);
  out += sizeof h;
  if (key_size != 0) std::memcpy(out, key->data(), key_size);
  out += key_size;
  if (headers_size != 0) detail::encode_headers(out, o.headers);
  out += headers_size;
  c.value = {out, value_size};
  return c;
}

publish_result producer::commit(claim& c) noexcept {
  detail::topic_state& t = *topic_;
  detail::partition_state& p = *t.partitions[c.partition];
  publish_result r;
  r.partition = c.partition;
  const std::uint64_t ring_offset = c.frame.position & (p.ring.capacity() - 1);
  p.ring.commit(c.frame, [&] {
    // In commit order: every earlier record has its offset, no later one can.
    r.offset = p.next_offset++;
    std::memcpy(c.frame.data, &r.offset, sizeof r.offset);  // record_header::offset
    p.index[r.offset & p.index_mask].store(static_cast<std::uint32_t>(ring_offset),
                                           std::memory_order_relaxed);
    // Released before the frame itself: a seek may locate a record that is not visible yet,
    // and a reader then simply waits for it.
    p.end_offset.store(r.offset + 1, std::memory_order_release);
  });
  c.status = errc::closed;  // the claim is spent
  t.data.notify_all();
  return r;
}

void producer::abort(claim& c) noexcept {
  if (c.status != errc::ok) return;
  topic_->partitions[c.partition]->ring.abort(c.frame);
  c.status = errc::closed;
}

publish_result producer::publish_impl(std::optional<std::string_view> key, std::string_view value,
                                      const publish_options& o, bool wait) noexcept {
  // try_claim already lets retained records that every reader released make way.
  claim c = try_claim(key, value.size(), o);
  if (c.status == errc::full && wait) {
    detail::partition_state& p = *topic_->partitions[c.partition];
    // Retries stay on the partition this message was routed to (round-robin moves on).
    publish_options routed = o;
    routed.partition = c.partition;
    p.space.wait_until(
        [&] {
          c = try_claim(key, value.size(), routed);
          return c.status != errc::full;
        },
        wait_clock::now() + max_block_);
    if (c.status == errc::full) c.status = errc::timeout;
  }
  if (!c) return {c.status, c.partition, 0};
  if (!value.empty()) std::memcpy(c.value.data(), value.data(), value.size());
  return commit(c);
}

publish_result producer::publish(std::optional<std::string_view> key, std::string_view value,
                                 const publish_options& o) noexcept {
  return publish_impl(key, value, o, true);
}

publish_result producer::try_publish(std::optional<std::string_view> key, std::string_view value,
                                     const publish_options& o) noexcept {
  return publish_impl(key, value, o, false);
}

std::size_t producer::publish_batch(std::span<const message> messages,
                                    std::span<publish_result> results) noexcept {
  std::size_t n = 0;
  for (; n < messages.size() && n < results.size(); ++n) {
    const message& m = messages[n];
    results[n] = publish(m.key, m.value, m.options);
    if (!results[n]) break;
  }
  return n;
}

}  // namespace lanes
