// tools/stress.cpp: `lanes-stress`, the persistence stress tool.
//
// Runs --cycles cycles on one data directory. In each:
//   1. A child process (fork) opens the bus and, with --producers threads, publishes stamped
//      messages to the durable topic "stress" (value: producer id, sequence number, FNV-1a
//      checksum of the payload, payload), while a consumer of group "stress" reads durable
//      records and commits. Every durable acknowledgement (sync: publish returned ok; async:
//      wait_durable or publish_options::durable returned ok) and every commit that returned ok
//      is written to a pipe, the ledger, which the parent reads: it lives outside the data
//      directory and survives the child. Entries are 32 bytes, written with one write() of
//      at most PIPE_BUF bytes, so a killed child never leaves half an entry.
//      With --queue the child also enqueues to the durable queue topic "stress-queue" (one
//      producer, each enqueue durably acknowledged) while two queue consumers receive and
//      ack; a consumer writes "ack_try" to the ledger before it acks and, on a sync topic,
//      "acked" once the ack returned ok (then it is on disk).
//   2. The parent kills the child with SIGKILL at a random moment within --duration.
//   3. With --corrupt, it damages the last segment of one partition after its last durable
//      point: after every acknowledged offset of that partition (the ledger) and after the
//      checkpoint's durable offset (what recovery treats as durable). flip: one byte inside
//      such a batch; truncate: the file is cut inside it. When there is no such batch (the
//      child was killed before writing anything unacknowledged), the cycle is not damaged.
//   4. It reopens the bus (the time is the recovery time) and checks: every acknowledged
//      message is in the log at the partition and offset it was acknowledged with (no loss);
//      every record's checksum is right (no corruption); no (producer, sequence) twice (no
//      duplicate); offsets dense from the log start to the end; the group's committed offset
//      of every partition is not behind the last commit the ledger recorded, nor past the
//      end of the log. --queue: every enqueued message that no consumer began to ack is
//      delivered after recovery, no message acked on disk is, none twice, none corrupt.
//      (The damage can cut records the group committed past when the child
//      died between storing the commit and writing it to the ledger: the bus then resumes
//      the group at the recovered end rather than past it, see bus::bus.)
// Anything that fails is a violation; the exit code is 1 when there was any.
//
// --fault-point NAME arms one of io/'s crash points in each child (after_write,
// segment_roll, retention_delete, index_rebuild; see lanes/fault_injection.hpp), at a random
// hit, so that the child kills itself there rather than (or before) the parent's kill.
// index_rebuild: the parent removes a sealed segment's .index before the cycle, so the
// child's recovery rebuilds it. retention_delete: the topic keeps about two segments, and
// acknowledged messages below the log start count as retired, not lost. --seed fixes the parent's
// choices (kill moments, which partition and byte to damage); the child's thread timing is the
// kernel's, so a replay with the same seed repeats the schedule of kills and damage, not every
// byte.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli_common.hpp"
#include "lanes/fault_injection.hpp"
#include "lanes/lanes.hpp"
#include "lanes/segment_format.hpp"
#include "lanes/segment_scan.hpp"
#include "lanes_support/json_writer.hpp"
#include "lanes_support/median.hpp"
#include "metrics_flag.hpp"

namespace {
using namespace lanes_tools;
namespace fs = std::filesystem;

constexpr const char* topic_name = "stress";
constexpr const char* group_name = "stress";
constexpr const char* queue_name = "stress-queue";  // --queue
// Queue producers' ids: apart from the log producers' (cycle * producers + k).
constexpr std::uint64_t queue_producer_base = std::uint64_t{1} << 30;
constexpr std::size_t stamp_bytes = 24;  // producer, sequence, checksum

struct options {
  unsigned cycles = 10;
  double duration_s = 1.0;
  std::size_t message_size = 128;
  std::uint32_t partitions = 2;
  unsigned producers = 2;
  lanes::durability durability = lanes::durability::sync;
  std::string corrupt = "none";
  std::string fault_point;  // io/ crash point armed in each child
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::string data_dir;
  std::string metrics_listen;  // --metrics-listen: each child serves while it runs
  bool keep = false;
  bool json = false;
  bool progress = false;
  bool queue = false;  // also a queue topic: producers enqueue, consumers receive and ack
};

// ---- deterministic bytes ----

struct rng {
  std::uint64_t s;
  std::uint64_t next() noexcept {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double unit() noexcept { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
};

std::uint64_t fnv1a(const char* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

void fill_value(std::vector<char>& v, std::uint64_t producer, std::uint64_t seq) {
  rng r{producer << 32 ^ seq};
  for (std::size_t i = stamp_bytes; i < v.size(); i += 8) {
    const std::uint64_t x = r.next();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, v.size() - i));
  }
  const std::uint64_t sum = fnv1a(v.data() + stamp_bytes, v.size() - stamp_bytes);
  std::memcpy(v.data(), &producer, 8);
  std::memcpy(v.data() + 8, &seq, 8);
  std::memcpy(v.data() + 16, &sum, 8);
}

// ---- the ledger ----

// Queue entries (--queue): enqueued is a producer's durable acknowledgement of a queue
// message; ack_try is written before a consumer acks it (after the kill it may or may not be
// acked: either way is right); acked after the ack returned ok on a sync topic (the ack is
// on disk: the message must never be delivered again).
enum : std::uint32_t {
  entry_ack = 1,
  entry_commit = 2,
  entry_q_enqueued = 3,
  entry_q_ack_try = 4,
  entry_q_acked = 5
};
struct ledger_entry {
  std::uint32_t kind;
  std::uint32_t partition;
  std::uint64_t producer;  // ack, q_*: producer id
  std::uint64_t seq;       // ack, q_*: sequence number
  std::uint64_t offset;    // ack, q_*: where it went; commit: the committed offset
};
static_assert(sizeof(ledger_entry) == 32);

// Child side: whole entries, one write() each batch (<= PIPE_BUF: atomic).
void ledger_write(int fd, const ledger_entry* e, std::size_t n) {
  constexpr std::size_t per_write = PIPE_BUF / sizeof(ledger_entry);
  while (n != 0) {
    const std::size_t k = std::min(n, per_write);
    const auto* p = reinterpret_cast<const char*>(e);
    std::size_t done = 0;
    while (done < k * sizeof(ledger_entry)) {
      const ssize_t w = ::write(fd, p + done, k * sizeof(ledger_entry) - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ::_exit(3);  // the parent is gone
      done += static_cast<std::size_t>(w);
    }
    e += k;
    n -= k;
  }
}

// ---- child: produce and consume until killed ----

[[noreturn]] void child_main(const options& o, unsigned cycle, int ledger_fd,
                             std::uint64_t crash_after) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!o.fault_point.empty()) lanes::io::arm_crash_point(o.fault_point.c_str(), crash_after);
  lanes::bus_config bc;
  bc.data_dir = o.data_dir;
  std::unique_ptr<lanes::bus> bus;
  try {
    bus = std::make_unique<lanes::bus>(bc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes-stress: child: cannot open the bus: %s\n", e.what());
    ::_exit(4);
  }
  std::shared_ptr<void> metrics;
  try {
    metrics = serve_metrics(*bus, o.metrics_listen);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes-stress: child: %s\n", e.what());
    ::_exit(4);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned k = 0; k < o.producers; ++k) {
    threads.emplace_back([&, k] {
      const std::uint64_t id = std::uint64_t{cycle} * o.producers + k;
      lanes::producer p = bus->make_producer(topic_name);
      std::vector<char> value(o.message_size);
      std::vector<ledger_entry> pending;  // async: published, not yet known durable
      lanes::publish_options opts;
      for (std::uint64_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        fill_value(value, id, seq);
        opts.partition = static_cast<std::uint32_t>((seq + k) % o.partitions);
        // async: every 50th message asks for its own durable acknowledgement.
        opts.durable = o.durability == lanes::durability::async && seq % 50 == 49;
        const lanes::publish_result r =
            p.publish(std::nullopt, std::string_view(value.data(), value.size()), opts);
        if (!r) ::_exit(5);
        const ledger_entry e{entry_ack, r.partition, id, seq, r.offset};
        if (o.durability == lanes::durability::sync || opts.durable) {
          ledger_write(ledger_fd, &e, 1);
          continue;
        }
        pending.push_back(e);
        if (pending.size() >= 32) {
          // wait_durable per partition for the highest offset pending there.
          std::map<std::uint32_t, std::uint64_t> top;
          for (const auto& x : pending) top[x.partition] = std::max(top[x.partition], x.offset);
          for (const auto& [part, off] : top) {
            if (p.wait_durable(part, off, std::chrono::seconds(10)) != lanes::errc::ok) ::_exit(6);
          }
          ledger_write(ledger_fd, pending.data(), pending.size());
          pending.clear();
        }
      }
    });
  }
  if (o.queue) {
    // One producer enqueues with durable acks, two consumers receive and ack (one in ten
    // messages is nacked first, so redelivery happens too).
    threads.emplace_back([&] {
      const std::uint64_t id = queue_producer_base + cycle;
      lanes::producer p = bus->make_producer(queue_name);
      std::vector<char> value(o.message_size);
      lanes::publish_options opts;
      opts.durable = true;  // async topics: raised to sync for each enqueue
      for (std::uint64_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        fill_value(value, id, seq);
        const lanes::publish_result r =
            p.publish(std::nullopt, std::string_view(value.data(), value.size()), opts);
        if (!r) ::_exit(8);
        const ledger_entry e{entry_q_enqueued, r.partition, id, seq, r.offset};
        ledger_write(ledger_fd, &e, 1);
      }
    });
    for (int k = 0; k < 2; ++k) {
      threads.emplace_back([&, k] {
        lanes::queue_consumer_config qc;
        qc.topic = queue_name;
        qc.max_receive = 32;
        lanes::queue_consumer q = bus->make_queue_consumer(qc);
        if (!q) ::_exit(9);
        std::vector<lanes::receipt> to_ack;
        std::vector<ledger_entry> tries, done;
        std::vector<lanes::errc> results;
        for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
          const lanes::receive_result rr = q.receive(8, std::chrono::milliseconds(5));
          if (rr.status != lanes::errc::ok) continue;
          // "Work" on the batch: messages are in flight for a while, and the queue keeps a
          // backlog, so that kills find both (they must all come back).
          if (!rr.messages.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(3));
          to_ack.clear();
          tries.clear();
          done.clear();
          for (const lanes::queue_message& m : rr.messages) {
            std::uint64_t producer = 0, seq = 0;
            if (m.record.value.size() >= 16) {
              std::memcpy(&producer, m.record.value.data(), 8);
              std::memcpy(&seq, m.record.value.data() + 8, 8);
            }
            if ((seq + k + n) % 10 == 3 && m.delivery() == 1) {
              (void)q.nack(m.receipt);  // back to the queue, delivered again later
              continue;
            }
            to_ack.push_back(m.receipt);
            tries.push_back(
                {entry_q_ack_try, m.receipt.partition, producer, seq, m.receipt.offset});
          }
          if (to_ack.empty()) continue;
          ledger_write(ledger_fd, tries.data(), tries.size());
          results.assign(to_ack.size(), lanes::errc::ok);
          (void)q.ack(to_ack, results);
          if (o.durability != lanes::durability::sync) continue;  // acks durable later
          for (std::size_t i = 0; i < to_ack.size(); ++i) {
            if (results[i] != lanes::errc::ok) continue;
            done.push_back(tries[i]);
            done.back().kind = entry_q_acked;
          }
          if (!done.empty()) ledger_write(ledger_fd, done.data(), done.size());
        }
      });
    }
  }
  threads.emplace_back([&] {
    lanes::consumer_config cc;
    cc.group = group_name;
    cc.auto_commit = false;
    cc.read_durable_only = true;
    cc.reset = lanes::offset_reset::earliest;
    lanes::consumer c = bus->make_consumer(cc);
    if (c.subscribe({std::string_view(topic_name)}) != lanes::errc::ok) ::_exit(7);
    for (unsigned n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      (void)c.poll(std::chrono::milliseconds(5));
      if (n % 8 != 7) continue;
      if (c.commit() != lanes::errc::ok) continue;
      std::vector<ledger_entry> es;
      for (const lanes::topic_partition& tp : c.assignment()) {
        const std::int64_t at = c.committed(tp);
        if (at >= 0) {
          es.push_back({entry_commit, tp.partition, 0, 0, static_cast<std::uint64_t>(at)});
        }
      }
      if (!es.empty()) ledger_write(ledger_fd, es.data(), es.size());
    }
  });
  // Killed by the parent; the stop flag only ends a child whose parent vanished.
  for (auto& t : threads) t.join();
  ::_exit(0);
}

// ---- parent ----

struct ack {
  std::uint32_t partition;
  std::uint64_t offset;
};

// --queue: what the ledger says about the queue topic's messages, by key_of(producer, seq).
struct queue_ledger {
  std::unordered_map<std::uint64_t, ack> enqueued;  // the producer's durable acknowledgement
  std::unordered_map<std::uint64_t, char> tried;    // a consumer started to ack it
  std::unordered_map<std::uint64_t, char> acked;    // sync: the ack returned ok (on disk)
};

struct stats {
  std::uint64_t q_enqueued = 0;   // queue: durable enqueues in the ledger
  std::uint64_t q_acked = 0;      // queue: acks in the ledger (sync: durable)
  std::uint64_t q_delivered = 0;  // queue: unacked messages delivered after recoveries (sum)
  std::uint64_t acks = 0;
  std::uint64_t commits = 0;
  std::uint64_t verified = 0;  // records read back in the last verification
  std::uint64_t corruptions = 0;
  std::uint64_t retired = 0;       // acknowledged, then deleted by retention
  std::uint64_t faults_fired = 0;  // cycles in which the child hit its crash point
  std::uint64_t corruptions_skipped = 0;
  std::uint64_t bytes_truncated_expected = 0;
  std::vector<double> recovery_ms;
  std::map<std::string, std::uint64_t> violations;  // kind -> count
  std::vector<std::string> first_violations;        // the first few, for a person
};

void violation(stats& s, const std::string& kind, const std::string& what) {
  ++s.violations[kind];
  if (s.first_violations.size() < 20) s.first_violations.push_back(kind + ": " + what);
}

std::uint64_t key_of(std::uint64_t producer, std::uint64_t seq) { return producer << 40 | seq; }

// Damages one partition's last segment after its durable point; returns what it did.
std::string corrupt_tail(const options& o, rng& r,
                         const std::vector<std::uint64_t>& acked_end,  // per partition
                         const std::vector<std::uint64_t>& committed, stats& s) {
  const auto part = static_cast<std::uint32_t>(r.below(o.partitions));
  const fs::path pdir = fs::path(o.data_dir) / topic_name / std::to_string(part);
  std::vector<fs::path> segs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(pdir, ec)) {
    if (e.path().extension() == ".log") segs.push_back(e.path());
  }
  if (segs.empty()) return "no segment";
  std::sort(segs.begin(), segs.end());
  const fs::path last = segs.back();
  // The checkpoint's durable offset: damage below it is (rightly) refused by recovery.
  std::uint64_t durable = 0;
  {
    const int fd = ::open((pdir / "checkpoint").c_str(), O_RDONLY | O_CLOEXEC);
    std::byte b[lanes::io::checkpoint_size];
    lanes::io::checkpoint c;
    if (fd >= 0 && ::pread(fd, b, sizeof b, 0) == static_cast<ssize_t>(sizeof b) &&
        lanes::io::decode_checkpoint(b, c)) {
      durable = c.durable_offset;
    }
    if (fd >= 0) ::close(fd);
  }
  // Nor below an acknowledged record or a committed offset (records the group read).
  // --corrupt acked is the self-test: it damages acknowledged data on purpose, and the run
  // must then report violations.
  const std::uint64_t safe_from =
      o.corrupt == "acked" ? 0 : std::max({durable, acked_end[part], committed[part]});
  const int fd = ::open(last.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return "cannot open " + last.string();
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  struct found_t {
    std::uint64_t pos = 0, end = 0, base = 0;
    bool ok = false;
    std::uint64_t safe_from = 0;
  } found;
  found.safe_from = safe_from;
  lanes::io::file_source src(fd, size);
  const std::uint64_t base = std::stoull(last.stem().string());
  (void)lanes::io::scan_segment(
      src, base, 1u << 30,
      [](void* ctx, std::uint64_t pos, const lanes::io::batch_header& h) {
        auto* f = static_cast<found_t*>(ctx);
        if (!f->ok && h.base_offset >= f->safe_from) {
          f->ok = true;
          f->pos = pos;
          f->end = pos + h.total_size();
          f->base = h.base_offset;
        }
      },
      &found);
  std::string what;
  if (!found.ok) {
    ++s.corruptions_skipped;
    what = "nothing after the durable point " + std::to_string(safe_from) + " in partition " +
           std::to_string(part) + ": not damaged";
  } else if (o.corrupt == "flip" || o.corrupt == "acked") {
    const std::uint64_t at = found.pos + r.below(found.end - found.pos);
    unsigned char byte = 0;
    (void)::pread(fd, &byte, 1, static_cast<off_t>(at));
    byte ^= static_cast<unsigned char>(1u << r.below(8));
    (void)::pwrite(fd, &byte, 1, static_cast<off_t>(at));
    ++s.corruptions;
    what = "flipped a bit at byte " + std::to_string(at) + " of " + last.string() +
           " (batch from offset " + std::to_string(found.base) + ")";
  } else {
    const std::uint64_t cut =
        found.pos + 1 + r.below(std::min<std::uint64_t>(64, size - found.pos - 1));
    if (::ftruncate(fd, static_cast<off_t>(cut)) != 0) what = "ftruncate failed";
    ++s.corruptions;
    s.bytes_truncated_expected += size - cut;
    what = "truncated " + last.string() + " from " + std::to_string(size) + " to " +
           std::to_string(cut) + " bytes (batch from offset " + std::to_string(found.base) + ")";
  }
  ::fdatasync(fd);
  ::close(fd);
  return what;
}

// The queue topic after recovery: every enqueued message that no consumer began to ack is
// delivered (none lost), no message whose ack was on disk is delivered (none back from the
// dead), none twice, none corrupt. Leaves them unacked (they come back at the next open).
void verify_queue(const options& o, lanes::bus& bus, const queue_ledger& ql, stats& s) {
  const auto before = bus.describe_queue(queue_name);
  if (!before) {
    violation(s, "queue_missing", "the queue topic is gone after recovery");
    return;
  }
  const lanes::queue_partition_stats t = before->total();
  const std::uint64_t unacked = t.ready + t.in_flight + t.delayed;
  lanes::queue_consumer_config qc;
  qc.topic = queue_name;
  qc.max_receive = 256;
  lanes::queue_consumer q = bus.make_queue_consumer(qc);
  if (!q) {
    violation(s, "queue_read_failed", "cannot make a queue consumer");
    return;
  }
  std::unordered_map<std::uint64_t, char> delivered;
  delivered.reserve(unacked * 2);
  std::int64_t idle_since = steady_ns();
  while (delivered.size() < unacked) {
    const lanes::receive_result rr = q.receive(256, std::chrono::milliseconds(50));
    if (rr.status != lanes::errc::ok) {
      violation(s, "queue_read_failed", "receive: " + describe(rr.status));
      break;
    }
    if (rr.messages.empty()) {
      if (steady_ns() - idle_since > 10'000'000'000) {
        violation(s, "queue_stalled",
                  std::to_string(delivered.size()) + " of " + std::to_string(unacked) +
                      " unacked messages delivered after recovery");
        break;
      }
      continue;
    }
    idle_since = steady_ns();
    for (const lanes::queue_message& m : rr.messages) {
      const lanes::record_view& rec = m.record;
      const std::string where = "queue partition " + std::to_string(rec.partition) + " offset " +
                                std::to_string(rec.offset);
      std::uint64_t producer = 0, seq = 0, sum = 0;
      if (rec.value.size() != o.message_size) {
        violation(s, "queue_corrupt",
                  where + ": value of " + std::to_string(rec.value.size()) + " bytes");
        continue;
      }
      std::memcpy(&producer, rec.value.data(), 8);
      std::memcpy(&seq, rec.value.data() + 8, 8);
      std::memcpy(&sum, rec.value.data() + 16, 8);
      if (fnv1a(rec.value.data() + stamp_bytes, rec.value.size() - stamp_bytes) != sum) {
        violation(s, "queue_corrupt", where + ": checksum mismatch");
        continue;
      }
      const std::uint64_t k = key_of(producer, seq);
      if (!delivered.emplace(k, 1).second) {
        violation(s, "queue_duplicate", where + ": delivered twice in one pass");
      }
      if (ql.acked.count(k) != 0) {
        violation(s, "queue_acked_delivered",
                  where + ": producer " + std::to_string(producer) + " seq " + std::to_string(seq) +
                      " was acked (on disk) and is delivered again");
      }
    }
  }
  s.q_delivered += delivered.size();
  for (const auto& [k, a] : ql.enqueued) {
    if (delivered.count(k) != 0 || ql.tried.count(k) != 0) continue;
    violation(s, "queue_lost",
              "enqueued producer " + std::to_string(k >> 40) + " seq " +
                  std::to_string(k & ((std::uint64_t{1} << 40) - 1)) + " (partition " +
                  std::to_string(a.partition) + " offset " + std::to_string(a.offset) +
                  ") was not acked by anyone and is not delivered");
  }
}

// Reopens the bus and checks everything. Returns the records it read.
void verify(const options& o, const std::unordered_map<std::uint64_t, ack>& acks,
            const std::vector<std::uint64_t>& committed, const queue_ledger& ql, stats& s) {
  lanes::bus_config bc;
  bc.data_dir = o.data_dir;
  bc.housekeeping_interval = std::chrono::milliseconds(0);
  const std::int64_t t0 = steady_ns();
  std::unique_ptr<lanes::bus> bus;
  try {
    bus = std::make_unique<lanes::bus>(bc);
  } catch (const std::exception& e) {
    violation(s, "recovery_failed", e.what());
    return;
  }
  s.recovery_ms.push_back(static_cast<double>(steady_ns() - t0) / 1e6);
  const auto info = bus->describe_topic(topic_name);
  if (!info) {
    violation(s, "topic_missing", "the topic is gone after recovery");
    return;
  }
  std::unordered_map<std::uint64_t, ack> seen;
  seen.reserve(acks.size() * 2);
  struct gap {
    std::uint32_t partition;
    std::uint64_t from, to;  // offsets [from, to) were not read
  };
  std::vector<gap> gaps;
  std::uint64_t records = 0;
  for (const lanes::partition_stats& ps : info->partitions) {
    lanes::consumer_config cc;
    cc.auto_commit = false;
    cc.reset = lanes::offset_reset::earliest;
    cc.max_poll_records = 4096;
    lanes::consumer c = bus->make_consumer(cc);
    const lanes::topic_partition tp{topic_name, ps.partition};
    if (c.assign({&tp, 1}) != lanes::errc::ok || c.seek_to_beginning(tp) != lanes::errc::ok) {
      violation(s, "read_failed", "cannot read partition " + std::to_string(ps.partition));
      continue;
    }
    std::uint64_t expect = ps.log_start_offset;
    std::int64_t idle_since = steady_ns();
    while (expect < ps.end_offset) {
      const lanes::poll_result r = c.poll(std::chrono::milliseconds(50));
      if (r.status != lanes::errc::ok) {
        violation(s, "read_failed", "poll: " + describe(r.status));
        break;
      }
      if (r.records.empty()) {
        if (steady_ns() - idle_since > 10'000'000'000) {
          violation(s, "read_failed",
                    "partition " + std::to_string(ps.partition) + " stalled at offset " +
                        std::to_string(expect) + " of " + std::to_string(ps.end_offset));
          break;
        }
        continue;
      }
      idle_since = steady_ns();
      for (const lanes::record_view& rec : r.records) {
        ++records;
        if (rec.offset != expect) {
          // Judged after the read: retention (which this bus applies when it opens) may
          // have moved the log start past this reader meanwhile.
          gaps.push_back({ps.partition, expect, rec.offset});
        }
        expect = rec.offset + 1;
        if (rec.value.size() != o.message_size) {
          violation(s, "corrupt",
                    "partition " + std::to_string(ps.partition) + " offset " +
                        std::to_string(rec.offset) + ": value of " +
                        std::to_string(rec.value.size()) + " bytes");
          continue;
        }
        std::uint64_t producer, seq, sum;
        std::memcpy(&producer, rec.value.data(), 8);
        std::memcpy(&seq, rec.value.data() + 8, 8);
        std::memcpy(&sum, rec.value.data() + 16, 8);
        if (fnv1a(rec.value.data() + stamp_bytes, rec.value.size() - stamp_bytes) != sum) {
          violation(s, "corrupt",
                    "partition " + std::to_string(ps.partition) + " offset " +
                        std::to_string(rec.offset) + ": checksum mismatch");
          continue;
        }
        if (!seen.emplace(key_of(producer, seq), ack{ps.partition, rec.offset}).second) {
          violation(s, "duplicate",
                    "producer " + std::to_string(producer) + " seq " + std::to_string(seq) +
                        " again at partition " + std::to_string(ps.partition) + " offset " +
                        std::to_string(rec.offset));
        }
      }
    }
    // Committed offsets: not behind the ledger, not past the log.
    std::int64_t group_committed = -1;
    for (const auto& g : ps.groups) {
      if (g.group == group_name) group_committed = g.committed;
    }
    const std::uint64_t want = committed[ps.partition];
    if (want != 0 && (group_committed < 0 || static_cast<std::uint64_t>(group_committed) < want)) {
      violation(s, "commit_lost",
                "partition " + std::to_string(ps.partition) + ": committed " +
                    std::to_string(group_committed) + ", the ledger says " + std::to_string(want));
    }
    if (group_committed > 0 && static_cast<std::uint64_t>(group_committed) > ps.end_offset) {
      violation(s, "commit_past_end",
                "partition " + std::to_string(ps.partition) + ": committed " +
                    std::to_string(group_committed) + " > end " + std::to_string(ps.end_offset));
    }
  }
  // The log start now: retention may have moved it while the partitions were read.
  std::vector<std::uint64_t> log_start(o.partitions, 0);
  const auto after = bus->describe_topic(topic_name);
  for (const lanes::partition_stats& ps : (after ? after->partitions : info->partitions)) {
    if (ps.partition < o.partitions) log_start[ps.partition] = ps.log_start_offset;
  }
  for (const gap& g : gaps) {
    if (g.partition < o.partitions && g.to <= log_start[g.partition]) continue;  // retired
    violation(s, "offset_gap",
              "partition " + std::to_string(g.partition) + ": offset " + std::to_string(g.to) +
                  " after " + std::to_string(g.from - 1));
  }
  for (const auto& [k, a] : acks) {
    auto it = seen.find(k);
    if (it == seen.end() && a.offset < log_start[a.partition]) {
      ++s.retired;  // deleted by retention, as configured
      continue;
    }
    if (it == seen.end()) {
      violation(s, "lost",
                "acknowledged producer " + std::to_string(k >> 40) + " seq " +
                    std::to_string(k & ((std::uint64_t{1} << 40) - 1)) + " (partition " +
                    std::to_string(a.partition) + " offset " + std::to_string(a.offset) +
                    ") is not in the log");
    } else if (it->second.partition != a.partition || it->second.offset != a.offset) {
      violation(s, "moved",
                "acknowledged at partition " + std::to_string(a.partition) + " offset " +
                    std::to_string(a.offset) + ", found at " +
                    std::to_string(it->second.partition) + "/" + std::to_string(it->second.offset));
    }
  }
  s.verified = records;
  if (o.queue) verify_queue(o, *bus, ql, s);
}

using lanes_support::median;

// index_rebuild: removes the .index of one sealed segment, so that the next open rebuilds
// it (and the child's crash point fires inside that rebuild).
void drop_an_index(const options& o, rng& r) {
  std::vector<fs::path> sealed;
  std::error_code ec;
  for (std::uint32_t p = 0; p < o.partitions; ++p) {
    std::vector<fs::path> logs;
    for (const auto& e :
         fs::directory_iterator(fs::path(o.data_dir) / topic_name / std::to_string(p), ec)) {
      if (e.path().extension() == ".log") logs.push_back(e.path());
    }
    std::sort(logs.begin(), logs.end());
    if (logs.size() > 1)
      logs.pop_back();  // the active segment has no index yet
    else
      logs.clear();
    for (auto& l : logs) sealed.push_back(l.replace_extension(".index"));
  }
  if (sealed.empty()) return;
  fs::remove(sealed[r.next() % sealed.size()], ec);
}

int run(const options& o_in) {
  options o = o_in;
  if (!o.seed_given) o.seed = static_cast<std::uint64_t>(wall_ns());
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
  bool temp_dir = false;
  if (o.data_dir.empty()) {
    char tmpl[] = "/tmp/lanes-stress-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) runtime_error("cannot create a temporary directory");
    o.data_dir = tmpl;
    temp_dir = true;
  } else if (fs::exists(fs::path(o.data_dir) / topic_name)) {
    runtime_error("--data-dir " + o.data_dir + " already has a topic '" + topic_name +
                  "' (from an earlier run?); use an empty or new directory");
  }
  {
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
  std::unordered_map<std::uint64_t, ack> acks;
  std::vector<std::uint64_t> committed(o.partitions, 0);
  std::vector<std::uint64_t> acked_end(o.partitions, 0);  // one past the highest acked offset
  queue_ledger ql;
  const std::int64_t start = steady_ns();
  std::vector<std::string> events;
  for (unsigned cycle = 0; cycle < o.cycles; ++cycle) {
    rng r{o.seed * 0x2545F4914F6CDD1Dull + cycle};
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
    std::vector<char> buf;
    std::size_t used = 0;
    buf.resize(1 << 16);
    bool killed = false;
    int child_status = 0;
    bool exited_early = false;
    for (;;) {
      const std::int64_t now = steady_ns();
      if (!killed && now >= kill_at) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
      pollfd pfd{fds[0], POLLIN, 0};
      const int wait_ms =
          killed ? 1000 : static_cast<int>(std::max<std::int64_t>(1, (kill_at - now) / 1'000'000));
      const int pr = ::poll(&pfd, 1, wait_ms);
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) continue;
      if (used == buf.size()) buf.resize(buf.size() * 2);
      const ssize_t n = ::read(fds[0], buf.data() + used, buf.size() - used);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (!killed) exited_early = true;  // EOF before the kill: the child died by itself
        break;
      }
      used += static_cast<std::size_t>(n);
      std::size_t whole = used / sizeof(ledger_entry) * sizeof(ledger_entry);
      for (std::size_t at = 0; at < whole; at += sizeof(ledger_entry)) {
        ledger_entry e;
        std::memcpy(&e, buf.data() + at, sizeof e);
        if (e.partition >= o.partitions) continue;
        if (e.kind == entry_ack) {
          acks[key_of(e.producer, e.seq)] = ack{e.partition, e.offset};
          acked_end[e.partition] = std::max(acked_end[e.partition], e.offset + 1);
          ++s.acks;
        } else if (e.kind == entry_commit) {
          committed[e.partition] = std::max(committed[e.partition], e.offset);
          ++s.commits;
        } else if (e.kind == entry_q_enqueued) {
          ql.enqueued[key_of(e.producer, e.seq)] = ack{e.partition, e.offset};
          ++s.q_enqueued;
        } else if (e.kind == entry_q_ack_try) {
          ql.tried[key_of(e.producer, e.seq)] = 1;
        } else if (e.kind == entry_q_acked) {
          ql.acked[key_of(e.producer, e.seq)] = 1;
          ++s.q_acked;
        }
      }
      std::memmove(buf.data(), buf.data() + whole, used - whole);
      used -= whole;
    }
    ::close(fds[0]);
    ::waitpid(pid, &child_status, 0);
    const bool crashed_itself = exited_early && !o.fault_point.empty() &&
                                WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGKILL;
    if (crashed_itself) ++s.faults_fired;  // the armed crash point fired before our kill
    if ((exited_early && !crashed_itself) || !WIFSIGNALED(child_status)) {
      violation(s, "child_failed",
                "cycle " + std::to_string(cycle) + ": the child exited by itself (status " +
                    std::to_string(WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1) +
                    ") before the kill");
    }
    if (o.corrupt != "none") {
      events.push_back("cycle " + std::to_string(cycle) + ": " +
                       corrupt_tail(o, r, acked_end, committed, s));
    }
    verify(o, acks, committed, ql, s);
    const double elapsed = static_cast<double>(steady_ns() - start) / 1e9;
    const double eta = elapsed / (cycle + 1) * (o.cycles - cycle - 1);
    std::uint64_t bad = 0;
    for (const auto& [k, n] : s.violations) bad += n;
    if (!o.json || o.progress) {
      std::fprintf(
          stderr,
          "%scycle %u/%u: %llu acked, %llu messages verified, %llu violations, "
          "recovery %.1f ms, %.1f s elapsed, ETA %.0f s%s",
          tty ? "\r" : "", cycle + 1, o.cycles, static_cast<unsigned long long>(s.acks),
          static_cast<unsigned long long>(s.verified), static_cast<unsigned long long>(bad),
          s.recovery_ms.empty() ? 0.0 : s.recovery_ms.back(), elapsed, eta, tty ? "   " : "\n");
    }
  }
  if (tty && (!o.json || o.progress)) std::fprintf(stderr, "\n");
  const double elapsed = static_cast<double>(steady_ns() - start) / 1e9;
  std::uint64_t bad = 0;
  for (const auto& [k, n] : s.violations) bad += n;
  const double rec_max =
      s.recovery_ms.empty() ? 0 : *std::max_element(s.recovery_ms.begin(), s.recovery_ms.end());
  const double rec_min =
      s.recovery_ms.empty() ? 0 : *std::min_element(s.recovery_ms.begin(), s.recovery_ms.end());
  if (o.json) {
    json_writer j;
    j.begin_object();
    j.field("tool", "lanes-stress");
    j.field("lanes_version", lanes::version_string);
    j.field("status", bad == 0 ? "ok" : "failed");
    j.field("seed", o.seed);
    j.field("cycles", o.cycles);
    j.field("duration_s", o.duration_s);
    j.field("producers", o.producers);
    j.field("partitions", o.partitions);
    j.field("message_size", o.message_size);
    j.field("durability", name_of(o.durability));
    j.field("corrupt", o.corrupt);
    j.field("acked", s.acks);
    j.field("commits", s.commits);
    j.field("messages_verified", s.verified);
    j.field("corruptions", s.corruptions);
    j.field("queue", o.queue);
    j.field("queue_enqueued", s.q_enqueued);
    j.field("queue_acked", s.q_acked);
    j.field("queue_delivered_after_recoveries", s.q_delivered);
    j.field("fault_point", o.fault_point);
    j.field("faults_fired", s.faults_fired);
    j.field("retired", s.retired);
    j.field("corruptions_skipped", s.corruptions_skipped);
    j.field("violations", bad);
    j.key("violations_by_kind");
    j.begin_object();
    for (const auto& [k, n] : s.violations) j.field(k, n);
    j.end_object();
    j.key("first_violations");
    j.begin_array();
    for (const auto& v : s.first_violations) j.value(v);
    j.end_array();
    j.key("recovery_ms");
    j.begin_object();
    j.field("min", rec_min);
    j.field("median", median(s.recovery_ms));
    j.field("max", rec_max);
    j.end_object();
    j.field("elapsed_s", elapsed);
    j.end_object();
    std::fputs(j.str().c_str(), stdout);
  } else {
    for (const auto& e : events) std::printf("%s\n", e.c_str());
    std::printf(
        "lanes-stress: %u cycles in %.1f s: %llu durable acks and %llu commits in the ledger, "
        "%llu messages verified in the log at the end, %llu corruptions (%llu cycles without "
        "an undurable tail to damage), %llu violations\n",
        o.cycles, elapsed, static_cast<unsigned long long>(s.acks),
        static_cast<unsigned long long>(s.commits), static_cast<unsigned long long>(s.verified),
        static_cast<unsigned long long>(s.corruptions),
        static_cast<unsigned long long>(s.corruptions_skipped),
        static_cast<unsigned long long>(bad));
    std::printf("recovery (bus open after the kill): min %.1f ms, median %.1f ms, max %.1f ms\n",
                rec_min, median(s.recovery_ms), rec_max);
    if (o.queue) {
      std::printf(
          "queue: %llu durable enqueues and %llu %sacks in the ledger; %llu unacked messages "
          "delivered again after the recoveries (all cycles)\n",
          static_cast<unsigned long long>(s.q_enqueued), static_cast<unsigned long long>(s.q_acked),
          o.durability == lanes::durability::sync ? "durable " : "",
          static_cast<unsigned long long>(s.q_delivered));
    }
    if (!o.fault_point.empty()) {
      std::printf(
          "fault point %s: the child crashed there in %llu of %u cycles; %llu acked "
          "messages retired by retention\n",
          o.fault_point.c_str(), static_cast<unsigned long long>(s.faults_fired), o.cycles,
          static_cast<unsigned long long>(s.retired));
    }
    for (const auto& [k, n] : s.violations) {
      std::printf("violations %s: %llu\n", k.c_str(), static_cast<unsigned long long>(n));
    }
    for (const auto& v : s.first_violations) std::printf("  %s\n", v.c_str());
    if (bad != 0) {
      std::printf("replay: lanes-stress --seed %llu --cycles %u --duration %g ... (same options)\n",
                  static_cast<unsigned long long>(o.seed), o.cycles, o.duration_s);
    }
  }
  if (bad == 0 && temp_dir && !o.keep) {
    std::error_code ec;
    fs::remove_all(o.data_dir, ec);
  } else if (bad != 0) {
    std::fprintf(stderr, "lanes-stress: data directory kept for inspection: %s\n",
                 o.data_dir.c_str());
  }
  return bad == 0 ? exit_ok : exit_failed;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{
      "lanes-stress: kills a producing and consuming child process at random moments and "
      "checks after each recovery that no acknowledged message was lost, corrupted or "
      "duplicated, offsets are dense and committed offsets kept",
      "lanes-stress"};
  app.footer("Exit codes: 0 no violation; 1 a violation or a failure; 2 usage error.");
  add_count_option(&app, "--cycles", o.cycles, 1, 1'000'000, "Kill-and-recover cycles");
  add_real_option(&app, "--duration", o.duration_s, "seconds", 0.01, bound::inclusive, 3600,
                  "Longest life of a child, seconds (killed within it)");
  add_count_option(&app, "--message-size", o.message_size, 32, 256 * 1024,
                   "Value bytes (24 of them: id, seq, checksum)");
  add_count_option(&app, "--partitions", o.partitions, 1, 256, "Partitions of the topic");
  add_count_option(&app, "--producers", o.producers, 1, 64, "Producer threads in the child");
  app.add_option_function<std::string>(
         "--durability",
         [&o](const std::string& v) { o.durability = parse_durability("--durability", v); },
         "sync (each publish waits for the disk) or async (wait_durable / durable publishes)")
      ->check(CLI::IsMember({"sync", "async"}, CLI::ignore_case))
      ->default_str("sync");
  app.add_option("--corrupt", o.corrupt,
                 "Between cycles damage the last segment after the durable point: none, flip "
                 "(one bit) or truncate; acked (self-test) flips a bit in acknowledged data, "
                 "which must be reported as violations")
      ->check(CLI::IsMember({"none", "flip", "truncate", "acked"}))
      ->capture_default_str();
  add_count_option_to(
      &app, "--seed",
      [&o](std::uint64_t v) {
        o.seed = v;
        o.seed_given = true;
      },
      0, UINT64_MAX, "Seed of kill moments and damage (default: the clock; printed)", "");
  app.add_option("--data-dir", o.data_dir, "Data directory (default: a new one under /tmp)");
  add_metrics_flag(app, o.metrics_listen);
  app.add_flag("--queue", o.queue,
               "Also a queue topic: a producer enqueues with durable acks, two consumers "
               "receive and ack (some nack first); after each recovery no unacked message is "
               "missing and no message whose ack was on disk (sync) comes back");
  app.add_option("--fault-point", o.fault_point,
                 "Crash each child at an io/ point: after_write, segment_roll, "
                 "retention_delete or index_rebuild")
      ->check(CLI::IsMember({"after_write", "segment_roll", "retention_delete", "index_rebuild"}));
  app.add_flag("--keep", o.keep, "Keep the temporary data directory after a clean run");
  app.add_flag("--json", o.json, "Print the summary as one JSON object on stdout");
  app.add_flag("--progress", o.progress, "Progress lines on stderr even with --json");
  try {
    app.parse(argc, argv);
  } catch (const cli_error& e) {
    std::fprintf(stderr, "lanes-stress: error: %s\n", e.what());
    return e.exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "lanes-stress: error: %s\nRun with --help for more information.\n",
                 e.what());
    return exit_usage;
  }
  try {
    return run(o);
  } catch (const cli_error& e) {
    std::fprintf(stderr, "lanes-stress: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lanes-stress: error: %s\n", e.what());
    return exit_failed;
  }
}
