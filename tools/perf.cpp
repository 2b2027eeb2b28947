// tools/perf.cpp: `lanes perf` (see perf.hpp): its command line. The run itself is
// perf_run.cpp (phases), perf_threads.cpp (producer and consumer threads), perf_plan.cpp
// (checks, CPUs, clients), perf_outcome.cpp (what it measured) and perf_report.cpp (how that
// is printed).
#include "perf.hpp"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.hpp"
#include "metrics_flag.hpp"

namespace lanes_tools {
namespace {

// An option taking one of a few names (any case), stored as the matching value; the first
// name is the default.
template <class E>
void add_choice(CLI::App* cmd, const std::string& name, E& target,
                std::vector<std::pair<std::string, E>> choices, const std::string& help) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(c.first);
  cmd->add_option_function<std::string>(
         name,
         [&target, choices](const std::string& v) {
           for (const auto& [n, e] : choices) {
             if (n == v) target = e;
           }
         },
         help)
      ->check(CLI::IsMember(names, CLI::ignore_case))
      ->default_str(names.front());
}

}  // namespace

CLI::App* add_perf_command(CLI::App& app, perf_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "perf",
      "Throughput and end-to-end latency of an in-memory bus in one process: producer threads "
      "publish, consumer groups read (as Kafka's producer/consumer perf tests)");
  cmd->add_option("--topic", o.topic, "Topic to create and use")->capture_default_str();
  add_choice(cmd, "--mode", o.mode,
             {{"log", lanes::topic_mode::log}, {"queue", lanes::topic_mode::queue}},
             "log: groups poll the topic; queue: competing consumers receive and ack");
  add_partitions_option(cmd, o.partitions, "Partitions of the topic");
  add_count_option(cmd, "--producers", o.producers, 1, 1024,
                   "Producer threads (each publishes its share)");
  add_count_option(cmd, "--consumers", o.consumers, 1, 1024, "Consumer threads per group");
  add_count_option(cmd, "--groups", o.groups, 0, 4095,
                   "Consumer groups perf-g0, perf-g1, ...; each reads every message (0: "
                   "producers only)");
  add_count_option(
      cmd, "--message-size", o.message_size, 1, std::uint64_t{1} << 31,
      "Value bytes per message (the first 32 carry due and send times, producer, sequence)");
  CLI::Option* count =
      add_count_option(cmd, "--count", o.count, 1, UINT64_MAX / 2,
                       "Messages in total over all producers (not with --duration)");
  CLI::Option* duration =
      add_real_option(cmd, "--duration", o.duration_s, "seconds", 0, bound::exclusive, 1e6,
                      "Publish for this many seconds instead of --count");
  count->excludes(duration);
  duration->excludes(count);
  add_choice(
      cmd, "--keys", o.keys,
      {{"none", key_mode::none}, {"uniform", key_mode::uniform}, {"skewed", key_mode::skewed}},
      "none: round-robin without keys; uniform: random key \"key-N\" out of "
      "--key-space; skewed: 80% of messages on 20% of the keys");
  add_count_option(cmd, "--key-space", o.key_space, 1, 100'000'000,
                   "Distinct keys for --keys uniform|skewed");
  add_real_option(cmd, "--rate", o.rate, "messages/s", 0, bound::inclusive, 1e9,
                  "Target messages/s over all producers (0: as fast as possible); latency then "
                  "counts from each message's due time");
  add_size_option(cmd, "--ring-capacity", o.ring_capacity, 1, std::uint64_t{1} << 40,
                  "Ring bytes per partition, a power of two (e.g. 8MiB, 65536)")
      ->default_str("8MiB");
  add_choice(cmd, "--policy", o.policy,
             {{"block", lanes::backpressure::block}, {"overwrite", lanes::backpressure::overwrite}},
             "Full ring: block the producer, or overwrite the oldest messages");
  add_choice(cmd, "--wait", o.wait, {{"park", wait_mode::park}, {"spin", wait_mode::spin}},
             "How consumers wait in poll: park (spin briefly, then sleep; for threads > cores) "
             "or spin (busy-spin: lowest latency, burns a core each)");
  cmd->add_flag("--zero-copy", o.zero_copy,
                "Publish with try_claim/commit (write the value in the ring) instead of publish");
  add_count_option(cmd, "--max-poll-records", o.max_poll_records, 1, std::uint64_t{1} << 20,
                   "Records per poll at most");
  add_count_option(cmd, "--warmup", o.warmup, 0, UINT64_MAX / 2,
                   "Messages published and consumed first, not measured");
  add_real_option(cmd, "--timeout", o.timeout_s, "seconds", 0, bound::exclusive, 1e6,
                  "Fail when the run makes no progress for this many seconds");
  add_real_option(cmd, "--report-interval", o.report_interval_s, "seconds", 0, bound::inclusive,
                  1e6, "Seconds between progress lines on stderr (0: none)");
  cmd->add_flag("--pin,!--no-pin", o.pin,
                "Pin threads to CPUs round-robin when threads <= CPUs (default), or not");
  cmd->add_flag("--json", o.json,
                "Print one JSON object on stdout (the human summary goes to stderr)");
  cmd->add_option("--out", o.out, "Also write the JSON result to this file");
  add_metrics_flag(*cmd, o.metrics_listen);
  cmd->add_option("--data-dir", o.data_dir,
                  "Open the bus on this data directory (the topic must not exist there; it is "
                  "deleted after the run unless --keep-topic)");
  add_durability_option(cmd, "--durability", o.durability,
                        "none: memory only; async: group commit; sync: every publish waits for "
                        "the disk. Durable runs need --data-dir; consumers then read durable "
                        "records only, so latency includes the disk");
  cmd->add_flag("--keep-topic", o.keep_topic, "Keep the topic and its files after the run");
  cmd->add_flag("--progress", o.progress,
                "A live progress line on stderr even when it is not a terminal");
  return cmd;
}

}  // namespace lanes_tools
