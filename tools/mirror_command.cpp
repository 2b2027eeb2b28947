// tools/mirror_command.cpp: `lanes mirror -d DIR --to-kafka BOOTSTRAP --topic T` and
// `lanes mirror -d DIR --from-kafka BOOTSTRAP --kafka-topic K --topic T`: runs one
// lanes::kafka::kafka_bridge on the data directory until SIGINT/SIGTERM (or, with
// --exit, until nothing is left to mirror), with a progress line every --progress
// seconds (stderr; with --json, one JSON object per line on stdout instead).
// Exactly once per source offset across stops and kill -9: see lanes/kafka_bridge.hpp.
#include "mirror_command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli_common.hpp"
#include "metrics_flag.hpp"
#include <lanes/kafka_bridge.hpp>

namespace lanes_tools {
namespace {

using lanes::kafka::bridge_stats;
using lanes::kafka::direction;

lanes::kafka::bridge_config bridge_config_of(const mirror_options& o) {
  lanes::kafka::bridge_config c;
  c.dir = o.to_kafka.empty() ? direction::from_kafka : direction::to_kafka;
  c.bootstrap = c.dir == direction::to_kafka ? o.to_kafka : o.from_kafka;
  c.lanes_topic = o.topic;
  c.kafka_topic = o.kafka_topic.empty() ? o.topic : o.kafka_topic;
  c.group = o.group;
  c.connect_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
  c.create_durability = o.durability;
  c.max_records_per_second = o.max_rate;
  for (const std::string& p : o.properties) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      usage_error("-X: expected name=value (a librdkafka property), got '" + p + "'");
    c.kafka_properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return c;
}

class progress {
 public:
  progress(const mirror_options& o, const lanes::kafka::bridge_config& c) : o_(o), c_(c) {}

  void print(const bridge_stats& s, const char* state) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    const double rate = dt > 0 ? static_cast<double>(s.records - last_records_) / dt : 0;
    last_ = now;
    last_records_ = s.records;
    const bool to = c_.dir == direction::to_kafka;
    if (o_.json) {
      const nlohmann::json j = {{"direction", to ? "to_kafka" : "from_kafka"},
                                {"topic", c_.lanes_topic},
                                {"kafka_topic", c_.kafka_topic},
                                {"state", state},
                                {"records", s.records},
                                {"records_per_s", rate},
                                {"bytes", s.bytes},
                                {"skipped", s.skipped},
                                {"lag", s.lag},
                                {"in_flight", s.in_flight},
                                {"caught_up", s.caught_up},
                                {"sessions", s.sessions},
                                {"errors", s.errors},
                                {"last_error", s.last_error}};
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      std::fflush(stdout);
      return;
    }
    std::string line = "lanes mirror: " +
                       (to ? "lanes '" + c_.lanes_topic + "' -> Kafka '" + c_.kafka_topic + "'"
                           : "Kafka '" + c_.kafka_topic + "' -> lanes '" + c_.lanes_topic + "'") +
                       ": " + state + ", " + std::to_string(s.records) + " records (" +
                       std::to_string(static_cast<std::uint64_t>(rate)) + "/s), lag " +
                       (s.lag < 0 ? std::string("?") : std::to_string(s.lag)) + ", in flight " +
                       std::to_string(s.in_flight);
    if (s.errors > 0) line += ", " + std::to_string(s.errors) + " restarts";
    if (!s.last_error.empty()) line += ", last error: " + s.last_error;
    std::fprintf(stderr, "%s\n", line.c_str());
  }

 private:
  const mirror_options& o_;
  const lanes::kafka::bridge_config& c_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::uint64_t last_records_ = 0;
};

}  // namespace

CLI::App* add_mirror_command(CLI::App& app, mirror_options& o) {
  CLI::App* cmd = app.add_subcommand(
      "mirror",
      "Mirror a lanes topic to Apache Kafka (--to-kafka) or a Kafka topic into lanes "
      "(--from-kafka), exactly once per offset across restarts: each side's position travels "
      "as record headers (lanes.partition/lanes.offset, kafka.topic/kafka.partition/"
      "kafka.offset) and a restart resumes from the last record written");
  cmd->add_option("-d,--data-dir", o.data_dir, "Data directory of the bus")->required();
  auto* to = cmd->add_option("--to-kafka", o.to_kafka,
                             "Kafka bootstrap servers: follow the lanes topic into Kafka");
  auto* from = cmd->add_option("--from-kafka", o.from_kafka,
                               "Kafka bootstrap servers: consume the Kafka topic into lanes");
  to->excludes(from);
  cmd->add_option("-t,--topic", o.topic, "The lanes topic")->required();
  cmd->add_option("--kafka-topic", o.kafka_topic,
                  "The Kafka topic (must exist; --to-kafka: defaults to --topic)");
  cmd->add_option("-g,--group", o.group,
                  "Group name for monitoring offsets (lanes group --to-kafka, Kafka group.id "
                  "--from-kafka; default lanes-mirror); never used to resume");
  cmd->add_option("-X", o.properties, "librdkafka property name=value (repeatable)");
  add_real_option(cmd, "--progress", o.progress_s, "seconds", 0, bound::inclusive, 86400,
                  "Seconds between progress lines (0: none)");
  add_real_option(cmd, "--timeout", o.timeout_s, "seconds", 0, bound::exclusive, 3600,
                  "Longest wait for Kafka at start (unreachable bootstrap)");
  add_count_option(cmd, "--max-rate", o.max_rate, 0, UINT64_MAX,
                   "At most this many records per second (0: no limit)");
  add_durability_option(cmd, "--durability", o.durability,
                        "--from-kafka: durability of the lanes topic when it is created");
  cmd->add_flag("--json", o.json, "Progress and the final status as JSON lines on stdout");
  cmd->add_flag("-e,--exit", o.exit_at_end,
                "Exit once nothing is left to mirror and nothing is in flight");
  add_metrics_flag(*cmd, o.metrics_listen);
  return cmd;
}

int run_mirror(const mirror_options& o) {
  if (o.to_kafka.empty() == o.from_kafka.empty())
    usage_error("give exactly one of --to-kafka BOOTSTRAP and --from-kafka BOOTSTRAP");
  if (!o.from_kafka.empty() && o.kafka_topic.empty())
    usage_error("--from-kafka needs --kafka-topic (the Kafka topic to consume)");
  if (!lanes::bus::valid_topic_name(o.topic))
    usage_error("--topic: '" + o.topic + "' is not a valid topic name");
  const lanes::kafka::bridge_config c = bridge_config_of(o);
  install_stop_signals();
  const auto bus =
      open_bus(o.data_dir, o.to_kafka.empty() ? dir_use::may_create : dir_use::existing);
  if (c.dir == direction::to_kafka) (void)require_topic(*bus, o.data_dir, o.topic);

  lanes::kafka::kafka_bridge bridge(*bus, c);
  const std::string way = c.dir == direction::to_kafka ? "to_kafka" : "from_kafka";
  const auto metrics = serve_metrics(*bus, o.metrics_listen, [&bridge, way] {
    const bridge_stats s = bridge.stats();
    const std::vector<std::pair<std::string, std::string>> l{{"direction", way}};
    return std::vector<tool_metric>{
        {"lanes_kafka_mirrored_records_total", "Records the other side acknowledged.", true,
         static_cast<double>(s.records), l},
        {"lanes_kafka_mirrored_bytes_total", "Key and value bytes of those records.", true,
         static_cast<double>(s.bytes), l},
        {"lanes_kafka_lag_records", "Source records not yet read (-1: not known yet).", false,
         static_cast<double>(s.lag), l},
        {"lanes_kafka_errors_total", "Transient failures (each restarted the session).", true,
         static_cast<double>(s.errors), l}};
  });
  try {
    bridge.start();
  } catch (const lanes::kafka::bridge_error& e) {
    runtime_error(e.what());
  }
  progress out(o, c);
  const auto interval = std::chrono::milliseconds(static_cast<std::int64_t>(o.progress_s * 1000));
  auto next = std::chrono::steady_clock::now() + interval;
  while (!stop_requested.load() && !bridge.failed()) {
    if (o.exit_at_end && bridge.stats().caught_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (interval.count() > 0 && std::chrono::steady_clock::now() >= next) {
      out.print(bridge.stats(), "running");
      next += interval;
    }
  }
  bridge.stop();
  const bridge_stats s = bridge.stats();
  if (bridge.failed()) {
    if (o.json) out.print(s, "failed");
    runtime_error(s.last_error);
  }
  if (o.json || interval.count() > 0) out.print(s, "stopped");
  return exit_ok;
}

}  // namespace lanes_tools
