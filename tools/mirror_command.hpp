// tools/mirror_command.hpp: `lanes mirror`, a lanes topic to or from an Apache Kafka topic
// through lanes::kafka (connect/kafka). Built only when lanes::kafka is (librdkafka found).
// Main thread; cold paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lanes/bus.hpp"

namespace CLI {
class App;
}

namespace lanes_tools {

struct mirror_options {
  std::string metrics_listen;  // --metrics-listen
  std::string data_dir;
  std::string to_kafka;    // bootstrap servers: lanes -> Kafka
  std::string from_kafka;  // bootstrap servers: Kafka -> lanes
  std::string topic;
  std::string kafka_topic;  // default: --topic (to Kafka)
  std::string group;
  std::vector<std::string> properties;  // -X name=value (librdkafka)
  double progress_s = 5;
  double timeout_s = 10;
  std::uint64_t max_rate = 0;
  lanes::durability durability = lanes::durability::async;
  bool json = false;
  bool exit_at_end = false;
};
CLI::App* add_mirror_command(CLI::App& app, mirror_options& o);
int run_mirror(const mirror_options& o);

}  // namespace lanes_tools
