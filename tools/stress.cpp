// tools/stress.cpp: `lanes-stress`, the persistence stress tool: what it does, and its command
// line. The parts: stress_run.cpp (the cycles), stress_child.cpp (the child), stress_damage.cpp
// (the damage between cycles), stress_verify.cpp (the checks), stress_report.cpp (the summary).
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
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli_common.hpp"
#include "metrics_flag.hpp"
#include "stress_internal.hpp"

using namespace lanes_tools;
using lanes_stress::options;
using lanes_stress::run;

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
  return parse_and_run(app, argc, argv, "lanes-stress", [&o] { return run(o); });
}
