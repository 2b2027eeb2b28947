// tools/stress_internal.hpp: what the files of `lanes-stress` share (stress.cpp describes the
// tool): its options, the stamped values, the ledger the child writes and the parent reads,
// what the parent counts, and the steps of a run. Not a public header.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "fnv1a.hpp"
#include "lanes/lanes.hpp"
#include "splitmix64.hpp"

namespace lanes_stress {

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

// splitmix64 with the draws lanes-stress makes (a seed replays them).
struct rng : lanes_tools::splitmix64 {
  double unit() noexcept { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
};

using lanes_tools::fnv1a;  // the checksum of a value's payload (after the stamp)

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

// ---- the parent's records ----

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

inline void violation(stats& s, const std::string& kind, const std::string& what) {
  ++s.violations[kind];
  if (s.first_violations.size() < 20) s.first_violations.push_back(kind + ": " + what);
}

inline std::uint64_t key_of(std::uint64_t producer, std::uint64_t seq) {
  return producer << 40 | seq;
}

// ---- the steps of a run ----

// stress_child.cpp: the child process, producing and consuming until it is killed. Writes
// the ledger to ledger_fd; crashes at the crash_after-th hit of --fault-point.
[[noreturn]] void child_main(const options& o, unsigned cycle, int ledger_fd,
                             std::uint64_t crash_after);

// stress_damage.cpp: damages one partition's last segment after its durable point; returns
// what it did.
std::string corrupt_tail(const options& o, rng& r,
                         const std::vector<std::uint64_t>& acked_end,  // per partition
                         const std::vector<std::uint64_t>& committed, stats& s);
// index_rebuild: removes the .index of one sealed segment, so that the next open rebuilds
// it (and the child's crash point fires inside that rebuild).
void drop_an_index(const options& o, rng& r);

// stress_verify.cpp: reopens the bus and checks everything against the ledger.
void verify(const options& o, const std::unordered_map<std::uint64_t, ack>& acks,
            const std::vector<std::uint64_t>& committed, const queue_ledger& ql, stats& s);

// stress_report.cpp: the summary at the end (JSON or for a person).
struct run_summary {
  double elapsed_s = 0;
  std::uint64_t violations = 0;
  std::vector<std::string> events;  // --corrupt: what each cycle damaged
};
void print_summary(const options& o, const stats& s, const run_summary& r);

// stress_run.cpp: the cycles; the exit code.
int run(const options& o_in);

}  // namespace lanes_stress
