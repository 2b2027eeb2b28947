// tools/stress_run.cpp: the cycles of `lanes-stress` (stress.cpp): the data directory and
// topics, then per cycle a child forked and killed, the ledger read from its pipe, the damage
// and the checks after recovery.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "cli_common.hpp"
#include "stress_internal.hpp"

namespace lanes_stress {
using namespace lanes_tools;
namespace {
namespace fs = std::filesystem;

// Everything the ledgers of the cycles so far said.
struct ledger_state {
  std::unordered_map<std::uint64_t, ack> acks;
  std::vector<std::uint64_t> committed;  // per partition
  std::vector<std::uint64_t> acked_end;  // one past the highest acked offset, per partition
  queue_ledger ql;
};

// The options CLI11 cannot check alone (usage errors).
void check_options(const options& o) {
  if (o.corrupt != "none" && o.corrupt != "flip" && o.corrupt != "truncate" &&
      o.corrupt != "acked") {
    usage_error("--corrupt '" + o.corrupt + "': use none, flip, truncate or acked");
  }
  if (o.durability == lanes::durability::none) {
    usage_error("--durability none: nothing would survive the kill; use sync or async");
  }
  if (o.message_size < stamp_bytes + 8) {
    usage_error("--message-size: at least " + std::to_string(stamp_bytes + 8) + " bytes");
  }
}

// A new directory under /tmp without --data-dir (true), else --data-dir, which must not
// hold the topic yet (false).
bool prepare_data_dir(options& o) {
  if (o.data_dir.empty()) {
    char tmpl[] = "/tmp/lanes-stress-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) runtime_error("cannot create a temporary directory");
    o.data_dir = tmpl;
    return true;
  }
  if (fs::exists(fs::path(o.data_dir) / topic_name)) {
    runtime_error("--data-dir " + o.data_dir + " already has a topic '" + topic_name +
                  "' (from an earlier run?); use an empty or new directory");
  }
  return false;
}

void create_topics(const options& o) {
  auto bus = open_bus(o.data_dir, dir_use::may_create);
  lanes::topic_config tc;
  tc.partitions = o.partitions;
  tc.durable = o.durability;
  // Small rings and segments: rolls (and retention) happen within a cycle.
  tc.ring_capacity = std::size_t{256} << 10;
  tc.segment_bytes = std::size_t{160} << 10;
  if (o.fault_point == "retention_delete") tc.retention_bytes = std::size_t{200} << 10;
  if (const lanes::errc e = bus->create_topic(topic_name, tc); e != lanes::errc::ok) {
    runtime_error("create_topic: " + describe(e));
  }
  if (o.queue) {
    lanes::topic_config qc = tc;
    qc.mode = lanes::topic_mode::queue;
    qc.producers = lanes::producer_mode::multi;
    qc.retention_bytes = 0;
    if (const lanes::errc e = bus->create_topic(queue_name, qc); e != lanes::errc::ok) {
      runtime_error("create_topic (queue): " + describe(e));
    }
  }
}

// One ledger entry into what the parent knows.
void absorb(const options& o, const ledger_entry& e, ledger_state& l, stats& s) {
  if (e.partition >= o.partitions) return;
  if (e.kind == entry_ack) {
    l.acks[key_of(e.producer, e.seq)] = ack{e.partition, e.offset};
    l.acked_end[e.partition] = std::max(l.acked_end[e.partition], e.offset + 1);
    ++s.acks;
  } else if (e.kind == entry_commit) {
    l.committed[e.partition] = std::max(l.committed[e.partition], e.offset);
    ++s.commits;
  } else if (e.kind == entry_q_enqueued) {
    l.ql.enqueued[key_of(e.producer, e.seq)] = ack{e.partition, e.offset};
    ++s.q_enqueued;
  } else if (e.kind == entry_q_ack_try) {
    l.ql.tried[key_of(e.producer, e.seq)] = 1;
  } else if (e.kind == entry_q_acked) {
    l.ql.acked[key_of(e.producer, e.seq)] = 1;
    ++s.q_acked;
  }
}

// Reads the ledger from fd until the child is gone, killing it at kill_at. Returns true when
// the pipe closed before the kill (the child died by itself).
bool read_ledger(const options& o, int fd, pid_t pid, std::int64_t kill_at, ledger_state& l,
                 stats& s) {
  std::vector<char> buf;
  std::size_t used = 0;
  buf.resize(1 << 16);
  bool killed = false;
  for (;;) {
    const std::int64_t now = steady_ns();
    if (!killed && now >= kill_at) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd pfd{fd, POLLIN, 0};
    const int wait_ms =
        killed ? 1000 : static_cast<int>(std::max<std::int64_t>(1, (kill_at - now) / 1'000'000));
    const int pr = ::poll(&pfd, 1, wait_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    if (used == buf.size()) buf.resize(buf.size() * 2);
    const ssize_t n = ::read(fd, buf.data() + used, buf.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !killed;  // EOF before the kill: the child died by itself
    used += static_cast<std::size_t>(n);
    std::size_t whole = used / sizeof(ledger_entry) * sizeof(ledger_entry);
    for (std::size_t at = 0; at < whole; at += sizeof(ledger_entry)) {
      ledger_entry e;
      std::memcpy(&e, buf.data() + at, sizeof e);
      absorb(o, e, l, s);
    }
    std::memmove(buf.data(), buf.data() + whole, used - whole);
    used -= whole;
  }
}

// How the child ended: killed by us (right), by its own crash point (counted), or by
// itself otherwise (a violation).
void judge_child(const options& o, unsigned cycle, bool exited_early, int child_status, stats& s) {
  const bool crashed_itself = exited_early && !o.fault_point.empty() && WIFSIGNALED(child_status) &&
                              WTERMSIG(child_status) == SIGKILL;
  if (crashed_itself) ++s.faults_fired;  // the armed crash point fired before our kill
  if ((exited_early && !crashed_itself) || !WIFSIGNALED(child_status)) {
    violation(s, "child_failed",
              "cycle " + std::to_string(cycle) + ": the child exited by itself (status " +
                  std::to_string(WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1) +
                  ") before the kill");
  }
}

// One cycle up to the kill: the child forked, its ledger read, its end judged.
void run_child(const options& o, unsigned cycle, rng& r, ledger_state& l, stats& s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) runtime_error("pipe failed");
  std::fflush(nullptr);
  // Writes are many, rolls, deletes and rebuilds few: crash at an early hit of those.
  const std::uint64_t crash_after = 1 + r.next() % (o.fault_point == "after_write" ? 8 : 2);
  if (o.fault_point == "index_rebuild") drop_an_index(o, r);
  const pid_t pid = ::fork();
  if (pid < 0) runtime_error("fork failed");
  // The child crashes at the nth hit of the fault point (when it gets that far).
  if (pid == 0) {
    ::close(fds[0]);
    child_main(o, cycle, fds[1], crash_after);
  }
  ::close(fds[1]);
  // Kill somewhere in (5%, 100%] of --duration.
  const double kill_after = o.duration_s * (0.05 + 0.95 * r.unit());
  const std::int64_t kill_at = steady_ns() + static_cast<std::int64_t>(kill_after * 1e9);
  const bool exited_early = read_ledger(o, fds[0], pid, kill_at, l, s);
  ::close(fds[0]);
  int child_status = 0;
  ::waitpid(pid, &child_status, 0);
  judge_child(o, cycle, exited_early, child_status, s);
}

std::uint64_t violations(const stats& s) {
  std::uint64_t bad = 0;
  for (const auto& [k, n] : s.violations) bad += n;
  return bad;
}

void print_progress(const options& o, unsigned cycle, std::int64_t start, bool tty,
                    const stats& s) {
  const double elapsed = static_cast<double>(steady_ns() - start) / 1e9;
  const double eta = elapsed / (cycle + 1) * (o.cycles - cycle - 1);
  const std::uint64_t bad = violations(s);
  if (!o.json || o.progress) {
    std::fprintf(stderr,
                 "%scycle %u/%u: %llu acked, %llu messages verified, %llu violations, "
                 "recovery %.1f ms, %.1f s elapsed, ETA %.0f s%s",
                 tty ? "\r" : "", cycle + 1, o.cycles, static_cast<unsigned long long>(s.acks),
                 static_cast<unsigned long long>(s.verified), static_cast<unsigned long long>(bad),
                 s.recovery_ms.empty() ? 0.0 : s.recovery_ms.back(), elapsed, eta,
                 tty ? "   " : "\n");
  }
}

}  // namespace

int run(const options& o_in) {
  options o = o_in;
  if (!o.seed_given) o.seed = static_cast<std::uint64_t>(wall_ns());
  check_options(o);
  const bool temp_dir = prepare_data_dir(o);
  create_topics(o);
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (!o.json) {
    std::fprintf(stderr,
                 "lanes-stress: %u cycles of up to %.2f s, %u producers, %u partitions, %zu B "
                 "messages, durability %s, corrupt %s, seed %llu, data dir %s\n",
                 o.cycles, o.duration_s, o.producers, o.partitions, o.message_size,
                 name_of(o.durability), o.corrupt.c_str(), static_cast<unsigned long long>(o.seed),
                 o.data_dir.c_str());
  }
  stats s;
  ledger_state l;
  l.committed.assign(o.partitions, 0);
  l.acked_end.assign(o.partitions, 0);
  const std::int64_t start = steady_ns();
  run_summary summary;
  for (unsigned cycle = 0; cycle < o.cycles; ++cycle) {
    rng r{o.seed * 0x2545F4914F6CDD1Dull + cycle};
    run_child(o, cycle, r, l, s);
    if (o.corrupt != "none") {
      summary.events.push_back("cycle " + std::to_string(cycle) + ": " +
                               corrupt_tail(o, r, l.acked_end, l.committed, s));
    }
    verify(o, l.acks, l.committed, l.ql, s);
    print_progress(o, cycle, start, tty, s);
  }
  if (tty && (!o.json || o.progress)) std::fprintf(stderr, "\n");
  summary.elapsed_s = static_cast<double>(steady_ns() - start) / 1e9;
  summary.violations = violations(s);
  print_summary(o, s, summary);
  const std::uint64_t bad = summary.violations;
  if (bad == 0 && temp_dir && !o.keep) {
    std::error_code ec;
    fs::remove_all(o.data_dir, ec);
  } else if (bad != 0) {
    std::fprintf(stderr, "lanes-stress: data directory kept for inspection: %s\n",
                 o.data_dir.c_str());
  }
  return bad == 0 ? exit_ok : exit_failed;
}

}  // namespace lanes_stress
