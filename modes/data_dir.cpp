// modes/data_dir.cpp: opening a bus on its data directory (bus::open_data_dir).
//
// Two passes, so that a refused open changes nothing on disk:
//   verify: every topic.conf decodes, every durable partition recovers without damage
//           (its log opened read-only), every group-offsets file decodes. Damage throws
//           here, before anything was written (with quarantine_on_damage it is left to the
//           second pass, which sets it aside and reports it).
//   open:   the topics, their logs (recovery may cut torn tails and write checkpoints),
//           group offsets and durable queues; then the persister starts.
// A read-only bus (bus_config::read_only, or a full disk met in the second pass) runs the
// second pass with read-only logs, writes nothing and starts no persister.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "bus_state.hpp"
#include "lanes/file_io.hpp"
#include "lanes/group_offsets_file.hpp"

namespace lanes {

namespace fs = std::filesystem;

const char* to_string(damage_report::kind k) noexcept {
  switch (k) {
    case damage_report::kind::torn_tail: return "torn_tail";
    case damage_report::kind::quarantined: return "quarantined";
    case damage_report::kind::group_offsets_set_aside: return "group_offsets_set_aside";
    case damage_report::kind::group_offset_lowered: return "group_offset_lowered";
    case damage_report::kind::acks_damaged: return "acks_damaged";
  }
  return "unknown";
}

namespace {

[[noreturn]] void refuse(errc e, const std::string& what) {
  throw std::system_error(make_error_code(e), "bus: " + what);
}

// The topic directories (those with a topic.conf), by name. Links are refused.
std::vector<fs::path> topic_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  std::vector<io::dir_entry> entries;
  if (io::file_status ls = io::list_dir(root, entries); !ls) {
    refuse(errc::file_error, "cannot list " + ls.what);
  }
  for (const io::dir_entry& entry : entries) {
    const fs::path path = root / entry.name;
    if (!(entry.is_dir || entry.is_link) || !io::exists_nofollow(path / "topic.conf")) continue;
    if (entry.is_link) refuse(errc::file_error, io::describe_errno(path, ELOOP));
    dirs.push_back(path);
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

topic_config read_topic_config(const fs::path& dir) {
  const fs::path file = dir / "topic.conf";
  std::vector<std::byte> bytes;
  if (io::file_status rd = io::read_small_file(file, 1 << 20, bytes); !rd) {
    refuse(rd.status == errc::no_space ? errc::file_error : rd.status,
           "cannot read topic configuration: " + rd.what);
  }
  topic_config c;
  const std::string name = dir.filename().string();
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!parse_topic_config(name, text, c)) {
    refuse(errc::invalid_config,
           "unreadable topic configuration " + file.string() + "; fix or remove it");
  }
  return c;
}

// The first pass: throws on damage, writes nothing.
void verify_data_dir(const fs::path& root, const std::vector<fs::path>& dirs, bool quarantine) {
  for (const fs::path& dir : dirs) {
    const topic_config c = read_topic_config(dir);
    if (c.durable == durability::none) continue;
    io::log_options o = detail::log_options_for(c, false);
    o.read_only = true;
    for (std::uint32_t p = 0; p < c.partitions; ++p) {
      io::open_result r = io::partition_log::open(root, dir.filename().string(), p, o);
      if (r) continue;
      if (r.status == errc::corrupt_log && quarantine) continue;  // the second pass sets it aside
      if (r.status == errc::file_error && !io::exists_nofollow(dir / std::to_string(p))) {
        continue;  // created by the second pass (a crash during create_topic)
      }
      refuse(r.status, "topic " + dir.filename().string() + ": " + r.detail);
    }
    std::vector<io::group_offsets> groups;
    std::vector<std::string> damaged;
    io::file_status g = io::load_group_offsets(dir, c.partitions, false, groups, damaged);
    if (!g && !(g.status == errc::corrupt_log && quarantine)) {
      refuse(g.status, "topic " + dir.filename().string() + ": " + g.what);
    }
  }
}

// A durable topic's committed group offsets, checked against what recovery kept.
void load_offsets(detail::bus_state& s, detail::topic_state& t, bool read_only) {
  std::vector<io::group_offsets> groups;
  std::vector<std::string> damaged;
  const bool aside = s.config.quarantine_on_damage && !read_only;
  if (io::file_status g =
          io::load_group_offsets(t.dir, t.config.partitions, aside, groups, damaged);
      !g) {
    refuse(g.status, "topic " + t.name + ": " + g.what);
  }
  for (std::string& d : damaged) {
    s.damage.push_back({damage_report::kind::group_offsets_set_aside, t.name, 0, 0, 0, d});
  }
  for (io::group_offsets& g : groups) {
    auto offs = t.offsets_for(g.group);
    bool lowered = false;
    for (std::uint32_t p = 0; p < t.config.partitions; ++p) {
      // A commit past the recovered end names records that are gone (a torn tail cut, or
      // the files cut by hand). Keeping it would make the group skip the records that get
      // those offsets next; it resumes at the end instead, as Kafka's out-of-range commit
      // does with reset latest, and the change is reported.
      const auto end =
          static_cast<std::int64_t>(t.partitions[p]->end_offset.load(std::memory_order_relaxed));
      if (g.committed[p] > end) {
        s.damage.push_back(
            {damage_report::kind::group_offset_lowered, t.name, p, static_cast<std::uint64_t>(end),
             static_cast<std::uint64_t>(g.committed[p]),
             "group " + g.group + ": committed offset " + std::to_string(g.committed[p]) +
                 " lowered to the end " + std::to_string(end)});
        g.committed[p] = end;
        lowered = true;
      }
      offs->committed[p].store(g.committed[p], std::memory_order_relaxed);
    }
    if (lowered && !read_only) (void)io::store_group_offsets(t.dir, g.group, g.committed);
  }
}

// The second pass: topics, logs, group offsets and durable queues. Throws on failure.
void open_topics(detail::bus_state& s, const std::vector<fs::path>& dirs, bool read_only) {
  const fs::path root(s.config.data_dir);
  const detail::log_open_mode mode{s.config.quarantine_on_damage && !read_only, read_only};
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    const topic_config c = read_topic_config(dir);
    auto t = std::make_shared<detail::topic_state>(name, c, s.config.clock.get());
    t->dir = dir;
    if (c.durable != durability::none) {
      t->wakeup = s.wakeup;
      t->persister = s.wakeup.get();
      std::string detail;
      errc oe = detail::open_topic_logs(*t, root, mode, s.damage, detail);
      // Durable queues: the messages not acked on disk go back into the ring before the
      // queue opens on it (modes/queue_acks.cpp). Read-only: no queue consumer can ack.
      for (std::size_t p = 0;
           oe == errc::ok && !read_only && c.mode == topic_mode::queue && p < c.partitions; ++p) {
        oe = detail::recover_queue_partition(*t, *t->partitions[p], detail, &s.damage);
      }
      if (oe != errc::ok) refuse(oe, "topic " + name + ": " + detail);
      load_offsets(s, *t, read_only);
      s.durable_topics.push_back(t);
    }
    s.topics.emplace(name, std::move(t));
  }
  // Queue topics last: their dead-letter topics exist by now.
  for (auto& [name, t] : s.topics) {
    if (t->config.mode != topic_mode::queue) continue;
    std::shared_ptr<detail::topic_state> dlq;
    if (!t->config.queue.dead_letter_topic.empty()) {
      auto it = s.topics.find(t->config.queue.dead_letter_topic);
      if (it != s.topics.end()) dlq = it->second;
    }
    std::string detail;
    errc qe = detail::open_queue(*t, std::move(dlq));
    if (qe == errc::ok && t->durable() && !read_only) qe = detail::attach_queue_acks(*t, detail);
    if (qe != errc::ok) refuse(qe, "queue topic " + name + ": " + detail);
  }
}

}  // namespace

bool parse_topic_config(std::string_view topic, std::string_view text, topic_config& out) {
  return bus::valid_topic_name(topic) && detail::decode_topic_config(std::string(text), out) &&
         detail::validate(topic, out) == errc::ok;
}

bool bus::is_read_only() const noexcept {
  return state_->read_only.load(std::memory_order_acquire);
}

std::string bus::read_only_reason() const {
  std::lock_guard lock(state_->mu);
  return state_->read_only_reason;
}

void bus::open_data_dir() {
  detail::bus_state& s = *state_;
  const fs::path root(s.config.data_dir);
  errc ec = errc::ok;
  std::string what;
  s.lock_fd = io::lock_data_dir(
      root, s.config.read_only ? io::lock_mode::shared : io::lock_mode::exclusive, ec, what);
  if (s.lock_fd < 0 && s.lock_fd != io::no_lock_file) refuse(ec, what);
  try {
    s.wakeup = std::make_shared<detail::persist_wakeup>();
    const std::vector<fs::path> dirs = topic_dirs(root);
    if (!s.config.read_only) verify_data_dir(root, dirs, s.config.quarantine_on_damage);
    bool ro = s.config.read_only;
    if (ro) s.read_only_reason = "opened read-only (bus_config::read_only)";
    try {
      open_topics(s, dirs, ro);
    } catch (const std::system_error& e) {
      if (ro || e.code() != make_error_code(errc::no_space)) throw;
      // The disk is full: everything verified above stays readable; nothing is written.
      s.topics.clear();
      s.durable_topics.clear();
      s.damage.clear();
      ro = true;
      s.read_only_reason = std::string("opened read-only because the disk is full: ") + e.what();
      open_topics(s, dirs, ro);
    }
    s.read_only.store(ro, std::memory_order_release);
  } catch (...) {
    io::unlock_data_dir(s.lock_fd);
    s.lock_fd = -1;
    throw;
  }
  if (s.config.on_damage) {
    for (const damage_report& d : s.damage) s.config.on_damage(d);
  }
  if (!s.read_only.load(std::memory_order_relaxed)) {
    s.persister = std::thread([st = state_.get()] { st->persister_loop(); });
    s.checkpointer = std::thread([st = state_.get()] { st->checkpointer_loop(); });
  }
}

}  // namespace lanes
