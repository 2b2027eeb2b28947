// tools/stress_verify.cpp: what `lanes-stress` checks after each kill (stress.cpp, step 4):
// the bus reopens (its time is the recovery time), and the log, the group's committed
// offsets and (--queue) the queue topic are held against the ledger.
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli_common.hpp"
#include "stress_internal.hpp"

namespace lanes_stress {
namespace {
using lanes_tools::describe;
using lanes_tools::steady_ns;

// Offsets [from, to) of a partition were not read.
struct gap {
  std::uint32_t partition;
  std::uint64_t from, to;
};

// What the log holds after recovery: each (producer, seq) where it was found, and the gaps.
struct log_contents {
  std::unordered_map<std::uint64_t, ack> seen;
  std::vector<gap> gaps;
  std::uint64_t records = 0;
};

// What one read of a read-back loop did: its status and how many items it handed on.
struct read_outcome {
  lanes::errc status;
  std::size_t items;
};

// The read-back loop of the log and of the queue: calls read() (one poll or receive of at most
// 50 ms, which handles what it got) until done(). A failed read is a violation of kind
// `failed_kind` ("`op`: <error>"); 10 s without an item, one of kind `stalled_kind` whose text
// stalled_text() says. Either ends the loop.
template <class Done, class Read, class StalledText>
void read_back(stats& s, Done done, Read read, const char* failed_kind, const char* op,
               const char* stalled_kind, StalledText stalled_text) {
  constexpr std::int64_t stall_ns = 10'000'000'000;
  std::int64_t idle_since = steady_ns();
  while (!done()) {
    const read_outcome r = read();
    if (r.status != lanes::errc::ok) {
      violation(s, failed_kind, std::string(op) + ": " + describe(r.status));
      return;
    }
    if (r.items == 0) {
      if (steady_ns() - idle_since > stall_ns) {
        violation(s, stalled_kind, stalled_text());
        return;
      }
      continue;
    }
    idle_since = steady_ns();
  }
}

// One record read back: its size, checksum, and that it was not seen before.
void check_record(const options& o, const lanes::partition_stats& ps, const lanes::record_view& rec,
                  log_contents& log, stats& s) {
  if (rec.value.size() != o.message_size) {
    violation(s, "corrupt",
              "partition " + std::to_string(ps.partition) + " offset " +
                  std::to_string(rec.offset) + ": value of " + std::to_string(rec.value.size()) +
                  " bytes");
    return;
  }
  std::uint64_t producer, seq, sum;
  std::memcpy(&producer, rec.value.data(), 8);
  std::memcpy(&seq, rec.value.data() + 8, 8);
  std::memcpy(&sum, rec.value.data() + 16, 8);
  if (fnv1a(rec.value.substr(stamp_bytes)) != sum) {
    violation(s, "corrupt",
              "partition " + std::to_string(ps.partition) + " offset " +
                  std::to_string(rec.offset) + ": checksum mismatch");
    return;
  }
  if (!log.seen.emplace(key_of(producer, seq), ack{ps.partition, rec.offset}).second) {
    violation(s, "duplicate",
              "producer " + std::to_string(producer) + " seq " + std::to_string(seq) +
                  " again at partition " + std::to_string(ps.partition) + " offset " +
                  std::to_string(rec.offset));
  }
}

// Reads one partition from its log start to its end; false when it cannot be read at all.
bool read_partition(const options& o, lanes::bus& bus, const lanes::partition_stats& ps,
                    log_contents& log, stats& s) {
  lanes::consumer_config cc;
  cc.auto_commit = false;
  cc.reset = lanes::offset_reset::earliest;
  cc.max_poll_records = 4096;
  lanes::consumer c = bus.make_consumer(cc);
  const lanes::topic_partition tp{topic_name, ps.partition};
  if (c.assign({&tp, 1}) != lanes::errc::ok || c.seek_to_beginning(tp) != lanes::errc::ok) {
    violation(s, "read_failed", "cannot read partition " + std::to_string(ps.partition));
    return false;
  }
  std::uint64_t expect = ps.log_start_offset;
  read_back(
      s, [&] { return expect >= ps.end_offset; },
      [&] {
        const lanes::poll_result r = c.poll(std::chrono::milliseconds(50));
        if (r.status != lanes::errc::ok) return read_outcome{r.status, 0};
        for (const lanes::record_view& rec : r.records) {
          ++log.records;
          if (rec.offset != expect) {
            // Judged after the read: retention (which this bus applies when it opens) may
            // have moved the log start past this reader meanwhile.
            log.gaps.push_back({ps.partition, expect, rec.offset});
          }
          expect = rec.offset + 1;
          check_record(o, ps, rec, log, s);
        }
        return read_outcome{r.status, r.records.size()};
      },
      "read_failed", "poll", "read_failed",
      [&] {
        return "partition " + std::to_string(ps.partition) + " stalled at offset " +
               std::to_string(expect) + " of " + std::to_string(ps.end_offset);
      });
  return true;
}

// Committed offsets: not behind the ledger, not past the log.
void check_committed(const lanes::partition_stats& ps, const std::vector<std::uint64_t>& committed,
                     stats& s) {
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

// Gaps below the log start were retired by retention; others are violations. Every
// acknowledged message is where it was acknowledged, or below the log start (retired).
void check_against_ledger(const options& o, const std::unordered_map<std::uint64_t, ack>& acks,
                          const std::vector<std::uint64_t>& log_start, const log_contents& log,
                          stats& s) {
  for (const gap& g : log.gaps) {
    if (g.partition < o.partitions && g.to <= log_start[g.partition]) continue;  // retired
    violation(s, "offset_gap",
              "partition " + std::to_string(g.partition) + ": offset " + std::to_string(g.to) +
                  " after " + std::to_string(g.from - 1));
  }
  for (const auto& [k, a] : acks) {
    auto it = log.seen.find(k);
    if (it == log.seen.end() && a.offset < log_start[a.partition]) {
      ++s.retired;  // deleted by retention, as configured
      continue;
    }
    if (it == log.seen.end()) {
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
}

// One queue message delivered after recovery: intact, once, and not acked on disk before.
void check_queue_message(const options& o, const queue_ledger& ql, const lanes::queue_message& m,
                         std::unordered_map<std::uint64_t, char>& delivered, stats& s) {
  const lanes::record_view& rec = m.record;
  const std::string where =
      "queue partition " + std::to_string(rec.partition) + " offset " + std::to_string(rec.offset);
  std::uint64_t producer = 0, seq = 0, sum = 0;
  if (rec.value.size() != o.message_size) {
    violation(s, "queue_corrupt",
              where + ": value of " + std::to_string(rec.value.size()) + " bytes");
    return;
  }
  std::memcpy(&producer, rec.value.data(), 8);
  std::memcpy(&seq, rec.value.data() + 8, 8);
  std::memcpy(&sum, rec.value.data() + 16, 8);
  if (fnv1a(rec.value.substr(stamp_bytes)) != sum) {
    violation(s, "queue_corrupt", where + ": checksum mismatch");
    return;
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
  read_back(
      s, [&] { return delivered.size() >= unacked; },
      [&] {
        const lanes::receive_result rr = q.receive(256, std::chrono::milliseconds(50));
        if (rr.status != lanes::errc::ok) return read_outcome{rr.status, 0};
        for (const lanes::queue_message& m : rr.messages) {
          check_queue_message(o, ql, m, delivered, s);
        }
        return read_outcome{rr.status, rr.messages.size()};
      },
      "queue_read_failed", "receive", "queue_stalled",
      [&] {
        return std::to_string(delivered.size()) + " of " + std::to_string(unacked) +
               " unacked messages delivered after recovery";
      });
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

}  // namespace

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
  log_contents log;
  log.seen.reserve(acks.size() * 2);
  for (const lanes::partition_stats& ps : info->partitions) {
    if (read_partition(o, *bus, ps, log, s)) check_committed(ps, committed, s);
  }
  // The log start now: retention may have moved it while the partitions were read.
  std::vector<std::uint64_t> log_start(o.partitions, 0);
  const auto after = bus->describe_topic(topic_name);
  for (const lanes::partition_stats& ps : (after ? after->partitions : info->partitions)) {
    if (ps.partition < o.partitions) log_start[ps.partition] = ps.log_start_offset;
  }
  check_against_ledger(o, acks, log_start, log, s);
  s.verified = log.records;
  if (o.queue) verify_queue(o, *bus, ql, s);
}

}  // namespace lanes_stress
