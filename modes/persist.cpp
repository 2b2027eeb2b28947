// modes/persist.cpp: durable topics (see persist.hpp).
#include "persist.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bus_state.hpp"
#include "lanes/clock.hpp"
#include "record_codec.hpp"

namespace lanes::detail {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// partitions

io::log_options log_options_for(const topic_config& c, bool quarantine) {
  io::log_options o;
  o.mode = c.durable == durability::sync    ? io::durability::sync
           : c.durable == durability::async ? io::durability::async
                                            : io::durability::none;
  o.segment_bytes = c.segment_bytes;
  o.segment_age = std::chrono::duration_cast<std::chrono::milliseconds>(c.segment_age);
  // A batch holds at least the largest record the ring can carry, and fits a segment
  // (validate() checks that segment_bytes leaves room for that).
  o.max_batch_bytes = static_cast<std::uint32_t>(
      std::min<std::size_t>(std::max<std::size_t>(std::size_t{1} << 20, c.ring_capacity / 2 + 4096),
                            c.segment_bytes - 128));
  o.sync_bytes = c.sync_bytes;
  o.sync_interval = c.sync_interval;
  o.quarantine_on_damage = quarantine;
  return o;
}

errc open_topic_logs(topic_state& t, const fs::path& root, const log_open_mode& mode,
                     std::vector<damage_report>& damage, std::string& detail) {
  io::log_options opts = log_options_for(t.config, mode.quarantine);
  opts.read_only = mode.read_only;
  for (auto& pp : t.partitions) {
    partition_state& p = *pp;
    io::open_result r = io::partition_log::open(root, t.name, p.id, opts);
    if (r.status == errc::log_quarantined) {
      // The damaged directory is set aside for a person; the partition goes on, empty,
      // after every offset the damaged log used (none is handed out twice), and says so.
      damage.push_back({damage_report::kind::quarantined, t.name, p.id, r.damaged_log_start,
                        r.resume_offset, r.detail});
      io::log_options fresh = opts;
      fresh.initial_offset = r.resume_offset;
      r = io::partition_log::open(root, t.name, p.id, fresh);
    }
    if (!r) {
      detail = r.detail;
      return r.status;
    }
    const io::recovery_report& rep = r.log->recovery();
    if (rep.torn_tail) {
      damage.push_back({damage_report::kind::torn_tail, t.name, p.id, rep.torn_from, rep.torn_from,
                        rep.detail + (mode.read_only ? " (left on disk: read-only)"
                                                     : "; " + std::to_string(rep.bytes_truncated) +
                                                           " bytes cut, " +
                                                           std::to_string(rep.segments_removed) +
                                                           " later segment files removed")});
    }
    auto ps = std::make_unique<partition_persistence>();
    ps->max_batch_bytes = opts.max_batch_bytes;
    ps->next_offset = r.log->appended_offset();
    ps->fifo.resize(opts.queue_depth + 1);
    errc ec = errc::ok;
    ps->reader = p.ring.add_reader(&ec);
    if (ec != errc::ok) return ec;
    ps->appended_pos = ps->reader.position();
    p.start_at(ps->next_offset);
    if (!mode.read_only && t.wakeup) {
      if (const errc e = r.log->set_completion_eventfd(t.wakeup->fd); e != errc::ok) {
        detail = "cannot register the persister's eventfd with io_uring";
        return e;
      }
    }
    if (t.wakeup) {
      r.log->set_sync_request_hook(
          [](void* w) noexcept { static_cast<persist_wakeup*>(w)->kick(); }, t.wakeup.get());
    }
    ps->notified_durable = r.log->durable_offset();
    ps->log = std::move(r.log);
    p.persist = std::move(ps);
  }
  return errc::ok;
}

namespace {

// Hands the frames [appended_pos, published) to the log, in batches.
bool append_new(partition_persistence& ps, frame_ring& ring) noexcept {
  bool work = false;
  const std::uint64_t published = ring.published_position();
  const std::uint64_t cap = ring.capacity();
  const std::uint64_t target_bytes =
      std::min<std::uint64_t>(std::uint64_t{1} << 20, ps.max_batch_bytes);
  while (ps.appended_pos != published && ps.size < ps.fifo.size() - 1) {
    const std::uint64_t from = ps.appended_pos;
    std::uint64_t to = from;
    std::uint32_t count = 0;
    std::int64_t first_ts = 0, max_ts = 0;
    std::uint64_t first_offset = ps.next_offset;
    while (to != published) {
      const frame_header& h = ring.frame_at(to);
      const std::uint64_t size = frame_footprint(h.length);
      if (to != from && to + size - from > target_bytes) break;
      if ((h.flags & frame_flags::padding) == 0) {
        const record_header rh =
            decode_record_header(reinterpret_cast<const std::byte*>(&h) + sizeof(frame_header));
        if (count == 0) {
          first_ts = rh.timestamp_ns;
          max_ts = rh.timestamp_ns;
          first_offset = rh.offset;
        }
        max_ts = std::max(max_ts, rh.timestamp_ns);
        ++count;
      }
      to += size;
    }
    if (count != 0) {
      const auto* base = reinterpret_cast<const std::byte*>(&ring.frame_at(0));
      const std::uint64_t at = from & (cap - 1);
      const std::uint64_t len = to - from;
      const std::uint64_t first_len = std::min(len, cap - at);
      iovec iov[2];
      iov[0] = {const_cast<std::byte*>(base + at), first_len};
      iov[1] = {const_cast<std::byte*>(base), len - first_len};
      const std::size_t n = len == first_len ? 1 : 2;
      const io::append_result r =
          ps.log->append(std::span<const iovec>(iov, n), first_offset, count, first_ts, max_ts);
      if (r.status == errc::full) break;  // the log has enough in flight; next round
      if (!r) return work;                // failed: the log's status says why
      ps.next_offset = first_offset + count;
    }
    // Padding-only stretches take no offset; they are released after what precedes them.
    ps.fifo[(ps.head + ps.size) % ps.fifo.size()] = {ps.next_offset, to};
    ++ps.size;
    ps.appended_pos = to;
    work = true;
  }
  return work;
}

void release_written(partition_state& p, partition_persistence& ps) noexcept {
  const std::uint64_t written = ps.log->written_offset();
  std::uint64_t release = 0;
  bool any = false;
  while (ps.size != 0 && ps.fifo[ps.head].end_offset <= written) {
    release = ps.fifo[ps.head].end_position;
    ps.head = (ps.head + 1) % ps.fifo.size();
    --ps.size;
    any = true;
  }
  if (any) {
    ps.reader.release_to(release);
    p.space.notify_all();  // producers waiting for room
  }
}

}  // namespace

bool persist_pump(topic_state& t, partition_state& p) noexcept {
  partition_persistence& ps = *p.persist;
  if (ps.closed) return false;
  (void)t;
  const auto report_progress = [&] {
    if (!t.on_progress) return;
    const std::uint64_t written_now = ps.log->written_offset();
    const std::uint64_t durable_now = ps.log->durable_offset();
    if (written_now != ps.reported_written || durable_now != ps.reported_progress_durable) {
      ps.reported_written = written_now;
      ps.reported_progress_durable = durable_now;
      t.on_progress(p.id, written_now, durable_now);
    }
  };
  errc st = ps.log->poll_completions();
  bool work = append_new(ps, p.ring);
  report_progress();  // a sync log wrote on this thread: written before its fdatasync
  st = ps.log->poll_completions();
  release_written(p, ps);
  if (st != errc::ok && st != errc::closed) p.fail(st);  // producers get the error from now on
  const std::uint64_t durable_now = ps.log->durable_offset();
  report_progress();
  // Consumers that read durable records only sleep on durable_data until it moves.
  if (durable_now != ps.notified_durable || st != errc::ok) {
    ps.notified_durable = durable_now;
    t.durable_data.notify_all();
  }
  if (t.on_durable) {
    const std::uint64_t durable = ps.log->durable_offset();
    if (durable > ps.reported_durable) {
      ps.reported_durable = durable;
      t.on_durable(p.id, durable, errc::ok);
    }
    const errc io = p.io_status.load(std::memory_order_acquire);
    if (io != errc::ok && !ps.reported_failure) {
      ps.reported_failure = true;
      t.on_durable(p.id, durable, io);
    }
  }
  return work || ps.size != 0;
}

void persist_close(partition_state& p) noexcept {
  partition_persistence& ps = *p.persist;
  if (ps.closed) return;
  // Whatever was published goes to the log before it closes.
  for (int i = 0;
       i < 100000 && ps.log->status() == errc::ok && ps.appended_pos != p.ring.published_position();
       ++i) {
    append_new(ps, p.ring);
    (void)ps.log->poll_completions(std::chrono::milliseconds(1));
    release_written(p, ps);
  }
  (void)ps.log->close();
  release_written(p, ps);
  ps.reader.close();
  ps.closed = true;
}

io::read_result persist_read(const partition_state& p, std::uint64_t offset,
                             std::span<std::byte> buf) noexcept {
  return p.persist->log->read(offset, buf);
}

errc persist_wait(const topic_state& t, partition_state& p, std::uint64_t offset,
                  std::chrono::nanoseconds timeout) noexcept {
  if (!p.persist) return errc::wrong_mode;
  if (p.durable_offset() > offset) return errc::ok;
  if (const errc e = p.io_status.load(std::memory_order_acquire); e != errc::ok) return e;
  t.wakeup->kick();
  const errc e = p.persist->log->wait_durable(offset, timeout);
  if (e == errc::ok) return e;
  if (p.durable_offset() > offset) return errc::ok;
  if (e != errc::timeout && e != errc::closed) p.fail(e);  // the log failed
  return e;
}

// ---------------------------------------------------------------------------------------
// the persister thread

persist_wakeup::persist_wakeup() : fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd < 0) {
    throw std::system_error(make_error_code(errc::file_error),
                            std::string("bus: eventfd: ") + std::strerror(errno));
  }
}

persist_wakeup::~persist_wakeup() {
  if (fd >= 0) ::close(fd);
}

void persist_wakeup::signal() noexcept {
  const std::uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);  // EAGAIN only when the counter is full: still awake
}

void persist_wakeup::wait_fd(std::int64_t deadline_ns) noexcept {
  timespec ts{};
  timespec* timeout = nullptr;  // none: until signalled
  if (deadline_ns != INT64_MAX) {
    const std::int64_t left = deadline_ns - steady_ns();
    if (left <= 0) return;
    ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
    timeout = &ts;
  }
  pollfd pfd{fd, POLLIN, 0};
  (void)::ppoll(&pfd, 1, timeout, nullptr);  // EINTR: the caller looks again
  std::uint64_t n = 0;
  (void)!::read(fd, &n, sizeof n);  // drain (non-blocking)
}

namespace {

// What one pass over the durable partitions found.
struct persist_pass {
  bool work = false;                  // frames were handed to a log
  bool in_flight = false;             // a log has writes or syncs in flight
  std::int64_t deadline = INT64_MAX;  // steady ns of the next timer due (sync, acks round)
};

// One pass: hands new frames to the logs, runs due acks rounds and (when due) retention.
// Caller holds persist_mu. Returns whether any topic has retention.
bool persist_all(bus_state& s, wait_clock::time_point now, bool retention_due, persist_pass& r) {
  bool any_retention = false;
  for (auto& t : s.durable_topics) {
    const bool retains = t->config.retention_bytes != 0 || t->config.retention_age.count() != 0;
    any_retention = any_retention || retains;
    for (auto& p : t->partitions) {
      if (!p->persist || p->persist->closed) continue;
      partition_persistence& ps = *p->persist;
      if (persist_pump(*t, *p)) r.work = true;
      if (ps.acks) {
        persist_acks(*t, *p, now, false);
        r.deadline = std::min<std::int64_t>(
            r.deadline, std::chrono::duration_cast<std::chrono::nanoseconds>(
                            (ps.acks->last_round + t->config.sync_interval).time_since_epoch())
                            .count());
      }
      if (retention_due && retains) {
        ps.log->enforce_retention(t->config.retention_bytes, t->config.retention_age,
                                  t->realtime_now());
      }
      r.in_flight = r.in_flight || ps.log->in_flight() != 0;
      r.deadline = std::min(r.deadline, ps.log->next_deadline_ns());
    }
  }
  return any_retention;
}

// Closing: every durable partition's last records and acks go to disk, and what became
// durable is reported. Caller holds persist_mu.
void close_all(bus_state& s) noexcept {
  for (auto& t : s.durable_topics) {
    for (auto& p : t->partitions) {
      if (!p->persist) continue;
      persist_close(*p);
      close_queue_acks(*t, *p);
      const std::uint64_t durable = p->persist->log->durable_offset();
      if (t->on_durable && durable > p->persist->reported_durable) {
        p->persist->reported_durable = durable;
        t->on_durable(p->id, durable, errc::ok);
      }
      t->durable_data.notify_all();
    }
  }
}

// Whether the persister may sleep: no kick since `seen`, no stop, and no partition with
// records published that it has not handed to its log.
bool nothing_to_persist(bus_state& s, std::uint64_t seen) {
  if (s.wakeup->kicks.load(std::memory_order_acquire) != seen ||
      s.persist_stop.load(std::memory_order_acquire)) {
    return false;
  }
  std::lock_guard lock(s.persist_mu);
  for (auto& t : s.durable_topics) {
    for (auto& p : t->partitions) {
      if (p->persist && !p->persist->closed &&
          p->ring.published_position() != p->persist->appended_pos) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

// The persister: appends what producers published to each durable partition's log, reaps
// completions, and sleeps in between (persist_wakeup) until a completion, a publish while
// idle, a kick, or the next timer that is actually due: an async group commit's
// sync_interval, retention (once a second, for topics that have it), a durable queue's acks
// round. Checkpoints are written by the checkpointer thread, not here: they take
// milliseconds (fdatasync, rename, directory fsync) that records must not wait behind.
void bus_state::persister_loop() {
  std::uint64_t seen = wakeup->kicks.load(std::memory_order_acquire);
  auto last_retention = wait_clock::now();
  constexpr std::int64_t retention_every_ns = 1'000'000'000;
  for (;;) {
    persist_pass pass;
    // Before this pass looks at the rings: a producer that finds one full after it kicks
    // again (a kick before it is counted in `kicks`, which the loop looks at below).
    wakeup->room_wanted.store(0, std::memory_order_relaxed);
    const bool stop = persist_stop.load(std::memory_order_acquire);
    {
      std::lock_guard lock(persist_mu);
      const auto now = wait_clock::now();
      const bool retention_due = now - last_retention >= std::chrono::seconds(1);
      const bool any_retention = persist_all(*this, now, retention_due, pass);
      if (retention_due) last_retention = now;
      if (any_retention) {
        pass.deadline = std::min<std::int64_t>(
            pass.deadline,
            std::chrono::duration_cast<std::chrono::nanoseconds>(last_retention.time_since_epoch())
                    .count() +
                retention_every_ns);
      }
      if (stop) {
        close_all(*this);
        return;
      }
    }
    const std::uint64_t k = wakeup->kicks.load(std::memory_order_acquire);
    if (k != seen) {
      seen = k;
      continue;
    }
    if (pass.work && !pass.in_flight) continue;  // appended nothing new to wait for: look again
    // With requests in flight the completions wake us (the eventfd registered with every
    // log); records published meanwhile make the next batch bigger (group commit). Idle,
    // a publish wakes us: announce it, then look once more for records published before.
    wakeup->sleep(pass.deadline, !pass.in_flight, [&] { return nothing_to_persist(*this, seen); });
  }
}

// Writes each durable partition's checkpoint when its durable offset moved, at most every
// checkpoint_interval, off the persister's loop (a checkpoint is an fdatasync, a rename and
// a directory fsync). An idle bus writes none.
void bus_state::checkpointer_loop() {
  std::unique_lock lock(cp_mu);
  while (!persist_stop.load(std::memory_order_acquire)) {
    cp_cv.wait_for(lock, checkpoint_interval);
    if (persist_stop.load(std::memory_order_acquire)) break;
    std::vector<std::shared_ptr<topic_state>> durable;
    {
      std::lock_guard pl(persist_mu);
      durable = durable_topics;
    }
    lock.unlock();
    for (auto& t : durable) {
      for (auto& p : t->partitions) {
        if (p->persist &&
            p->persist->log->durable_offset() != p->persist->log->checkpointed_durable()) {
          (void)p->persist->log->checkpoint();
        }
      }
    }
    lock.lock();
  }
}

void bus_state::stop_persister() noexcept {
  if (!persister.joinable()) return;
  {
    std::lock_guard lock(cp_mu);
    persist_stop.store(true, std::memory_order_release);
  }
  cp_cv.notify_all();
  if (checkpointer.joinable() && checkpointer.get_id() != std::this_thread::get_id()) {
    checkpointer.join();
  }
  wakeup->kick();
  if (persister.get_id() != std::this_thread::get_id()) persister.join();
}

}  // namespace lanes::detail
